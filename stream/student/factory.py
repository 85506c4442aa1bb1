"""The one way to build the student: from `StudentSettings`, after the start-up self-test.

The worker, `pld eval`, `pld bench` and the distiller all build their student here, so what is
evaluated runs with the same model file, context size, sequence slots, prefix cache (and so the same
KV layout), scoring mode, decoding and calibration as what is served.
"""

from typing import TYPE_CHECKING

import structlog

from schemas import PromptVersion
from stream.student.catalogue import student_model_file
from stream.student.model_file import ModelFile, model_file_at
from stream.student.protocol import StudentModel
from stream.student.self_test import ensure_model_runs
from stream.student.settings import StudentSettings

if TYPE_CHECKING:
    from stream.student.llama_student import LlamaStudent

log = structlog.get_logger()

MAX_SEQUENCES = 256  # llama.cpp's LLAMA_MAX_SEQ; with a unified KV cache, unused slots cost nothing


def resolve_model_file(settings: StudentSettings) -> ModelFile:
    """`PLD_MODEL_PATH` when set, else the catalogue student `PLD_STUDENT` (assembled into the cache dir)."""
    if settings.model_path is not None:
        return model_file_at(settings.model_path, settings.model_sha256)
    return student_model_file(settings.student, settings.cache_dir, settings.model_sha256)


def checked_model_file(settings: StudentSettings) -> ModelFile:
    """The configured model file, once the self-test has shown that this build decodes it on this CPU."""
    model = resolve_model_file(settings)
    ensure_model_runs(model, settings.cache_dir, n_threads=settings.n_threads, repack_weights=settings.repack_weights)
    return model


def build_served_student(settings: StudentSettings, prompt: PromptVersion) -> StudentModel:
    """What a worker serves `prompt` with: a cascade when `PLD_CASCADE_FAST_STUDENT` is set and the version
    carries a threshold for that pair of model files, else the one student `build_student` builds."""
    strong = build_student(settings, prompt)
    if settings.cascade_fast_student is None:
        return strong
    try:
        fast = build_student(fast_student_settings(settings), prompt)
    except BaseException:
        strong.close()
        raise
    threshold = prompt.cascade_for(fast.model_id.sha256, strong.model_id.sha256, strong.mode)
    if threshold is None:
        log.warning(
            "cascade_not_fitted",
            version=prompt.version,
            fast=fast.model_id.file_name,
            strong=strong.model_id.file_name,
            why="the version carries no threshold for this pair (pld eval --cascade-fast): the strong student decides",
        )
        fast.close()
        return strong
    from stream.student.cascade import CascadeStudent  # noqa: PLC0415

    return CascadeStudent(fast, strong, threshold)


def fast_student_settings(settings: StudentSettings) -> StudentSettings:
    """The cascade's fast student: the same engine settings with `PLD_CASCADE_FAST_STUDENT` as the model."""
    return settings.model_copy(
        update={
            "student": settings.cascade_fast_student,
            "model_path": None,
            "model_sha256": None,
            "cascade_fast_student": None,
        }
    )


def build_student(settings: StudentSettings, prompt: PromptVersion) -> "LlamaStudent":
    """One student, its prompt prefix computed or restored from the prefix cache (a cascade's parts are built here)."""
    model = checked_model_file(settings)
    # Imported only now: loading llama.cpp into this process waits until the self-test has passed.
    from stream.student.llama_context import ContextSettings  # noqa: PLC0415
    from stream.student.llama_student import EngineSettings, LlamaStudent  # noqa: PLC0415

    context = ContextSettings(
        n_ctx=settings.n_ctx,
        n_seq_max=MAX_SEQUENCES,
        n_threads=settings.n_threads,
        repack_weights=settings.repack_weights,
    )
    engine = EngineSettings(
        context=context,
        mode=settings.scoring_mode,
        decode=settings.decode,
        max_message_tokens=settings.max_message_tokens,
        prefix_cache_dir=settings.resolved_prefix_cache_dir,
    )
    return LlamaStudent(model, prompt, engine)
