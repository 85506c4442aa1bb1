"""`pld prompt seal`: a deployment edits its taxonomy by hand and gets a valid version back, never a stale fit."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

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


def seal(*args: str) -> subprocess.CompletedProcess[str]:
    """`pld prompt seal` as a user runs it (in its own process: the CLI configures logging for itself)."""
    command = [sys.executable, "-m", "pld.cli", "prompt", "seal", *args]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def edit(path: Path, category: str, **fields: str) -> None:
    content = json.loads(path.read_text(encoding="utf-8"))
    for entry in content["categories"]:
        if entry["name"] == category:
            entry.update(fields)
    path.write_text(json.dumps(content, indent=2), encoding="utf-8")


def test_an_edited_taxonomy_is_sealed_into_a_version_without_its_stale_calibration(tmp_path: Path) -> None:
    path = calibrated_taxonomy_file(tmp_path)
    edit(path, "spam", description="Ads, scams, phishing, prizes, follow-for-follow.")
    with pytest.raises(PromptError, match="does not match the content"):
        load_prompt_file(path)  # what `pld prompt publish` would refuse

    done = seal(str(path))

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    sealed = load_prompt_file(path)
    assert report["changed"] is True
    assert report["dropped"] == {"calibrations": 1}
    assert report["sha256"] == sealed.sha256
    assert sealed.version == "taxonomy"  # the calibration digest went with the calibration
    assert sealed.calibrations == []
    assert sealed.categories[1].description == "Ads, scams, phishing, prizes, follow-for-follow."


def test_sealing_a_valid_version_leaves_the_file_as_it_is(tmp_path: Path) -> None:
    path = calibrated_taxonomy_file(tmp_path)
    before = path.read_bytes()

    done = seal(str(path), "--version", "renamed")

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["changed"] is False
    assert path.read_bytes() == before


def test_an_edit_the_schema_rejects_is_reported_and_nothing_is_written(tmp_path: Path) -> None:
    path = calibrated_taxonomy_file(tmp_path)
    edit(path, "spam", action="delete")
    before = path.read_bytes()
    out = tmp_path / "sealed.json"

    done = seal(str(path), "--out", str(out))

    assert done.returncode == EXIT_INVALID
    assert "maps to 'delete'" in done.stderr
    assert path.read_bytes() == before
    assert not out.exists()
