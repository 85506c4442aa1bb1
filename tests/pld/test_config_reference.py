"""docs/configuration.md is the settings classes, rendered: a setting cannot change without its page."""

import pytest

from pld import config_reference
from stream.settings import WorkerSettings


def test_the_configuration_page_is_the_settings_classes_rendered() -> None:
    """Regenerate with `python -m pld.config_reference > docs/configuration.md` when this fails."""
    assert config_reference.PAGE.read_text() == config_reference.render()


def test_every_setting_is_on_the_page_with_its_default() -> None:
    """Each worker field is a row `PLD_<NAME>`, with the default the code has."""
    page = config_reference.PAGE.read_text()
    for name in WorkerSettings.model_fields:
        assert f"| `PLD_{name.upper()}` |" in page
    assert "| `PLD_TOPIC_PARTITIONS` | int | `4` |" in page
    assert "| `PLD_MAX_BATCH` | int | `16` |" in page


def test_a_setting_without_a_docstring_cannot_be_rendered(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new field must say what it means where it is declared."""
    field = WorkerSettings.model_fields["max_batch"]
    monkeypatch.setattr(field, "description", None)
    with pytest.raises(ValueError, match="max_batch has no docstring"):
        config_reference.render()
