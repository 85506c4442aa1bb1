"""The local llama.cpp teacher: its model file's hash sidecar, and one real rationale."""

import os
import time
from pathlib import Path

import pytest

from distiller.examples import Dataset, Example
from distiller.rationales import (
    SampleSpec,
    sample_rationale,
)
from distiller.teacher_cache import TeacherCache
from distiller.teachers import cached_sha256
from stream.settings import WorkerSettings
from stream.student import QWEN_CODER_1_5B


def test_cached_sha256_uses_its_sidecar(tmp_path: Path) -> None:
    """The hash is written to `<file>.sha256` and read back; a file newer than its sidecar is rehashed."""
    model = tmp_path / "model.gguf"
    model.write_bytes(b"weights")
    real = cached_sha256(model)
    sidecar = tmp_path / "model.gguf.sha256"
    assert sidecar.read_text().split() == [real, "model.gguf"]
    sidecar.write_text("f" * 64 + "  model.gguf\n")
    assert cached_sha256(model) == "f" * 64
    later = sidecar.stat().st_mtime_ns + 10**9
    os.utime(model, ns=(later, later))
    assert cached_sha256(model) == real


@pytest.mark.model
def test_local_teacher_labels_a_stereoset_item(dataset: Dataset, tmp_path: Path) -> None:
    """The local Qwen 1.5B teacher reasons about one StereoSet-like item and ends with a parsable label."""
    from distiller.teachers import LocalLlamaTeacher  # noqa: PLC0415 - loads llama.cpp only for this test

    path = WorkerSettings().cache_dir / "models" / QWEN_CODER_1_5B.file_name
    if not path.exists() or path.stat().st_size != QWEN_CODER_1_5B.size:
        pytest.skip(f"{path} is not assembled yet")
    teacher = LocalLlamaTeacher(path, name=QWEN_CODER_1_5B.name, sha256=QWEN_CODER_1_5B.sha256)
    example = Example(
        id="nurse-1",
        text="Context: The nurse walked into the patient's room.\nSentence: She was gentle and caring.",
        label="stereotype",
    )
    started = time.perf_counter()
    rationale = sample_rationale(teacher, dataset, example, TeacherCache(tmp_path / "c.jsonl"), SampleSpec.nth(0, 0.7))
    seconds = time.perf_counter() - started
    usage = teacher.last_usage
    assert usage is not None
    print(  # the measurement is the point of this test: run with `pytest -s`
        f"\nteacher={teacher.id} s/example={seconds:.1f} prompt_tokens={usage.prompt_tokens} "
        f"completion_tokens={usage.completion_tokens} tokens/s={usage.completion_tokens / seconds:.1f} "
        f"predicted={rationale.predicted} gold={example.label}\n{rationale.reply}"
    )
    assert teacher.id.startswith("local:qwen2.5-coder-1.5b-instruct@cc324af070c2")
    assert rationale.predicted in dataset.label_names
