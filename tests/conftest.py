"""Shared fixtures: real services (tests.fixtures_services) and the real student model, loaded once."""

import os
from pathlib import Path
from typing import Any, Protocol

import pytest

# The engine, stream and distiller tests run on the embedded Gemma 3 270M: it installs with the package
# and decodes ~5x faster on 2 cores. The default student (qwen-1.5b) has its own test
# (tests/pld/test_default_student.py), and worker subprocesses inherit this choice.
os.environ.setdefault("PLD_STUDENT", "gemma-270m")

from stream.settings import WorkerSettings
from stream.student import ModelFile, StudentSettings, default_model_file

pytest_plugins = ["tests.fixtures_services"]


@pytest.fixture(scope="session")
def model_file() -> ModelFile:
    """The embedded default student model, assembled into the user's cache dir."""
    return default_model_file(WorkerSettings().cache_dir)


@pytest.fixture
def tmp_cache(tmp_path: Path) -> Path:
    """A private cache dir for one test."""
    return tmp_path / "cache"


class StudentSettingsFactory(Protocol):
    """Builds `StudentSettings` as a worker reads them, with a private prefix cache and overrides."""

    def __call__(self, **overrides: Any) -> StudentSettings:
        """Settings with `overrides` applied."""
        ...


@pytest.fixture(scope="session")
def student_settings(tmp_path_factory: pytest.TempPathFactory) -> StudentSettingsFactory:
    """A factory of student settings: the user's cache dir (the model lives there), a session-private prefix cache."""
    prefix_cache = tmp_path_factory.mktemp("prefix-cache")

    def make(**overrides: Any) -> StudentSettings:
        return StudentSettings().model_copy(update={"prefix_cache_dir": prefix_cache, **overrides})

    return make
