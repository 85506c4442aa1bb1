"""Shared fixtures: real services (tests.fixtures_services) and the real student model, loaded once."""

from pathlib import Path

import pytest

from stream.settings import WorkerSettings
from stream.student import ModelFile, default_model_file

pytest_plugins = ["tests.fixtures_services"]


@pytest.fixture(scope="session")
def model_file() -> ModelFile:
    """The embedded default student model, assembled into the user's cache dir."""
    return default_model_file(WorkerSettings().cache_dir)


@pytest.fixture
def tmp_cache(tmp_path: Path) -> Path:
    """A private cache dir for one test."""
    return tmp_path / "cache"
