"""A local chat model (a GGUF with its own chat template) answering whole conversations: the distiller's
local teacher runs on it. Also what llama.cpp reports about its build."""

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import llama_cpp

from stream.student.errors import InferenceError


@dataclass(frozen=True)
class ChatReply:
    """The reply's text and its token counts, as llama.cpp reports them."""

    text: str
    prompt_tokens: int
    completion_tokens: int


class ChatModel:
    """`llama_cpp.Llama` for chat completions; calls are serialised (one context is not thread-safe)."""

    def __init__(self, model_path: Path, n_ctx: int, n_threads: int | None = None) -> None:
        self._lock = threading.Lock()
        # Flash attention off: on CPU it broke llama.cpp's prefix reuse between calls (see RESOURCES.md).
        self._llama = llama_cpp.Llama(
            model_path=str(model_path),
            n_ctx=n_ctx,
            n_threads=n_threads or os.cpu_count() or 1,
            flash_attn=False,
            verbose=False,
        )

    def reply(self, messages: list[dict[str, str]], *, max_tokens: int, temperature: float, seed: int) -> ChatReply:
        """The assistant's reply; `temperature=0` is greedy, otherwise sampling is seeded by `seed`."""
        with self._lock:
            try:
                result: Any = self._llama.create_chat_completion(
                    messages=messages,  # type: ignore[arg-type]
                    max_tokens=max_tokens,
                    temperature=temperature,
                    seed=seed,
                )
            except (RuntimeError, ValueError) as exc:
                raise InferenceError(f"llama.cpp failed: {exc}") from exc
        usage = result.get("usage") or {}
        text = str(result["choices"][0]["message"]["content"] or "")
        return ChatReply(text, usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0))

    def close(self) -> None:
        """Free the model."""
        self._llama.close()


def llama_system_info() -> str:
    """llama.cpp's build report (`llama_print_system_info`): the CPU features it was compiled for."""
    report: bytes = llama_cpp.llama_print_system_info()
    return report.decode(errors="replace").strip()
