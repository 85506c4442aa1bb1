"""`pld prompt seal`: a deployment edits its taxonomy by hand and gets a valid version back, never a stale fit."""

import json
from pathlib import Path

import pytest

from pld.cli import main
from pld.prompt_commands import EXIT_INVALID
from stream.errors import PromptError
from stream.prompts import default_prompt, load_prompt_file
from tests.schemas.helpers import taxonomy_prompt


def calibrated_taxonomy_file(tmp_path: Path) -> Path:
    """A taxonomy version carrying a calibration (borrowed from the shipped version: same three labels)."""
    prompt = taxonomy_prompt().with_calibration(default_prompt().calibrations[0])
    path = tmp_path / "policy.json"
    path.write_text(prompt.model_dump_json(indent=2), encoding="utf-8")
    return path


def edit(path: Path, category: str, **fields: str) -> None:
    content = json.loads(path.read_text(encoding="utf-8"))
    for entry in content["categories"]:
        if entry["name"] == category:
            entry.update(fields)
    path.write_text(json.dumps(content, indent=2), encoding="utf-8")


def test_an_edited_taxonomy_is_sealed_into_a_version_without_its_stale_calibration(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = calibrated_taxonomy_file(tmp_path)
    edit(path, "spam", description="Ads, scams, phishing, prizes, follow-for-follow.")
    with pytest.raises(PromptError, match="does not match the content"):
        load_prompt_file(path)  # what `pld prompt publish` would refuse

    assert main(["prompt", "seal", str(path)]) == 0

    report = json.loads(capfd.readouterr().out)
    sealed = load_prompt_file(path)
    assert report["changed"] is True
    assert report["dropped"] == {"calibrations": 1}
    assert report["sha256"] == sealed.sha256
    assert sealed.version == "taxonomy"  # the calibration digest went with the calibration
    assert sealed.calibrations == []
    assert sealed.categories[1].description == "Ads, scams, phishing, prizes, follow-for-follow."


def test_sealing_a_valid_version_leaves_the_file_as_it_is(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = calibrated_taxonomy_file(tmp_path)
    before = path.read_bytes()

    assert main(["prompt", "seal", str(path), "--version", "renamed"]) == 0

    assert json.loads(capfd.readouterr().out)["changed"] is False
    assert path.read_bytes() == before


def test_an_edit_the_schema_rejects_is_reported_and_nothing_is_written(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = calibrated_taxonomy_file(tmp_path)
    edit(path, "spam", action="delete")
    before = path.read_bytes()
    out = tmp_path / "sealed.json"

    assert main(["prompt", "seal", str(path), "--out", str(out)]) == EXIT_INVALID

    assert "maps to 'delete'" in capfd.readouterr().err
    assert path.read_bytes() == before
    assert not out.exists()
