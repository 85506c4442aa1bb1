"""Persisting the evaluated prompt prefix, so a worker restores it instead of recomputing it.

A cache entry is keyed by everything that shapes the KV cells: model sha256, prompt sha256, the
prefix tokens, context settings and the llama.cpp build. Gemma 3's sliding-window attention has
known save/restore bugs upstream, so each entry carries the logits of a canary suffix computed right
after a fresh prefill; a restore is trusted only when the canary reproduces them.

Files (`<key>.state`, `<key>.canary.npy`, then `<key>.json` last, marking the entry complete) are
written to a temporary name and renamed into place; the least recently used entries beyond `keep`
are deleted.
"""

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

import llama_cpp
import numpy as np
import numpy.typing as npt

from stream.student.llama_context import ContextSettings, LlamaContext

CANARY_TEXT = "Hello, is this the right place to ask about the weekend schedule?"
CANARY_TOLERANCE = 1e-4  # a restore must reproduce the recorded canary (same layout, same bits)
ROUND_TRIP_TOLERANCE = 2.0  # logits; layout noise measured here stays well below, broken restores do not
DEFAULT_KEEP = 8
KEY_HEX_CHARS = 32
STATE_SUFFIX = ".state"
CANARY_SUFFIX = ".canary.npy"
META_SUFFIX = ".json"
BYTES_PER_MB = 1024 * 1024
TMP_MARKER = ".tmp-"
STALE_TMP_S = 600.0

T = TypeVar("T")


@dataclass(frozen=True)
class PrefixKey:
    """Everything that determines a prefix's KV cells."""

    model_sha256: str
    prompt_sha256: str
    prefix_tokens_sha256: str
    context: ContextSettings
    llama_cpp_version: str

    @classmethod
    def of(cls, model_sha256: str, prompt_sha256: str, tokens: Sequence[int], context: ContextSettings) -> "PrefixKey":
        """The key for a prefix of `tokens` evaluated by this llama.cpp build."""
        token_digest = hashlib.sha256(np.asarray(tokens, dtype=np.int32).tobytes()).hexdigest()
        return cls(model_sha256, prompt_sha256, token_digest, context, llama_cpp.__version__)

    @property
    def digest(self) -> str:
        """File-name stem of this key's entry."""
        canonical = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:KEY_HEX_CHARS]


@dataclass(frozen=True)
class PrefixLoad:
    """How a prefix came to be in the context."""

    source: str  # "restored", "computed", or "recomputed" after a failed canary check
    seconds: float
    state_bytes: int


class PrefixCache:
    """A directory of saved prefix states."""

    def __init__(self, directory: Path, keep: int = DEFAULT_KEEP) -> None:
        self.directory = directory
        self.keep = keep

    def load_or_compute(self, context: LlamaContext, key: PrefixKey, tokens: Sequence[int]) -> PrefixLoad:
        """Put the prefix `tokens` into `context`: restored and verified when possible, else computed and saved."""
        started = time.perf_counter()
        if self._restore(context, key, tokens):
            self._touch(key)
            return PrefixLoad("restored", time.perf_counter() - started, self._path(key, STATE_SUFFIX).stat().st_size)
        had_entry = self._path(key, META_SUFFIX).exists()
        context.evaluate_prefix(tokens)
        size = self.save(context, key)
        return PrefixLoad("recomputed" if had_entry else "computed", time.perf_counter() - started, size)

    def save(self, context: LlamaContext, key: PrefixKey) -> int:
        """Save the context's prefix under `key` and switch the context to the saved copy; return the file's size.

        The KV cells of a restored prefix are laid out differently from freshly computed ones, and on CPU
        that layout nudges some logits (attention sums run in another order; f16 rounding occasionally
        flips). So the context itself is switched to the restored copy: cold and warm workers then run
        on identical cells and decide identically. A round trip that moves the canary by more than
        `ROUND_TRIP_TOLERANCE` (the upstream SWA restore bugs) is not cached: the context recomputes.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        tokens = list(context.prefix_tokens)
        computed = context.full_logits(canary_tokens(context))
        state = self._path(key, STATE_SUFFIX)
        size = _atomic(state, context.save_prefix)
        restored = context.full_logits(canary_tokens(context)) if context.load_prefix(state, len(tokens)) else None
        drift = float("inf") if restored is None else float(np.max(np.abs(restored - computed)))
        if restored is None or context.prefix_tokens != tokens or drift > ROUND_TRIP_TOLERANCE:
            state.unlink(missing_ok=True)
            context.evaluate_prefix(tokens)
            return size
        _atomic(self._path(key, CANARY_SUFFIX), lambda tmp: _save_array(tmp, restored))
        meta = {**asdict(key), "state_bytes": size, "prefix_tokens": len(tokens), "round_trip_drift": drift}
        _atomic(self._path(key, META_SUFFIX), lambda tmp: tmp.write_text(json.dumps(meta, indent=2)))
        self.collect_garbage()
        return size

    def collect_garbage(self) -> list[Path]:
        """Delete entries beyond the `keep` most recently used, and leftovers of interrupted writes."""
        entries = sorted(self.directory.glob(f"*{META_SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True)
        live = {path.name.removesuffix(META_SUFFIX) for path in entries[: self.keep]}
        removed = []
        for path in self.directory.iterdir():
            # Another process may be writing its own temporary file right now: only old ones are debris.
            stale_tmp = TMP_MARKER in path.name and path.stat().st_mtime < time.time() - STALE_TMP_S
            if stale_tmp or path.name.split(".", 1)[0] not in live:
                path.unlink(missing_ok=True)
                removed.append(path)
        return removed

    def _restore(self, context: LlamaContext, key: PrefixKey, tokens: Sequence[int]) -> bool:
        state, canary, meta = (self._path(key, suffix) for suffix in (STATE_SUFFIX, CANARY_SUFFIX, META_SUFFIX))
        if not (meta.exists() and state.exists() and canary.exists()):
            return False
        if not context.load_prefix(state, capacity=len(tokens)) or context.prefix_tokens != list(tokens):
            return False
        expected = np.load(canary)
        actual = context.full_logits(canary_tokens(context))
        return bool(np.max(np.abs(actual - expected)) <= CANARY_TOLERANCE)

    def _path(self, key: PrefixKey, suffix: str) -> Path:
        return self.directory / f"{key.digest}{suffix}"

    def _touch(self, key: PrefixKey) -> None:
        self._path(key, META_SUFFIX).touch()


def canary_tokens(context: LlamaContext) -> list[int]:
    """The canary suffix: plain text, fixed for every prompt."""
    return context.tokenize(CANARY_TEXT, parse_special=False)


def state_megabytes(load: PrefixLoad) -> float:
    """A prefix state's file size in MB."""
    return load.state_bytes / BYTES_PER_MB


def _save_array(path: Path, array: npt.NDArray[np.float32]) -> None:
    with path.open("wb") as stream:
        np.save(stream, array)


def _atomic(final: Path, write: Callable[[Path], T]) -> T:
    """Run `write` on a temporary file beside `final`, then rename it into place."""
    tmp = final.with_name(f"{final.name}{TMP_MARKER}{os.getpid()}")
    try:
        result = write(tmp)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return result
