"""Persisting the evaluated prompt prefix, so a worker restores it instead of recomputing it.

A cache entry is keyed by everything that shapes the KV cells: model sha256, prompt sha256, the
prefix tokens, context settings and the llama.cpp build. Gemma 3's sliding-window attention has
known save/restore bugs upstream, so each entry carries the logits of a canary suffix computed right
after a fresh prefill; a restore is trusted only when the canary reproduces them.

Files (`<key>.state`, `<key>.canary.npy`, then `<key>.json` last, marking the entry complete) are
written to a uniquely named temporary file, fsynced and renamed into place, so workers sharing the
directory (containers on one volume, all pid 1) never see each other's half-written files. Garbage
collection deletes complete entries beyond the `keep` most recently used, and other files only once
they are older than `STALE_S` (another worker may be between writing a `.state` and its `.json`).

The cache is optional: any error reading or writing it (a truncated file, a full disk, permissions)
is logged and the prefix is computed and round-tripped through memory instead, which gives the
cells the same layout a restored prefix has, so decisions do not depend on the cache.
"""

import contextlib
import hashlib
import json
import os
import stat
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

import llama_cpp
import numpy as np
import numpy.typing as npt
import structlog

from stream.student.errors import InferenceError
from stream.student.llama_context import ContextSettings, LlamaContext

log = structlog.get_logger("stream.student.prefix_cache")

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
STALE_S = 600.0  # files of no complete entry younger than this may belong to a write in progress
CACHE_ERRORS = (OSError, ValueError, EOFError, InferenceError)
PRIVATE_DIR_MODE = 0o700

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

    source: str  # "restored", "computed", "recomputed" after a failed canary check, "uncached" on a cache error
    seconds: float
    state_bytes: int


class PrefixCache:
    """A directory of saved prefix states."""

    def __init__(self, directory: Path, keep: int = DEFAULT_KEEP) -> None:
        self.directory = directory
        self.keep = keep

    def load_or_compute(self, context: LlamaContext, key: PrefixKey, tokens: Sequence[int]) -> PrefixLoad:
        """Put the prefix `tokens` into `context`: restored and verified when possible, else computed and saved;
        computed and round-tripped in memory when the cache itself fails."""
        started = time.perf_counter()
        try:
            return self._load_or_compute(context, key, tokens, started)
        except CACHE_ERRORS as exc:
            log.warning("prefix_cache_unusable", directory=str(self.directory), error=repr(exc))
        context.evaluate_prefix(tokens)
        size = context.reload_prefix_in_memory()
        return PrefixLoad("uncached", time.perf_counter() - started, size)

    def _load_or_compute(
        self, context: LlamaContext, key: PrefixKey, tokens: Sequence[int], started: float
    ) -> PrefixLoad:
        self._ensure_private()
        if self._restore(context, key, tokens):
            self._touch(key)
            return PrefixLoad("restored", time.perf_counter() - started, self._path(key, STATE_SUFFIX).stat().st_size)
        had_entry = self._path(key, META_SUFFIX).exists()
        context.evaluate_prefix(tokens)
        size = self.save(context, key)
        return PrefixLoad("recomputed" if had_entry else "computed", time.perf_counter() - started, size)

    def _ensure_private(self) -> None:
        """A restored state is an input to the model: only this user may write the cache. The directory is made
        owner-only (0700); one owned by someone else, or writable by others, is not trusted (PermissionError,
        so the prefix is computed and kept in memory instead)."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
        info = self.directory.stat()
        if info.st_uid != os.getuid():
            raise PermissionError(f"{self.directory} belongs to uid {info.st_uid}, not this user: not trusted")
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH | stat.S_IRWXG | stat.S_IRWXO):
            self.directory.chmod(PRIVATE_DIR_MODE)

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
        """Delete complete entries beyond the `keep` most recently used, and stale leftovers of other writes."""
        entries = sorted(_with_mtimes(self.directory.glob(f"*{META_SUFFIX}")), key=lambda pair: -pair[1])
        complete = {path.name.removesuffix(META_SUFFIX) for path, _mtime in entries}
        live = {path.name.removesuffix(META_SUFFIX) for path, _mtime in entries[: self.keep]}
        now = time.time()
        removed = []
        # `.json` files sort first, so an evicted entry stops being complete before its state goes.
        for path, mtime in sorted(_with_mtimes(self.directory.iterdir()), key=lambda pair: _eviction_order(pair[0])):
            stem = path.name.split(".", 1)[0]
            evicted = stem in complete and stem not in live and TMP_MARKER not in path.name
            if stem not in live and (evicted or now - mtime > STALE_S):
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
        with contextlib.suppress(OSError):  # recency is a hint; another worker may have just evicted the entry
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


def _with_mtimes(paths: Iterable[Path]) -> Iterator[tuple[Path, float]]:
    """Paths with their modification times; a file another worker just deleted is skipped."""
    for path in paths:
        try:
            yield path, path.stat().st_mtime
        except FileNotFoundError:
            continue


def _eviction_order(path: Path) -> tuple[bool, str]:
    return (not path.name.endswith(META_SUFFIX), path.name)


def _atomic(final: Path, write: Callable[[Path], T]) -> T:
    """Run `write` on a uniquely named temporary file beside `final`, fsync it, then rename it into place."""
    tmp = final.with_name(f"{final.name}{TMP_MARKER}{uuid.uuid4().hex}")
    try:
        result = write(tmp)
        _fsync(tmp)
        os.replace(tmp, final)
        _fsync(final.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return result


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
