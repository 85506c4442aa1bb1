"""The naive way to score a message: the whole prompt evaluated from scratch every time, no prefix reuse.
Nothing serves with it; the benchmarks measure it as the floor the cached prefix is compared against."""

from pathlib import Path

import llama_cpp


class WholePromptModel:
    """llama.cpp's high-level model, reset before every evaluation."""

    def __init__(self, model_path: Path, n_ctx: int, n_threads: int) -> None:
        self._llm = llama_cpp.Llama(str(model_path), n_ctx=n_ctx, n_threads=n_threads, verbose=False, flash_attn=False)

    def tokenize(self, text: str) -> list[int]:
        """Token ids of a whole prompt (BOS first, chat markup read as control tokens)."""
        return list(self._llm.tokenize(text.encode(), add_bos=True, special=True))

    def evaluate(self, tokens: list[int]) -> None:
        """Evaluate `tokens` from an empty context."""
        self._llm.reset()  # type: ignore[no-untyped-call]
        self._llm.eval(tokens)

    def close(self) -> None:
        """Free the model."""
        self._llm.close()
