"""Prompt versions read from JSON files, including the hand-written starter shipped with the package."""

from importlib.resources import files
from pathlib import Path

from pydantic import ValidationError

from schemas import PromptVersion
from stream.errors import PromptError

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
    (`stream/prompts/moderation.json`, from `prompts/moderation.json` via `pld eval`), else the starter."""
    packaged = files("stream.prompts").joinpath(DEFAULT_FILE)
    if not packaged.is_file():
        return starter_prompt()
    return parse_prompt(packaged.read_text(encoding="utf-8"), DEFAULT_FILE)
