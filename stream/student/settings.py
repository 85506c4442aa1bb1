"""`StudentSettings`: how every process that runs the student builds it, read from `PLD_*` variables.

The worker's settings extend these, and `pld eval`, `pld bench` and the distiller read the same
ones, so an evaluation runs the student exactly as a worker serves it.
"""

import os
from pathlib import Path

from platformdirs import user_cache_dir
from pydantic import Field, PositiveInt
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas import ScoringMode
from stream.student.protocol import DecodeStrategy

SECRETS_DIR_ENV = "PLD_SECRETS_DIR"
# The smallest catalogue student that moderates, chosen from measurements (README, "Students"): the
# embedded Gemma 3 270M has no usable signal on held-out harm (its AUC touches 0.5), Qwen 0.5B misses
# spam and half the benign demo messages; Qwen2.5-Coder-1.5B-Instruct holds every abusive and spam
# demo message and allows every benign one. `--student gemma-270m` (or PLD_STUDENT) runs the others.
DEFAULT_STUDENT = "qwen-1.5b"
ENV_PREFIX = "PLD_"
APP_NAME = "pld-moderation"
PREFIX_CACHE_DIR = "prefix-cache"


CACHE_DIR_ENV = "PLD_CACHE_DIR"


def default_cache_dir() -> Path:
    """`$PLD_CACHE_DIR`, else the platform's user cache dir for pld-moderation: the one rule every process uses
    (`ops/paths.py` repeats it, as `ops` imports nothing of the product)."""
    return Path(os.environ.get(CACHE_DIR_ENV) or user_cache_dir(APP_NAME))


def _default_threads() -> int:
    return os.cpu_count() or 1


class StudentSettings(BaseSettings):
    """The student's model, context and scoring; each field is also the env var `PLD_<NAME>`."""

    # Secrets may also come from files named like the variables (`pld_redis_password`) in PLD_SECRETS_DIR
    # (Docker secrets: /run/secrets), so no password is ever on a command line or in an environment dump.
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        frozen=True,
        extra="ignore",
        secrets_dir=os.environ.get(SECRETS_DIR_ENV) or None,
        use_attribute_docstrings=True,  # each field's docstring is its description (docs/configuration.md)
    )

    cache_dir: Path = Field(default_factory=default_cache_dir)
    """Where models, datasets, prefix states, keys and health files are kept (default: the user cache dir)."""
    student: str = DEFAULT_STUDENT
    """A catalogue name (stream/student/catalogue.py) or a GGUF path."""
    model_path: Path | None = None
    """A GGUF path; wins over `student` when set."""
    model_sha256: str | None = None
    """The expected sha256 of the GGUF file; a different file is refused."""
    n_ctx: PositiveInt = 8192
    """The student's context window in tokens (prompt prefix plus the batch's messages)."""
    n_threads: PositiveInt = Field(default_factory=_default_threads)
    """CPU threads per decode (default: every core; 1 per process when several workers share a machine)."""
    scoring_mode: ScoringMode = ScoringMode.SINGLE_PASS
    """`single_pass` (label tokens after the message) or `rule_check` (a yes/no question per rule)."""
    decode: DecodeStrategy = DecodeStrategy.ISOLATED
    """`isolated` (decisions never depend on batch neighbours) or `joint` (faster; neighbours move them)."""
    max_message_tokens: PositiveInt = 512
    """Tokens of a message read at once; a longer one is read in windows, the most severe deciding."""
    repack_weights: bool = True
    """llama.cpp's CPU weight repacking: faster matmuls; off also avoids the AMX crash of native builds (#20824)."""
    prefix_cache_dir: Path | None = None
    """Where prefix KV states are kept (default: `<cache_dir>/prefix-cache`)."""
    cascade_fast_student: str | None = None
    """A faster catalogue student or GGUF path that decides alone where it is confident; the strong student decides
    the rest. Needs a threshold fitted by `pld eval --cascade-fast` in the version; without one the strong student
    decides everything."""

    @property
    def resolved_prefix_cache_dir(self) -> Path:
        """Where prefix KV states are kept."""
        return self.prefix_cache_dir or self.cache_dir / PREFIX_CACHE_DIR
