"""The committed JSON Schema files match the pydantic models."""

import pytest

from schemas.export import EXPORTED, render, schema_path


@pytest.mark.parametrize("name", sorted(EXPORTED))
def test_committed_schema_matches_model(name: str) -> None:
    """Regenerate with `python -m schemas.export` when this fails."""
    assert schema_path(name).read_text() == render(EXPORTED[name])
