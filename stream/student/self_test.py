"""Start-up self-test: one real decode in a short-lived child process, before a process loads a model.

A llama.cpp build that does not suit the CPU kills the process that loads the model, with nothing in
its log: an AVX-512 wheel on an AVX2-only machine dies of SIGILL, a natively built wheel on a
Sapphire Rapids-class CPU of SIGSEGV in its first decode (AMX matmul on repacked Q4_K weights,
llama.cpp #20824). So every command that loads a model first decodes one message in a child
process; a crash there becomes one clear error line naming the signal, the build's CPU features and
the fix. A pass is remembered on disk per model file, llama.cpp build (a hash of its shared
libraries), CPU and weight-repacking setting, so the child runs once, not at every start.

`python -m stream.student.self_test MODEL_PATH N_THREADS REPACK` is that child. Setting
`PLD_SELF_TEST_FAULT=segv` (or `abort`) makes the child really crash before its decode: the fault
injection the tests use, and a way for an operator to see the error path.
"""

import ctypes
import faulthandler
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from stream.student.errors import SelfTestError
from stream.student.model_file import ModelFile

SELF_TEST_DIR = "self-test"
CHILD_TIMEOUT_S = 300.0
FAULT_ENV = "PLD_SELF_TEST_FAULT"
SYSTEM_INFO_TAG = "llama_system_info: "
BUILD_MARKER = "pld-llama-build.json"  # written into the venv by ops/llama_build.py
PROBE_CONTEXT = 512
PROBE_PREFIX = "You moderate messages in an online community. Read the message, then choose allow, review or block.\n"
PROBE_MESSAGE = "Thanks for the help, see you at practice tomorrow!"
STDERR_TAIL_LINES = 5
HASH_BLOCK_BYTES = 1 << 20
FIX = (
    "rebuild llama-cpp-python for the fleet with `python3 ops/llama_build.py install --python {python}` "
    "(explicit CPU flags, never native, never AMX; `bash ops/bootstrap.sh` runs it), "
    "or set PLD_REPACK_WEIGHTS=false to skip the repacked-weight kernels"
)

_passed_this_process: set[str] = set()


@dataclass(frozen=True)
class ChildOutcome:
    """What the child process did: its exit status, the build's features it reported, its last words."""

    returncode: int
    system_info: str | None
    stderr_tail: str
    seconds: float


def ensure_model_runs(model: ModelFile, cache_dir: Path, *, n_threads: int, repack_weights: bool) -> None:
    """Return when this llama.cpp build decodes `model` on this CPU; raise `SelfTestError` (one line) otherwise."""
    key = runtime_key(model, repack_weights)
    injected = os.environ.get(FAULT_ENV)
    marker = cache_dir / SELF_TEST_DIR / f"{key}.json"
    if not injected and (key in _passed_this_process or marker.is_file()):
        _passed_this_process.add(key)
        return
    outcome = run_child(model.path, n_threads=n_threads, repack_weights=repack_weights)
    if outcome.returncode != 0:
        raise SelfTestError(failure_message(model, outcome))
    if not injected:
        _record_pass(marker, model, outcome)
        _passed_this_process.add(key)


def runtime_key(model: ModelFile, repack_weights: bool) -> str:
    """A hash of everything a pass depends on: model bytes, llama.cpp libraries, CPU and repacking."""
    material = json.dumps([model.sha256, _library_digest(), _cpu_identity(), repack_weights])
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def run_child(model_path: Path, *, n_threads: int, repack_weights: bool) -> ChildOutcome:
    """Decode one message in a child process and report how it ended."""
    argv = [sys.executable, "-m", "stream.student.self_test", str(model_path), str(n_threads), str(int(repack_weights))]
    started = time.perf_counter()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        stdout = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return ChildOutcome(-int(signal.SIGKILL), _system_info(stdout), "timed out", CHILD_TIMEOUT_S)
    tail = "\n".join(done.stderr.strip().splitlines()[-STDERR_TAIL_LINES:])
    return ChildOutcome(done.returncode, _system_info(done.stdout), tail, time.perf_counter() - started)


def failure_message(model: ModelFile, outcome: ChildOutcome) -> str:
    """The one error line: what happened, on which CPU, with which build, and the fix."""
    if outcome.stderr_tail == "timed out":
        what = f"did not finish within {CHILD_TIMEOUT_S:.0f} s"
    elif outcome.returncode < 0:
        what = f"crashed with {_signal_name(-outcome.returncode)}"
    else:
        last = outcome.stderr_tail.splitlines()[-1] if outcome.stderr_tail else "no error output"
        what = f"failed with exit status {outcome.returncode} ({last})"
    features = _enabled_features(outcome.system_info) if outcome.system_info else "unknown (it died before reporting)"
    return (
        f"llama.cpp self-test {what} while decoding one message of {model.path.name} on this CPU "
        f"({_cpu_name()}); build: {describe_build()}; the build's CPU features: {features}; "
        f"fix: {FIX.format(python=sys.executable)}"
    )


def describe_build() -> str:
    """Which llama-cpp-python build this environment has, and whether ops/llama_build.py made it."""
    marker = Path(sys.prefix) / BUILD_MARKER
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
        return f"llama-cpp-python {recorded['version']}, variant {recorded['variant']} from ops/llama_build.py"
    except (OSError, ValueError, KeyError):
        pass
    try:
        version = importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        version = "(not installed)"
    return f"llama-cpp-python {version}, not built by ops/llama_build.py (pip's default build is -march=native)"


def _record_pass(marker: Path, model: ModelFile, outcome: ChildOutcome) -> None:
    record = {
        "model": model.path.name,
        "model_sha256": model.sha256,
        "system_info": outcome.system_info,
        "build": describe_build(),
        "seconds": round(outcome.seconds, 3),
        "passed_at": datetime.now(UTC).isoformat(),
    }
    marker.parent.mkdir(parents=True, exist_ok=True)
    staging = marker.with_name(f"{marker.name}.{os.getpid()}.tmp")
    staging.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    staging.replace(marker)


def _library_digest() -> str:
    """Hash of llama_cpp's shared libraries, found without importing llama_cpp (importing may crash)."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        return "llama_cpp not installed"
    digest = hashlib.sha256()
    lib_dir = Path(next(iter(spec.submodule_search_locations))) / "lib"
    for library in sorted(lib_dir.glob("*.so*")):
        digest.update(library.name.encode())
        with library.open("rb") as stream:
            while block := stream.read(HASH_BLOCK_BYTES):
                digest.update(block)
    return digest.hexdigest()


def _cpuinfo_field(name: str) -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
    except OSError:
        return ""
    return next((line.partition(":")[2].strip() for line in lines if line.split(":")[0].strip() == name), "")


def _cpu_identity() -> str:
    return f"{_cpuinfo_field('model name')}|{_cpuinfo_field('flags')}"


def _cpu_name() -> str:
    name = _cpuinfo_field("model name") or "unknown CPU"
    has_amx = "amx_int8" in _cpuinfo_field("flags").split()
    return f"{name}, AMX {'present' if has_amx else 'absent'}"


def _system_info(stdout: str) -> str | None:
    return next(
        (line[len(SYSTEM_INFO_TAG) :] for line in stdout.splitlines() if line.startswith(SYSTEM_INFO_TAG)), None
    )


def _enabled_features(system_info: str) -> str:
    """`CPU : SSE3 = 1 | AVX = 0 | ...` -> `SSE3 ...` (the features compiled in and enabled)."""
    enabled = [part.split("=")[0].strip() for part in system_info.split("|") if part.strip().endswith("= 1")]
    return " ".join(name.split(":")[-1].strip() for name in enabled) or system_info.strip()


def _signal_name(number: int) -> str:
    try:
        return f"{signal.Signals(number).name} (signal {number})"
    except ValueError:
        return f"signal {number}"


def _inject_fault(kind: str) -> None:
    """Crash for real, as a broken build would: a null-pointer read (SIGSEGV) or abort() (SIGABRT)."""
    if kind == "abort":
        os.abort()
    ctypes.string_at(0)  # reads address 0: the kernel delivers SIGSEGV


def _child(argv: list[str]) -> int:
    faulthandler.enable()  # a crash leaves its Python stack on stderr, which the parent reports
    model_path, n_threads, repack = Path(argv[0]), int(argv[1]), argv[2] == "1"
    import llama_cpp  # noqa: PLC0415 - only the child loads llama.cpp
    import numpy as np  # noqa: PLC0415

    from stream.student.llama_context import ContextSettings, LlamaContext  # noqa: PLC0415

    sys.stdout.write(SYSTEM_INFO_TAG + llama_cpp.llama_print_system_info().decode(errors="replace") + "\n")
    sys.stdout.flush()
    fault = os.environ.get(FAULT_ENV)
    if fault:
        _inject_fault(fault)
    settings = ContextSettings(n_ctx=PROBE_CONTEXT, n_seq_max=2, n_threads=n_threads, repack_weights=repack)
    context = LlamaContext(model_path, settings)
    try:
        context.evaluate_prefix(context.tokenize(PROBE_PREFIX, parse_special=False, add_bos=True))
        logits = context.full_logits(context.tokenize(PROBE_MESSAGE, parse_special=False))
    finally:
        context.close()
    if not np.isfinite(logits).all():
        sys.stderr.write("the decode produced non-finite logits\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
