"""`pld bench peers`: this project's engine beside llama.cpp's own server, the peer a user would pick instead.

Same machine, model file, prompt version (the shipped policy) and messages (the demo samples cycled, and
a mix of long messages), in one run:

- **engine**: the student as a worker serves it (isolated decoding, in batches of `BATCH`, in the decoding
  processes `pld worker` runs by default: one single-threaded process per core here), and the same engine
  as one process with every core (`engine_one_process`);
- **llama-server** (`ops/llama_server.py`: built from the llama.cpp our wheel vendors, same CPU options)
  with `--parallel N` slots and prompt caching, driven by N concurrent clients that post each message's
  cues (label, rule, category: exactly the tokens our engine decodes) as token ids, one after another so the
  slot's prompt cache holds the message for the later cues, and read the next token's top log-probabilities
  after each; our scorer turns them into a label with the same calibration and procedure, so the peers'
  labels are comparable with ours;
- **llama-cpp-python's server** (`python -m llama_cpp.server`, its defaults: one request at a time, the
  previous prompt's tokens reused, logits kept for every token as its log-probabilities need), posted the
  same prompt as text (`LlamaStudent.branch_texts`); it names tokens by their text, which our scorer maps back;
- **naive**: the whole prompt evaluated from scratch per message (the floor).

Each reports msgs/s, p50/p99 latency per message, CPU seconds per message and label agreement with the
engine; ratios are to the engine in the same run. `fraction_of_limit` compares the engine with what this
CPU's raw prefill rate allows for the tokens a message costs (stem and cues; the prefix is cached).
"""

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from ops.llama_build import CHOSEN_VARIANT
from ops.llama_server import build_server
from pld.bench.batches import BATCH, MS_PER_S, timed_labels
from pld.bench.engine_processes import run_engine_processes
from pld.bench.prefill_limit import prefill_limit
from pld.bench.quantiles import P99, quantile
from pld.traffic import sample_texts
from stream.processes import plan_for
from stream.prompts import default_prompt
from stream.settings import WorkerSettings
from stream.student import (
    LlamaStudent,
    WholePromptModel,
    build_student,
    checked_model_file,
)

MESSAGES = 64
LONG_MESSAGE_SHARE = 4  # every 4th message is a long one (a few demo messages joined)
SLOTS = (1, 2, 4)
NAIVE_MESSAGES = 3
# Candidate tokens outside the top N count as improbable (the scorer's floor). On the 270M base model some rule
# letters and category names rank below 4,000 of 262k tokens; Gemma's certain-action bound (P(allow) 0.039) then
# moves with the floored ones: with the top 64 the peer's labels agreed with the engine's on 3% of 32 messages,
# with 256 and with 1,000 on 97%. Above 256 the longer replies cost the peer rate and buy no agreement.
TOP_LOGPROBS = 256
SERVER_PORT = 18931
PYTHON_SERVER_PORT = 18932
SERVER_START_TIMEOUT_S = 180.0
REQUEST_TIMEOUT_S = 120.0


def peer_texts(count: int = MESSAGES) -> list[str]:
    """The demo samples cycled, every `LONG_MESSAGE_SHARE`-th one replaced by a long message."""
    short = sample_texts(count)
    return [" ".join(short[n : n + 6]) if n % LONG_MESSAGE_SHARE == 0 else text for n, text in enumerate(short)]


def run_peers_bench(settings: WorkerSettings, slots: Sequence[int] = SLOTS) -> dict[str, Any]:
    """Measure the engine, llama-server at each slot count and the naive path; return the figures."""
    texts = peer_texts()
    prompt = default_prompt()
    model = checked_model_file(settings)
    student = build_student(settings, prompt)
    try:
        one_process = _engine(student, texts)
        engine = _served_engine(settings, texts, student, model.path.stat().st_size, one_process)
        figures: dict[str, Any] = {"messages": len(texts), "threads": settings.n_threads, "engine": engine}
        figures["engine_one_process"] = one_process
        figures["engine_msgs_per_s"] = engine["msgs_per_s"]
        binary = build_server(os.environ.get("PLD_LLAMA_VARIANT", CHOSEN_VARIANT))
        peers = {}
        for n in slots:
            with PeerServer.llama_server(binary, model.path, settings.n_ctx * n, settings.n_threads, n) as server:
                peers[f"llama-server --parallel {n}"] = asyncio.run(
                    _drive(server, _label, student, texts, slots=n, engine=engine)
                )
        with PeerServer.llama_cpp_python(model.path, settings.n_ctx, settings.n_threads) as server:
            peers["llama-cpp-python server"] = asyncio.run(
                _drive(server, _label_from_text, student, texts, slots=1, engine=engine)
            )
        figures["peer_runs"] = peers
        tokens_per_msg = sum(student.decoded_token_count(text) for text in texts) / len(texts)
        whole_prompts = [student.branch_sequences(text)[0] for text in texts[:NAIVE_MESSAGES]]
    finally:
        student.close()
    layout = (engine["processes"], engine["threads_per_process"])
    figures |= prefill_limit(settings, whole_prompts[0], tokens_per_msg, engine["msgs_per_s"], layout)
    figures["naive"] = _naive(settings, whole_prompts)
    figures["peers"] = {name: run["msgs_per_s"] for name, run in peers.items()} | {
        "naive (whole prompt per message)": figures["naive"]["msgs_per_s"]
    }
    best = max(peers.values(), key=lambda run: run["msgs_per_s"])
    figures["best_peer"] = next(name for name, run in peers.items() if run is best)
    figures["engine_vs_best_peer"] = engine["msgs_per_s"] / best["msgs_per_s"]
    return figures


def _served_engine(
    settings: WorkerSettings, texts: list[str], student: LlamaStudent, model_bytes: int, one_process: dict[str, Any]
) -> dict[str, Any]:
    """The engine laid out as `pld worker` serves it here: its decoding processes (`stream/processes.py`), each
    deciding a share of equal decoded tokens; the one-process figure when the plan is one process."""
    plan = plan_for(settings, model_bytes)
    if plan.processes == 1:
        return one_process | {"processes": 1, "threads_per_process": settings.n_threads}
    served = run_engine_processes(settings, texts, plan.processes, plan.threads, student.decoded_token_count)
    same = sum(a == b for a, b in zip(served["labels"], one_process["labels"], strict=True)) / len(texts)
    return served | {"label_agreement_with_one_process": same}


def _engine(student: LlamaStudent, texts: list[str]) -> dict[str, Any]:
    student.classify(texts[:BATCH])  # warm-up
    cpu, started = time.process_time(), time.perf_counter()
    labels, latencies = timed_labels(student, texts)
    seconds = time.perf_counter() - started
    return {
        "msgs_per_s": len(texts) / seconds,
        **_latency(latencies),
        "cpu_s_per_msg": (time.process_time() - cpu) / len(texts),
        "labels": labels,
    }


class PeerServer:
    """A peer HTTP server on loopback for the length of a `with`: started, awaited on `health_path`, stopped."""

    def __init__(self, command: list[str], port: int, health_path: str) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self._command = command
        self._health_path = health_path
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in __exit__
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    def llama_server(cls, binary: Path, model: Path, n_ctx: int, n_threads: int, slots: int) -> "PeerServer":
        """`llama-server` with `slots` parallel slots and prompt caching."""
        command = [
            str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(SERVER_PORT),
            "-c", str(n_ctx), "-t", str(n_threads), "-tb", str(n_threads), "--parallel", str(slots),
            "--cache-prompt", "--swa-full", "--no-warmup", "-fa", "off",
        ]  # fmt: skip  # --swa-full: without it a sliding-window model (Gemma 3) re-reads the whole prompt each time
        return cls(command, SERVER_PORT, "/health")

    @classmethod
    def llama_cpp_python(cls, model: Path, n_ctx: int, n_threads: int) -> "PeerServer":
        """llama-cpp-python's own server (`python -m llama_cpp.server`), as its docs start it: one model, one
        request at a time, the previous prompt's tokens reused where the next one starts with them."""
        command = [
            sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
            "--port", str(PYTHON_SERVER_PORT), "--n_ctx", str(n_ctx), "--n_threads", str(n_threads),
            "--n_threads_batch", str(n_threads),
        ]  # fmt: skip
        return cls(command, PYTHON_SERVER_PORT, "/v1/models")

    def __enter__(self) -> "PeerServer":
        self.process = subprocess.Popen(self._command, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._log.seek(0)
                raise RuntimeError(f"{self._command[0]} exited: {self._log.read()[-2000:].decode(errors='replace')}")
            try:
                if httpx.get(f"{self.url}{self._health_path}", timeout=2.0).status_code == httpx.codes.OK:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"{self._command[0]} did not answer {self._health_path} within {SERVER_START_TIMEOUT_S:g} s")

    def __exit__(self, *_exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self._log.close()

    def cpu_seconds(self) -> float:
        """The server process's user + system CPU seconds so far (Linux /proc)."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


Label = Callable[[httpx.AsyncClient, LlamaStudent, str], Awaitable[str]]


async def _drive(
    server: PeerServer, label: Label, student: LlamaStudent, texts: list[str], *, slots: int, engine: dict[str, Any]
) -> dict[str, Any]:
    """`slots` concurrent clients, each posting one message's cues at a time and reading its `label`."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    labels: list[str] = [""] * len(texts)
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=server.url, timeout=REQUEST_TIMEOUT_S) as client:
        await label(client, student, texts[0])  # warm-up: the prefix enters the slot's cache

        async def worker() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                began = time.perf_counter()
                labels[n] = await label(client, student, texts[n])
                latencies.append((time.perf_counter() - began) * MS_PER_S)

        for n in range(len(texts)):
            queue.put_nowait(n)
        cpu, started = server.cpu_seconds(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(slots)))
        seconds = time.perf_counter() - started
        cpu_used = server.cpu_seconds() - cpu
    agree = sum(a == b for a, b in zip(labels, engine["labels"], strict=True)) / len(texts)
    return {
        "msgs_per_s": len(texts) / seconds,
        **_latency(latencies),
        "cpu_s_per_msg": cpu_used / len(texts),
        "label_agreement": agree,
        "engine_ratio": engine["msgs_per_s"] / (len(texts) / seconds),
    }


async def _label(client: httpx.AsyncClient, student: LlamaStudent, text: str) -> str:
    """The label our scorer gives to the server's next-token log-probabilities after each of the message's cues.

    The cues are posted one after another from the same client, so the slot that decoded the message's stem
    for the first cue holds it for the next ones (`cache_prompt`): each further cue costs its own tokens only,
    as in our engine, and the decision uses every cue our engine reads."""
    branch_logprobs = []
    for sequence in student.branch_sequences(text):
        body = {"prompt": sequence, "n_predict": 1, "n_probs": TOP_LOGPROBS, "cache_prompt": True, "temperature": 0}
        reply = await client.post("/completion", json=body)
        reply.raise_for_status()
        [first] = reply.json()["completion_probabilities"]
        branch_logprobs.append({entry["id"]: entry["logprob"] for entry in first["top_logprobs"]})
    return student.classify_from_logprobs(branch_logprobs).label


async def _label_from_text(client: httpx.AsyncClient, student: LlamaStudent, text: str) -> str:
    """The same for llama-cpp-python's server, which takes a text prompt and names tokens by their text."""
    branch_logprobs = []
    for prompt in student.branch_texts(text):
        body = {"prompt": prompt, "max_tokens": 1, "logprobs": TOP_LOGPROBS, "temperature": 0}
        reply = await client.post("/v1/completions", json=body)
        reply.raise_for_status()
        [first] = reply.json()["choices"][0]["logprobs"]["top_logprobs"]
        branch_logprobs.append(first)
    return student.classify_from_token_texts(branch_logprobs).label


def _naive(settings: WorkerSettings, whole_prompts: list[list[int]]) -> dict[str, Any]:
    """The whole prompt and message evaluated from an empty context, per message."""
    model = WholePromptModel(checked_model_file(settings).path, settings.n_ctx, settings.n_threads)
    try:
        started = time.perf_counter()
        for tokens in whole_prompts:
            model.evaluate(tokens)
        seconds = time.perf_counter() - started
    finally:
        model.close()
    return {"msgs_per_s": len(whole_prompts) / seconds}


def _latency(latencies_ms: list[float]) -> dict[str, float]:
    return {"p50_ms": quantile(latencies_ms, 0.5), "p99_ms": quantile(latencies_ms, P99)}
