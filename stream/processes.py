"""Several decoding processes per machine: how many, with how many threads, and a supervisor that runs them.

llama.cpp's threads spin while they wait for each other, so two single-threaded decoders on two cores
decide more than one decoder with two threads (docs/engine.md, "Processes per machine"). `pld worker`
therefore starts `processes` single-worker children by default, one consumer of the group each, and
splits the cores between them; `PLD_WORKER_PROCESSES` and `PLD_N_THREADS` override the plan.

The supervisor stays small on purpose: it forwards SIGTERM/SIGINT to every child and, when one child
exits on its own, stops the others and exits with that child's status, so the machine's own supervisor
(systemd, Kubernetes, compose) restarts the whole set as it would restart a single worker.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import structlog

from stream.settings import WorkerSettings

log = structlog.get_logger("stream.processes")

AUTO = 0
# A child's resident memory is about its model file (repacked weights are a private copy, not the shared
# page cache) plus its KV cache and Python: plan for one and a half model files per child.
MEMORY_PER_MODEL_BYTE = 1.5
POLL_S = 0.2
CHILD_ENV = "PLD_WORKER_PROCESSES"
SIGNAL_EXIT_BASE = 128


@dataclass(frozen=True)
class ProcessPlan:
    """How one machine's cores are split between decoding processes, and why."""

    processes: int
    threads: int
    reason: str


def usable_cores() -> int:
    """The cores this process may run on (a container's cpuset, not the host's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def available_memory_bytes(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """`MemAvailable` from /proc/meminfo, or None where there is no such file."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def plan_processes(
    *,
    cores: int,
    requested: int,
    partitions: int,
    model_bytes: int,
    memory_bytes: int | None,
    threads: int | None,
) -> ProcessPlan:
    """`requested` processes (AUTO: one per core, at most one per partition, as many as memory holds), each
    with `threads` threads (None: the cores shared out evenly)."""
    if requested != AUTO:
        processes, reason = requested, "PLD_WORKER_PROCESSES"
    else:
        by_memory = (
            cores if memory_bytes is None else max(1, int(memory_bytes // (model_bytes * MEMORY_PER_MODEL_BYTE)))
        )
        processes = max(1, min(cores, partitions, by_memory))
        limits = {"cores": cores, "partitions": partitions, "memory": by_memory}
        reason = "one per core, capped by " + ", ".join(f"{name} ({value})" for name, value in limits.items())
    per_process = threads if threads is not None else max(1, cores // processes)
    return ProcessPlan(processes=processes, threads=per_process, reason=reason)


def plan_for(settings: WorkerSettings, model_bytes: int) -> ProcessPlan:
    """The plan `pld worker` follows on this machine, for these settings and a model file of `model_bytes`."""
    if settings.worker_processes == 1:
        return ProcessPlan(processes=1, threads=settings.n_threads, reason="PLD_WORKER_PROCESSES")
    return plan_processes(
        cores=usable_cores(),
        requested=settings.worker_processes,
        partitions=settings.topic_partitions,
        model_bytes=model_bytes,
        memory_bytes=available_memory_bytes(),
        threads=settings.n_threads if "n_threads" in settings.model_fields_set else None,
    )


def child_environment(
    base: Mapping[str, str], plan: ProcessPlan, index: int, *, worker_id: str, metrics_port: int
) -> dict[str, str]:
    """Child `index`'s environment: one process, its share of threads, its own id, health file and port."""
    env = {**base, CHILD_ENV: "1", "PLD_N_THREADS": str(plan.threads), "PLD_WORKER_ID": f"{worker_id}-{index}"}
    env["PLD_METRICS_PORT"] = str(metrics_port + index) if metrics_port else "0"
    if base.get("PLD_HEALTH_FILE"):
        env["PLD_HEALTH_FILE"] = f"{base['PLD_HEALTH_FILE']}.{index}"
    return env


def _exit_status(returncode: int) -> int:
    """A child's status as a shell reports it: a child killed by signal N exits 128 + N."""
    return returncode if returncode >= 0 else SIGNAL_EXIT_BASE - returncode


class Supervisor:
    """Runs the children of a plan until a stop signal, or until one of them exits."""

    def __init__(self, plan: ProcessPlan, *, worker_id: str, metrics_port: int) -> None:
        self.plan = plan
        self.worker_id = worker_id
        self.metrics_port = metrics_port
        self.children: list[subprocess.Popen[bytes]] = []
        self.stopping = False

    def run(self) -> int:
        """Start every child, wait, stop them all; return the exit status (the first child's to exit)."""
        for stop_signal in (signal.SIGTERM, signal.SIGINT):
            signal.signal(stop_signal, self._on_stop_signal)
        for index in range(self.plan.processes):
            env = child_environment(
                os.environ, self.plan, index, worker_id=self.worker_id, metrics_port=self.metrics_port
            )
            self.children.append(subprocess.Popen([sys.executable, "-m", "pld.cli", "worker"], env=env))
        log.info("worker_processes_started", pids=[child.pid for child in self.children], threads=self.plan.threads)
        first = self._wait_for_first_exit()
        self._stop_all()
        statuses = [child.returncode for child in self.children]
        log.info("worker_processes_stopped", statuses=statuses)
        # a child's own exit decides the status; after a stop signal, the worst of the children's
        return _exit_status(first if first is not None else max(statuses, key=abs))

    def _wait_for_first_exit(self) -> int | None:
        """The status of the first child to exit by itself, or None once a stop signal came first."""
        while not self.stopping:
            for index, child in enumerate(self.children):
                status = child.poll()
                if status is not None:
                    log.error(
                        "worker_process_exited", index=index, pid=child.pid, status=status, why="stopping the rest"
                    )
                    return status
            time.sleep(POLL_S)
        return None

    def _stop_all(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.children:
            child.wait()  # each child forces its own exit after its stop deadline

    def _on_stop_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self.stopping = True
