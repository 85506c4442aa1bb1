"""The configuration reference (`docs/configuration.md`), generated from the settings classes.

Every `PLD_*` variable a process reads: the settings fields (name, type, default, the field's docstring)
and the few variables read directly. `python -m pld.config_reference > docs/configuration.md` rewrites
the page; `tests/pld/test_config_reference.py` fails when the page and the code disagree.
"""

import enum
import types
import typing
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

from distiller.teachers.openai_compat import OpenAITeacherSettings
from stream.settings import WorkerSettings
from stream.student import StudentSettings

PAGE = Path(__file__).parents[1] / "docs" / "configuration.md"
HEADER = """# Configuration

Every setting is an environment variable (`PLD_<NAME>`); the same names configure a worker, `pld eval`,
`pld bench`, `pld demo` and the distiller, so an evaluation runs the student exactly as a worker serves it.
Secrets (`*_PASSWORD`) may instead be files named like the variable in lower case (`pld_redis_password`)
in `PLD_SECRETS_DIR` (Docker secrets: `/run/secrets`).

This page is generated from the settings classes (`python -m pld.config_reference > docs/configuration.md`);
a test fails when it and the code disagree.
"""
SECTIONS: tuple[tuple[str, type[BaseSettings], str], ...] = (
    ("The student (every command that runs the model)", StudentSettings, "`stream/student/settings.py`"),
    ("The worker", WorkerSettings, "`stream/settings.py`"),
    ("An OpenAI-compatible teacher (`pld distill --teacher openai`)", OpenAITeacherSettings,
     "`distiller/teachers/openai_compat.py`"),
)  # fmt: skip
READ_DIRECTLY = (
    ("PLD_SECRETS_DIR", "Folder of secret files (see above); read when the settings load."),
    ("PLD_CACHE_DIR", "The cache folder, also for tools that read no settings (`ops`)."),
    ("PLD_KAFKA_PORT", "`ops` only: the loopback broker's port (default 9092)."),
    ("PLD_REDIS_PORT", "`ops` only: the loopback Redis's port (default 6379)."),
    ("PLD_LLAMA_VARIANT", "`ops/bootstrap.sh` only: which llama.cpp CPU build to compile (`ops/llama_build.py`)."),
    ("PLD_FAULT_AGENT_CRASH_KEY", "Tests only: a record with this Kafka key crashes the agent (`stream/faults.py`)."),
    ("PLD_SELF_TEST_FAULT", "Tests only: `segv` or `abort` crashes the model self-test's child."),
)


def render() -> str:
    """The whole page."""
    parts = [HEADER]
    shown: set[tuple[str, str]] = set()
    for title, settings, source in SECTIONS:
        prefix = str(settings.model_config.get("env_prefix", ""))
        rows = [(name, info) for name, info in settings.model_fields.items() if (prefix, name) not in shown]
        shown |= {(prefix, name) for name, _info in rows}
        parts.append(f"## {title}\n\nFrom {source}.\n\n| variable | type | default | meaning |\n|---|---|---|---|")
        parts.extend(_row(prefix, name, info) for name, info in rows)
        parts.append("")
    parts.append("## Read directly\n\n| variable | meaning |\n|---|---|")
    parts.extend(f"| `{name}` | {meaning} |" for name, meaning in READ_DIRECTLY)
    return "\n".join(parts) + "\n"


def _row(prefix: str, name: str, info: FieldInfo) -> str:
    if not info.description:
        raise ValueError(f"setting {name} has no docstring: describe it where it is declared")
    meaning = info.description.replace("\n", " ").replace("|", "\\|")
    return f"| `{(prefix + name).upper()}` | {_type(info.annotation)} | {_default(info)} | {meaning} |"


def _type(annotation: Any) -> str:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in {typing.Union, types.UnionType}:
        kept = [_type(arg) for arg in args if arg is not type(None)]
        return " or ".join(kept) + (" (optional)" if type(None) in args else "")
    if typing.get_origin(annotation) is typing.Annotated:
        return _type(args[0])
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return " \\| ".join(f"`{member.value}`" for member in annotation)
    name = getattr(annotation, "__name__", str(annotation))
    return {"SecretStr": "secret", "Path": "path"}.get(name, name)


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        return "computed"
    if info.default is PydanticUndefined:
        return "required"
    if info.default is None:
        return "unset"
    value = info.default.value if isinstance(info.default, enum.Enum) else info.default
    return f"`{value}`"


if __name__ == "__main__":
    print(render(), end="")
