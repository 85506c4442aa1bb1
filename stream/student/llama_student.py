"""`LlamaStudent`: the real student, a GGUF model scoring label tokens after a cached prompt prefix."""

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from schemas import ModelId, PromptVersion
from stream.student.label_scoring import classify_rows, label_token_ids
from stream.student.llama_context import ContextSettings, LlamaContext
from stream.student.model_file import ModelFile
from stream.student.prefix_cache import PrefixCache, PrefixKey, PrefixLoad
from stream.student.prompt_format import render_prefix, render_suffix
from stream.student.protocol import Classification


@dataclass(frozen=True)
class StudentSettings:
    """How the student sizes its context and its batches."""

    context: ContextSettings = field(default_factory=ContextSettings)
    max_message_tokens: int = 512
    prefix_cache_dir: Path | None = None


class LlamaStudent:
    """Classifies messages with one prompt version; the prompt's KV cache is computed once at load."""

    def __init__(self, model_file: ModelFile, prompt: PromptVersion, settings: StudentSettings) -> None:
        self._model_file = model_file
        self._settings = settings
        self._context = LlamaContext(model_file.path, settings.context)
        self._prompt = prompt
        self._label_tokens = label_token_ids(prompt.label_names, self._plain_tokens)
        self._closing_tokens: list[int] = []
        self._prefix_cache = None if settings.prefix_cache_dir is None else PrefixCache(settings.prefix_cache_dir)
        self.prefix_load = PrefixLoad("computed", 0.0, 0)
        self.use_prompt(prompt)

    @property
    def prompt(self) -> PromptVersion:
        """The prompt version every classification uses."""
        return self._prompt

    @property
    def model_id(self) -> ModelId:
        """The model file behind the classifications."""
        return self._model_file.model_id

    @property
    def prefix_token_count(self) -> int:
        """Tokens in the cached prompt prefix."""
        return len(self._context.prefix_tokens)

    def use_prompt(self, prompt: PromptVersion) -> None:
        """Switch to another prompt version: checks its labels, then evaluates its prefix."""
        label_tokens = label_token_ids(prompt.label_names, self._plain_tokens)
        prefix = self._context.tokenize(render_prefix(prompt), parse_special=True, add_bos=True)
        self.prefix_load = self._load_prefix(prompt, prefix)
        self._closing_tokens = self._context.tokenize(render_suffix("").closing, parse_special=True)
        self._prompt, self._label_tokens = prompt, label_tokens

    def _load_prefix(self, prompt: PromptVersion, prefix: list[int]) -> PrefixLoad:
        if self._prefix_cache is None:
            started = time.perf_counter()
            self._context.evaluate_prefix(prefix)
            return PrefixLoad("computed", time.perf_counter() - started, 0)
        key = PrefixKey.of(self._model_file.sha256, prompt.sha256, prefix, self._settings.context)
        return self._prefix_cache.load_or_compute(self._context, key, prefix)

    def classify(self, texts: Sequence[str]) -> list[Classification]:
        """One classification per text, in order; texts are decoded together in as few batches as fit."""
        suffixes = [self._suffix_tokens(text) for text in texts]
        results: list[Classification] = []
        for chunk in self._chunks(suffixes):
            label_logits = self._context.score_suffixes(chunk, self._label_tokens)
            results.extend(classify_rows(self._prompt.label_names, label_logits))
        return results

    def _plain_tokens(self, text: str) -> list[int]:
        return self._context.tokenize(text, parse_special=False)

    def _suffix_tokens(self, text: str) -> list[int]:
        message = self._plain_tokens(render_suffix(text).message)[: self._settings.max_message_tokens]
        return message + self._closing_tokens

    def _chunks(self, suffixes: list[list[int]]) -> Iterator[list[list[int]]]:
        """Group suffixes so each group fits the free KV cells and the sequence slots."""
        free_cells = self._context.n_ctx - self.prefix_token_count
        max_sequences = self._settings.context.n_seq_max - 1
        chunk: list[list[int]] = []
        used = 0
        for suffix in suffixes:
            if chunk and (used + len(suffix) > free_cells or len(chunk) == max_sequences):
                yield chunk
                chunk, used = [], 0
            chunk.append(suffix)
            used += len(suffix)
        if chunk:
            yield chunk

    def close(self) -> None:
        """Release the model and its context."""
        self._context.close()
