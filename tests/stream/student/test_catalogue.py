"""The student catalogue: names resolve to verified model files, paths are accepted, typos are explained."""

from pathlib import Path

import pytest

from stream.errors import ModelFileError
from stream.student import sha256_of
from stream.student.catalogue import CATALOGUE, StudentName, student_model_file


def test_every_entry_pins_a_sha256_and_a_chat_family() -> None:
    """Each student knows its bytes and which chat template it speaks."""
    assert set(CATALOGUE) == set(StudentName)
    for entry in CATALOGUE.values():
        assert len(entry.sha256) == 64
        assert entry.chat_family in {"gemma", "chatml"}


def test_the_embedded_student_resolves_to_its_verified_file(tmp_path: Path) -> None:
    """`gemma-270m` is the embedded package, assembled and sha256-checked."""
    model = student_model_file("gemma-270m", tmp_path)
    assert model.sha256 == CATALOGUE[StudentName.GEMMA_270M].sha256
    assert sha256_of(model.path) == model.sha256


def test_a_gguf_path_is_a_student_too(tmp_path: Path) -> None:
    """Any GGUF path works where a catalogue name does, hashed (and checked when a sha256 is given)."""
    path = tmp_path / "mine.gguf"
    path.write_bytes(b"GGUF not really")
    assert student_model_file(str(path), tmp_path).sha256 == sha256_of(path)
    with pytest.raises(ModelFileError, match="expected"):
        student_model_file(str(path), tmp_path, expected_sha256="0" * 64)


def test_an_unknown_name_lists_the_catalogue(tmp_path: Path) -> None:
    """A typo names the entries instead of failing somewhere deep."""
    with pytest.raises(ModelFileError, match=r"gemma-270m, qwen-0\.5b, qwen-1\.5b"):
        student_model_file("gemma-27m", tmp_path)
