"""`LlamaStudent`: the real student, a GGUF model scoring short cues after a cached prompt prefix."""

import math
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from schemas import EngineRecord, ModelId, PromptVersion, ScoringMode
from stream.student.errors import InferenceError
from stream.student.label_scoring import LOG_FLOOR
from stream.student.llama_context import ContextSettings, LlamaContext, Logits
from stream.student.model_file import ModelFile
from stream.student.prefix_cache import PrefixCache, PrefixKey, PrefixLoad
from stream.student.prompt_format import CONTENT_FREE_TEXTS, chat_format_for, message_end, render_prefix
from stream.student.protocol import Classification, DecodeStrategy
from stream.student.reading import held_if_markup, normalized, windows
from stream.student.scoring import Scorer, build_scorer
from stream.student.self_test import describe_build


@dataclass(frozen=True)
class EngineSettings:
    """How the engine scores, sizes its context and batches its work (built by `stream.student.factory`)."""

    context: ContextSettings = field(default_factory=ContextSettings)
    mode: ScoringMode = ScoringMode.SINGLE_PASS
    decode: DecodeStrategy = DecodeStrategy.ISOLATED
    max_message_tokens: int = 512
    prefix_cache_dir: Path | None = None


class LlamaStudent:
    """Classifies messages with one prompt version; the prompt's KV cache is computed (or restored) at load."""

    def __init__(self, model_file: ModelFile, prompt: PromptVersion, settings: EngineSettings) -> None:
        self._model_file = model_file
        self._settings = settings
        # Two threads may hold one student (the shadow's, and the model's once that version is promoted):
        # calls take turns, and a close waits for the call in progress.
        self._lock = threading.Lock()
        self._closed = False
        self._context = LlamaContext(model_file.path, settings.context)
        try:
            self._prefix_cache = None if settings.prefix_cache_dir is None else PrefixCache(settings.prefix_cache_dir)
            self._chat = chat_format_for(self._context.architecture)
            self._end_tokens = self._context.tokenize(message_end(self._chat), parse_special=True)
            self._scorer = self._prepare(prompt)
        except BaseException:
            self._context.close()  # a version this worker cannot build must not leak its model and context
            raise

    @property
    def prompt(self) -> PromptVersion:
        """The prompt version every classification uses."""
        return self._scorer.prompt

    @property
    def model_id(self) -> ModelId:
        """The model file behind the classifications."""
        return self._model_file.model_id

    @property
    def mode(self) -> ScoringMode:
        """The scoring mode in use: the prompt version's choice, else the settings' (`PLD_SCORING_MODE`)."""
        return self._scorer.mode

    @property
    def prefix_token_count(self) -> int:
        """Tokens in the cached prompt prefix."""
        return len(self._context.prefix_tokens)

    @property
    def engine(self) -> EngineRecord:
        """The settings that change a result: decoding, window size, context size, llama.cpp build."""
        return EngineRecord(
            decode=self._settings.decode.value,
            max_message_tokens=self._settings.max_message_tokens,
            n_ctx=self._settings.context.n_ctx,
            build=describe_build(),
        )

    def use_prompt(self, prompt: PromptVersion) -> None:
        """Switch to another prompt version: evaluate (or restore) its prefix and recalibrate."""
        with self._lock:
            self._check_open()
            self._scorer = self._prepare(prompt)

    def classify(self, texts: Sequence[str]) -> list[Classification]:
        """One classification per text, in order: each read normalised, a long one window by window, its most
        severe window deciding (`stream.student.reading`)."""
        with self._lock:
            self._check_open()
            return self._classify(texts)

    def _check_open(self) -> None:
        if self._closed:
            raise InferenceError(f"student for {self.prompt.version} is closed")

    def _classify(self, texts: Sequence[str]) -> list[Classification]:
        readings = [normalized(text) for text in texts]
        per_text = [self._windows(text) for text, _changed in readings]
        results = iter(self._score([window + self._end_tokens for parts in per_text for window in parts]))
        severity = {label: rank for rank, label in enumerate(self._scorer.prompt.label_names)}
        decided = []
        for parts, (read, changed) in zip(per_text, readings, strict=True):
            answers = [self._scorer.classify(next(results)) for _window in parts]
            chosen = max(
                range(len(answers)),
                key=lambda n: (severity[answers[n].label], answers[n].probabilities[answers[n].label]),
            )
            answer = replace(
                answers[chosen], truncated=len(parts) > 1, windows=len(parts), window=chosen, normalized_chars=changed
            )
            decided.append(held_if_markup(answer, read, self._scorer.prompt.label_names))
        return decided

    def decoded_token_count(self, text: str) -> int:
        """Tokens decoded after the prefix to classify `text` (its stem plus every branch)."""
        return len(self._stem(text)) + sum(len(branch.tokens) for branch in self._scorer.branches)

    def branch_sequences(self, text: str) -> list[list[int]]:
        """For a peer server reading the same tokens: each branch of `text` as one whole sequence (the prefix,
        the message's stem, the branch's cue), whose next-token log-probabilities `classify_from_logprobs` reads."""
        stem = self._stem(text)
        return [[*self._prefix_tokens, *stem, *branch.tokens] for branch in self._scorer.branches]

    def classify_from_logprobs(self, branch_logprobs: Sequence[Mapping[int, float]]) -> Classification:
        """The classification this student's scorer gives to another engine's next-token log-probabilities
        (token id -> log-probability, one mapping per branch of `branch_sequences`; a candidate token missing
        from a mapping counts as improbable). The same calibration and decision procedure as `classify`."""
        logits = [
            np.array([logprobs.get(token, math.log(LOG_FLOOR)) for token in branch.read], dtype=np.float64)
            for branch, logprobs in zip(self._scorer.branches, branch_logprobs, strict=True)
        ]
        return self._scorer.classify(logits)

    def branch_texts(self, text: str) -> list[str]:
        """For a peer server that takes text prompts: each of `branch_sequences` written out as text (control
        tokens included), which the peer's tokenizer reads back into the same tokens barring merges at joins."""
        return [self._context.detokenize(sequence, special=True) for sequence in self.branch_sequences(text)]

    def classify_from_token_texts(self, branch_logprobs: Sequence[Mapping[str, float]]) -> Classification:
        """`classify_from_logprobs` for a peer that names each token by its text (llama-cpp-python's server):
        every candidate token of a branch is looked up by its own text."""
        by_id = []
        for branch, logprobs in zip(self._scorer.branches, branch_logprobs, strict=True):
            pieces = {token: self._context.detokenize([token], special=False) for token in branch.read}
            by_id.append({token: logprobs[piece] for token, piece in pieces.items() if piece in logprobs})
        return self.classify_from_logprobs(by_id)

    def message_tokens(self, text: str) -> list[int]:
        """The tokens `classify` decodes for `text` after the prefix, before its cues (its stem)."""
        return self._stem(text)

    def _windows(self, text: str) -> list[list[int]]:
        """The message's tokens as one window, or several when it exceeds `max_message_tokens`."""
        return windows(self._context.tokenize(text, parse_special=False), self._settings.max_message_tokens)

    def _prepare(self, prompt: PromptVersion) -> Scorer:
        mode = prompt.scoring_mode or self._settings.mode
        scorer = build_scorer(mode, prompt, self._tokenize, self._model_file.sha256)
        prefix = self._context.tokenize(render_prefix(prompt, self._chat), parse_special=True, add_bos=True)
        self.prefix_load = self._load_prefix(prompt, prefix)
        self._prefix_tokens = prefix
        self._scorer = scorer
        scorer.calibrate_with(self._score([self._stem(text) for text in CONTENT_FREE_TEXTS]))
        return scorer

    def _load_prefix(self, prompt: PromptVersion, prefix: list[int]) -> PrefixLoad:
        if self._prefix_cache is None:
            started = time.perf_counter()
            self._context.evaluate_prefix(prefix)
            return PrefixLoad("computed", time.perf_counter() - started, 0)
        key = PrefixKey.of(self._model_file.sha256, prompt.sha256, prefix, self._settings.context)
        return self._prefix_cache.load_or_compute(self._context, key, prefix)

    def _score(self, stems: list[list[int]]) -> list[list[Logits]]:
        branches = self._scorer.branches
        results = []
        for chunk in self._chunks(stems):
            results.extend(self._context.score_tree(chunk, [branches] * len(chunk)))
        return results

    def _tokenize(self, text: str, parse_special: bool) -> list[int]:
        return self._context.tokenize(text, parse_special=parse_special)

    def _stem(self, text: str) -> list[int]:
        """The first window of the normalised text, then the turn markers: what one decode reads."""
        return self._windows(normalized(text)[0])[0] + self._end_tokens

    def _chunks(self, stems: list[list[int]]) -> Iterator[list[list[int]]]:
        """Group stems so each group fits the free KV cells and the sequence slots (one stem when isolated)."""
        branch_tokens = sum(len(branch.tokens) for branch in self._scorer.branches)
        per_stem_sequences = 1 + len(self._scorer.branches)
        free_cells = self._context.n_ctx - self.prefix_token_count
        max_stems = (self._settings.context.n_seq_max - 1) // per_stem_sequences
        if self._settings.decode is DecodeStrategy.ISOLATED:
            max_stems = 1
        chunk: list[list[int]] = []
        used = 0
        for stem in stems:
            cost = len(stem) + branch_tokens
            if chunk and (used + cost > free_cells or len(chunk) == max_stems):
                yield chunk
                chunk, used = [], 0
            chunk.append(stem)
            used += cost
        if chunk:
            yield chunk

    def close(self) -> None:
        """Release the model and its context, once the call in progress (if any) has returned."""
        with self._lock:
            self._closed = True
            self._context.close()
