"""Writes the JSON Schema files in `schemas/json/` from the pydantic models (`python -m schemas.export`)."""

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from schemas import DeadLetter, ModerationDecision, ModerationRequest, PromptVersion, ShadowDisagreement

JSON_DIR = Path(__file__).parent / "json"
EXPORTED: dict[str, type[BaseModel]] = {
    "moderation_request": ModerationRequest,
    "moderation_decision": ModerationDecision,
    "dead_letter": DeadLetter,
    "prompt_version": PromptVersion,
    "shadow_disagreement": ShadowDisagreement,
}


def render(model: type[BaseModel]) -> str:
    """The committed text of one model's JSON Schema."""
    return json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"


def schema_path(name: str) -> Path:
    """Where the schema named `name` is committed."""
    return JSON_DIR / f"{name}.schema.json"


def main() -> int:
    """Regenerate every schema file; print the ones that changed."""
    JSON_DIR.mkdir(exist_ok=True)
    for name, model in EXPORTED.items():
        path = schema_path(name)
        text = render(model)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
