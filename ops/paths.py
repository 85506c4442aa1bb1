"""Where ``ops`` keeps downloaded binaries and per-service state."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "pld-moderation"
CACHE_DIR_ENV = "PLD_CACHE_DIR"


def cache_root() -> Path:
    """Return the cache root: ``$PLD_CACHE_DIR`` or the platform's user cache dir."""
    override = os.environ.get(CACHE_DIR_ENV)
    return Path(override) if override else Path(platformdirs.user_cache_dir(APP_NAME))


def kafka_libs_dir(version: str) -> Path:
    """Return the folder holding the broker jars of one Kafka version."""
    return cache_root() / "kafka" / version / "libs"


def kafka_state_dir(port: int) -> Path:
    """Return the state folder (config, data, logs, pid) of the broker on ``port``."""
    return cache_root() / "kafka" / "state" / f"port-{port}"


def redis_state_dir(port: int) -> Path:
    """Return the state folder (dump, log, pid) of the Redis server on ``port``."""
    return cache_root() / "redis" / "state" / f"port-{port}"


def redis_password_file() -> Path:
    """Return the file holding the password of every Redis server ``ops`` starts (mode 0600)."""
    return cache_root() / "redis" / "password"
