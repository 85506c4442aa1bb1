"""Prompt versions read from JSON files, including the hand-written starter shipped with the package."""

import json
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from schemas import PromptVersion
from schemas.prompts import base_version_name
from stream.errors import PromptError

MEASURED_FIELDS = ("calibrations", "evaluations", "cascades")  # fitted for one exact content: void after an edit
STARTER_FILE = "starter.json"
DEFAULT_FILE = "moderation.json"  # the distilled moderation policy, calibrated for the embedded student


def parse_prompt(text: str, source: str) -> PromptVersion:
    """Validate a prompt version's JSON text; `source` names it in errors."""
    try:
        return PromptVersion.model_validate_json(text)
    except ValidationError as exc:
        raise PromptError(f"{source} is not a valid prompt version: {exc}") from exc


def load_prompt_file(path: Path) -> PromptVersion:
    """A prompt version from a JSON file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PromptError(f"cannot read prompt file {path}: {exc}") from exc
    return parse_prompt(text, str(path))


def starter_prompt() -> PromptVersion:
    """The hand-written starter policy (allow / review / block) the demo runs with."""
    return parse_prompt(files("stream.prompts").joinpath(STARTER_FILE).read_text(encoding="utf-8"), STARTER_FILE)


def default_prompt() -> PromptVersion:
    """The policy a fresh worker is seeded with and `pld demo` runs: the distilled moderation prompt
    (`stream/prompts/moderation.json`, from `prompts/moderation-contrast-v5.json` via `pld eval`), else the starter."""
    packaged = files("stream.prompts").joinpath(DEFAULT_FILE)
    if not packaged.is_file():
        return starter_prompt()
    return parse_prompt(packaged.read_text(encoding="utf-8"), DEFAULT_FILE)


@dataclass(frozen=True)
class Sealed:
    """A hand-edited prompt file made a valid version again."""

    prompt: PromptVersion
    changed: bool  # False: the file was already a valid version; nothing was done
    dropped: dict[str, int]  # measured field -> entries removed, because they were fitted for the old content


def seal_prompt_file(path: Path, version: str | None = None) -> Sealed:
    """The version a hand-edited prompt file stands for, with its sha256 computed again.

    An edit (a category's action, a rule's wording, a taxonomy's description) changes what the student
    reads, so the calibrations, evaluations and cascade thresholds fitted for the old content are dropped:
    refit them with `pld eval`. A file that is already a valid version is left as it is (`version` too). The
    edited version is named `version`, else the file's name without its calibration digest."""
    try:
        content: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PromptError(f"cannot read prompt file {path}: {exc}") from exc
    if not isinstance(content, dict):
        raise PromptError(f"{path} is not a JSON object")
    try:
        return Sealed(PromptVersion.model_validate(content), changed=False, dropped={})
    except ValidationError:
        pass  # edited: seal it below
    dropped = {name: len(content.pop(name, None) or []) for name in MEASURED_FIELDS}
    content.pop("sha256", None)
    name = version or base_version_name(str(content.get("version", "")))
    try:
        prompt = PromptVersion.create(**{**content, "version": name})
    except (ValidationError, TypeError) as exc:
        raise PromptError(f"{path} is not a valid prompt version once sealed: {exc}") from exc
    return Sealed(prompt, changed=True, dropped={field: n for field, n in dropped.items() if n})
