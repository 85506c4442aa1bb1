"""A llama.cpp context driven through the low-level API: one shared prefix, many message sequences.

`llama_cpp.Llama` does not expose `n_seq_max` or a unified KV cache, so the context is built here.
Sequence 0 holds the evaluated prompt prefix; each message gets its own sequence that shares the
prefix cells (`llama_memory_seq_cp`), all message suffixes are decoded in one `llama_decode`, the
logits are read at each sequence's last token, and the message sequences are dropped again.
"""

import ctypes
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np
import numpy.typing as npt

from stream.student.errors import InferenceError, ModelLoadError

PREFIX_SEQ = 0
ARCH_BUFFER_BYTES = 64
DETOKENIZE_BYTES_PER_TOKEN = 16  # a first guess; llama.cpp asks for more when a text needs it
FLASH_ATTENTION_OFF = 0  # on CPU, flash attention breaks prefix reuse (see ../shared/RESOURCES.md)
LOG_LEVEL_ERROR = 4  # ggml_log_level: NONE, DEBUG, INFO, WARN, ERROR, CONT

_backend_lock = threading.Lock()
_backend_ready = False


Logits = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Branch:
    """A token run decoded after a stem, and the tokens whose logits are read at its end."""

    tokens: Sequence[int]
    read: Sequence[int]


@dataclass(frozen=True)
class Run:
    """Consecutive tokens decoded at positions `start`.. into every sequence in `seq_ids`."""

    seq_ids: Sequence[int]
    start: int
    tokens: Sequence[int]
    read_last: bool = True


@dataclass(frozen=True)
class ContextSettings:
    """Sizes of a llama.cpp context."""

    n_ctx: int = 8192
    n_seq_max: int = 17
    n_threads: int = 2
    n_ubatch: int = 512
    repack_weights: bool = True  # llama.cpp's CPU weight repacking (faster matmuls, "extra buffer types")


def _errors_only(level: int, text: bytes, _user_data: object) -> None:
    # llama.cpp narrates every load to stderr; keep errors only, so worker logs stay JSON.
    if level == LOG_LEVEL_ERROR:
        sys.stderr.write(text.decode(errors="replace"))


_quiet_log = llama_cpp.llama_log_callback(_errors_only)  # module-level: C keeps the pointer for the process


def init_backend() -> None:
    """Initialise llama.cpp once per process, keeping only its error messages."""
    global _backend_ready  # noqa: PLW0603 - llama.cpp's backend is process-wide state
    with _backend_lock:
        if not _backend_ready:
            llama_cpp.llama_log_set(_quiet_log, ctypes.c_void_p(0))
            llama_cpp.llama_backend_init()
            _backend_ready = True


class LlamaContext:
    """Owns a loaded model and a multi-sequence context. Not thread-safe: use from one thread."""

    def __init__(self, model_path: Path, settings: ContextSettings) -> None:
        init_backend()
        self.settings = settings
        model_params = llama_cpp.llama_model_default_params()
        model_params.use_extra_bufts = settings.repack_weights
        self._model = llama_cpp.llama_model_load_from_file(str(model_path).encode(), model_params)
        if not self._model:
            raise ModelLoadError(f"llama.cpp could not load {model_path}")
        self._vocab = llama_cpp.llama_model_get_vocab(self._model)
        self._ctx = llama_cpp.llama_init_from_model(self._model, self._context_params(settings))
        if not self._ctx:
            llama_cpp.llama_model_free(self._model)
            raise ModelLoadError(f"llama.cpp could not create a context for {model_path} with {settings}")
        self._memory = llama_cpp.llama_get_memory(self._ctx)
        self.prefix_tokens: list[int] = []

    @staticmethod
    def _context_params(settings: ContextSettings) -> Any:
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = settings.n_ctx
        params.n_batch = settings.n_ctx
        params.n_ubatch = settings.n_ubatch
        params.n_seq_max = settings.n_seq_max
        params.n_threads = settings.n_threads
        params.n_threads_batch = settings.n_threads
        params.flash_attn_type = FLASH_ATTENTION_OFF
        params.kv_unified = True
        params.swa_full = True
        params.no_perf = True
        return params

    @property
    def architecture(self) -> str:
        """The GGUF's `general.architecture` (e.g. "gemma3", "qwen2")."""
        buffer = ctypes.create_string_buffer(ARCH_BUFFER_BYTES)
        length = llama_cpp.llama_model_meta_val_str(self._model, b"general.architecture", buffer, ARCH_BUFFER_BYTES)
        return buffer.value.decode() if length > 0 else ""

    @property
    def n_ctx(self) -> int:
        """Cells in the KV cache."""
        return int(llama_cpp.llama_n_ctx(self._ctx))

    def tokenize(self, text: str, *, parse_special: bool, add_bos: bool = False) -> list[int]:
        """Tokens of `text`. With `parse_special=False`, control-token text stays plain text."""
        data = text.encode(errors="replace")  # a lone surrogate becomes "?", never an exception
        capacity = len(data) + 8
        buffer = (llama_cpp.llama_token * capacity)()
        count = llama_cpp.llama_tokenize(self._vocab, data, len(data), buffer, capacity, add_bos, parse_special)
        if count < 0:
            raise InferenceError(f"tokenizer needed {-count} slots for {len(data)} bytes")
        return list(buffer[:count])

    def detokenize(self, tokens: Sequence[int], *, special: bool) -> str:
        """The text of `tokens` (BOS/EOS dropped); with `special`, control tokens are written out as their text."""
        array = (llama_cpp.llama_token * len(tokens))(*tokens)
        capacity = DETOKENIZE_BYTES_PER_TOKEN * len(tokens) + 1
        while True:
            buffer = ctypes.create_string_buffer(capacity)
            count = llama_cpp.llama_detokenize(self._vocab, array, len(tokens), buffer, capacity, True, special)
            if count >= 0:
                return buffer.raw[:count].decode(errors="replace")
            capacity = -count  # too small: llama.cpp says how many bytes it needs

    def evaluate_prefix(self, tokens: Sequence[int]) -> None:
        """Replace the cached prefix with `tokens`, evaluated into sequence 0."""
        llama_cpp.llama_memory_clear(self._memory, True)
        self.prefix_tokens = []
        self._decode([Run([PREFIX_SEQ], 0, list(tokens))])
        self.prefix_tokens = list(tokens)

    def score_tree(self, stems: Sequence[Sequence[int]], branches: Sequence[Sequence[Branch]]) -> list[list[Logits]]:
        """For each stem and each of its branches (decoded after prefix + stem), the logits of the branch's
        `read` tokens at its last token. Everything goes into one `llama_decode`: a stem's tokens belong
        to all of its branches' sequences at once, so the stem is computed once and shared."""
        n_sequences = sum(max(len(group), 1) for group in branches)
        if n_sequences >= self.settings.n_seq_max:
            raise InferenceError(f"{n_sequences} sequences exceed the context's {self.settings.n_seq_max - 1} slots")
        runs: list[Run] = []
        next_id = PREFIX_SEQ + 1
        start = len(self.prefix_tokens)
        for stem, group in zip(stems, branches, strict=True):
            seq_ids = list(range(next_id, next_id + max(len(group), 1)))
            next_id += len(seq_ids)
            runs.append(Run(seq_ids, start, stem, read_last=not group))
            runs.extend(Run([seq_id], start + len(stem), b.tokens) for seq_id, b in zip(seq_ids, group, strict=False))
        try:
            for seq_id in range(PREFIX_SEQ + 1, next_id):
                llama_cpp.llama_memory_seq_cp(self._memory, PREFIX_SEQ, seq_id, -1, -1)
            rows = iter(self._decode(runs))
            return [
                [self._logits_row(next(rows))[list(b.read)].astype(np.float64) for b in group] for group in branches
            ]
        finally:
            for seq_id in range(PREFIX_SEQ + 1, next_id):
                llama_cpp.llama_memory_seq_rm(self._memory, seq_id, -1, -1)

    def _decode(self, runs: Sequence[Run]) -> list[int]:
        """Decode `runs` in one batch; return the batch row of the last token of each run that reads logits."""
        n_tokens = sum(len(run.tokens) for run in runs)
        if n_tokens == 0 or any(not run.tokens for run in runs):
            raise InferenceError("cannot decode an empty token sequence")
        used = len(self.prefix_tokens) + n_tokens
        if used > self.n_ctx:
            raise InferenceError(f"batch needs {used} KV cells, the context has {self.n_ctx}")
        batch = llama_cpp.llama_batch_init(n_tokens, 0, max(len(run.seq_ids) for run in runs))
        try:
            read_rows = self._fill_batch(batch, runs)
            status = llama_cpp.llama_decode(self._ctx, batch)
            if status != 0:
                raise InferenceError(f"llama_decode returned {status} for {n_tokens} tokens")
            return read_rows
        finally:
            llama_cpp.llama_batch_free(batch)

    @staticmethod
    def _fill_batch(batch: Any, runs: Sequence[Run]) -> list[int]:
        row = 0
        read_rows = []
        for run in runs:
            for offset, token in enumerate(run.tokens):
                batch.token[row] = token
                batch.pos[row] = run.start + offset
                batch.n_seq_id[row] = len(run.seq_ids)
                for slot, seq_id in enumerate(run.seq_ids):
                    batch.seq_id[row][slot] = seq_id
                is_last = offset == len(run.tokens) - 1
                batch.logits[row] = is_last and run.read_last
                row += 1
            if run.read_last:
                read_rows.append(row - 1)
        batch.n_tokens = row
        return read_rows

    @property
    def n_vocab(self) -> int:
        """Tokens in the model's vocabulary (the length of a logits row)."""
        return int(llama_cpp.llama_vocab_n_tokens(self._vocab))

    def _logits_row(self, row: int) -> npt.NDArray[np.float32]:
        """The logits at batch row `row`, as a view on llama.cpp's buffer (valid until the next decode)."""
        logits = llama_cpp.llama_get_logits_ith(self._ctx, row)
        if not logits:
            raise InferenceError(f"no logits at batch row {row}")
        return np.ctypeslib.as_array(logits, shape=(self.n_vocab,))

    def full_logits(self, suffix: Sequence[int]) -> npt.NDArray[np.float32]:
        """Every vocabulary logit after prefix + `suffix`, decoded on its own (a reproducible probe)."""
        start = len(self.prefix_tokens)
        seq_id = PREFIX_SEQ + 1
        llama_cpp.llama_memory_seq_cp(self._memory, PREFIX_SEQ, seq_id, -1, -1)
        try:
            [row] = self._decode([Run([seq_id], start, list(suffix))])
            return self._logits_row(row).copy()
        finally:
            llama_cpp.llama_memory_seq_rm(self._memory, seq_id, -1, -1)

    def save_prefix(self, path: Path) -> int:
        """Write sequence 0 (the prefix KV cells and its tokens) to `path`; return the bytes written."""
        tokens = (llama_cpp.llama_token * len(self.prefix_tokens))(*self.prefix_tokens)
        written = llama_cpp.llama_state_seq_save_file(
            self._ctx, str(path).encode(), PREFIX_SEQ, tokens, len(self.prefix_tokens)
        )
        if written == 0:
            raise InferenceError(f"llama.cpp could not save the prefix state to {path}")
        return int(written)

    def reload_prefix_in_memory(self) -> int:
        """Round-trip sequence 0 through llama.cpp's state serialisation in memory; return the state's bytes.

        The cells then sit exactly as a prefix restored from a file does (the layout every worker serves
        with), without touching the disk: the fallback when the prefix cache cannot be used."""
        size = llama_cpp.llama_state_seq_get_size(self._ctx, PREFIX_SEQ)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(self._ctx, buffer, size, PREFIX_SEQ)
        tokens = self.prefix_tokens
        llama_cpp.llama_memory_clear(self._memory, True)
        self.prefix_tokens = []
        if written == 0 or llama_cpp.llama_state_seq_set_data(self._ctx, buffer, written, PREFIX_SEQ) == 0:
            raise InferenceError("llama.cpp could not copy the prefix state through memory")
        self.prefix_tokens = tokens
        return int(written)

    def load_prefix(self, path: Path, capacity: int) -> bool:
        """Replace the prefix with the state saved in `path`; False when llama.cpp refuses the file."""
        llama_cpp.llama_memory_clear(self._memory, True)
        self.prefix_tokens = []
        tokens = (llama_cpp.llama_token * capacity)()
        count = ctypes.c_size_t(0)
        read = llama_cpp.llama_state_seq_load_file(
            self._ctx, str(path).encode(), PREFIX_SEQ, tokens, capacity, ctypes.byref(count)
        )
        if read == 0:
            llama_cpp.llama_memory_clear(self._memory, True)
            return False
        self.prefix_tokens = list(tokens[: count.value])
        return True

    def close(self) -> None:
        """Free the context and the model."""
        if self._ctx:
            llama_cpp.llama_free(self._ctx)
            self._ctx = None
        if self._model:
            llama_cpp.llama_model_free(self._model)
            self._model = None
