"""`WorkerSettings`: the one frozen settings object of a worker process, read from `PLD_*` variables."""

import os
import socket
from pathlib import Path

from platformdirs import user_cache_dir
from pydantic import Field, PositiveFloat, PositiveInt
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas import ScoringMode
from stream.student.llama_student import DecodeStrategy

ENV_PREFIX = "PLD_"
APP_NAME = "pld-moderation"


def _default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _default_cache_dir() -> Path:
    return Path(os.environ.get("PLD_CACHE_DIR") or user_cache_dir(APP_NAME))


def _default_threads() -> int:
    return os.cpu_count() or 1


class WorkerSettings(BaseSettings):
    """Everything a worker needs to know; each field is also the env var `PLD_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    redis_url: str = "redis://127.0.0.1:6379/0"
    app_id: str = APP_NAME
    requests_topic: str = "moderation.requests"
    decisions_topic: str = "moderation.decisions"
    dlq_topic: str = "moderation.dlq"
    topic_partitions: PositiveInt = 1
    max_batch: PositiveInt = Field(default=16, le=64)
    batch_within_s: PositiveFloat = 0.5
    worker_id: str = Field(default_factory=_default_worker_id)
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    prompt_file: Path | None = None
    model_path: Path | None = None
    model_sha256: str | None = None
    n_ctx: PositiveInt = 8192
    n_threads: PositiveInt = Field(default_factory=_default_threads)
    scoring_mode: ScoringMode = ScoringMode.SINGLE_PASS
    decode: DecodeStrategy = DecodeStrategy.ISOLATED
    max_message_tokens: PositiveInt = 512
    max_message_bytes: PositiveInt = 64 * 1024
    log_level: str = "INFO"
