"""`HealthFile`: the worker's health, written to a JSON file that `pld health` turns into an exit code.

States: `starting`, `ok`, `degraded` (a batch is being retried, the registry is unreachable),
`unhealthy` (the circuit breaker is open, no batch completes while requests wait), `stopped`. Each
part of the worker reports on its own `Component`; the worker's status is the worst of them, so a
successful batch cannot erase the registry's "unreachable". The file is rewritten atomically on every
change and at least every `HEARTBEAT_S`, so a reader can also tell a worker that died from one that
is merely quiet.
"""

import json
import os
import time
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

HEARTBEAT_S = 10.0
STALE_AFTER_S = 3 * HEARTBEAT_S


class HealthStatus(StrEnum):
    """What a worker says about itself."""

    STARTING = "starting"
    OK = "ok"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"
    STOPPED = "stopped"


HEALTHY = frozenset({HealthStatus.STARTING, HealthStatus.OK, HealthStatus.DEGRADED})
SEVERITY = {HealthStatus.OK: 0, HealthStatus.DEGRADED: 1, HealthStatus.UNHEALTHY: 2}
LIFECYCLE = frozenset({HealthStatus.STARTING, HealthStatus.STOPPED})


class Component(StrEnum):
    """Who reports a state: the worker's life cycle, its batches, the prompt registry, the progress watchdog."""

    WORKER = "worker"
    BATCHES = "batches"
    REGISTRY = "registry"
    PROGRESS = "progress"


class HealthFile:
    """One worker's health file."""

    def __init__(self, path: Path, worker_id: str) -> None:
        self.path = path
        self.worker_id = worker_id
        self._states: dict[Component, tuple[HealthStatus, str]] = {Component.WORKER: (HealthStatus.STARTING, "")}
        self._written_at = 0.0

    @property
    def status(self) -> HealthStatus:
        """`stopped` once stopped; else the worst state a component reports; else `starting` until the
        worker says it is ready or a batch has been handled (which it cannot do before it is started)."""
        lifecycle = self._states[Component.WORKER][0]
        if lifecycle is HealthStatus.STOPPED:
            return lifecycle
        others = [state for component, (state, _) in self._states.items() if component is not Component.WORKER]
        worst = max(others, key=lambda state: SEVERITY.get(state, 0), default=HealthStatus.OK)
        if worst is not HealthStatus.OK:
            return worst
        started = lifecycle is not HealthStatus.STARTING or Component.BATCHES in self._states
        return HealthStatus.OK if started else HealthStatus.STARTING

    @property
    def reason(self) -> str:
        """The reasons of every component that is not ok, worst first."""
        troubled = sorted(
            (pair for pair in self._states.values() if pair[0] not in LIFECYCLE | {HealthStatus.OK} and pair[1]),
            key=lambda pair: -SEVERITY.get(pair[0], 0),
        )
        return "; ".join(reason for _, reason in troubled)

    def state_of(self, component: Component) -> HealthStatus:
        """What one component last reported (`ok` if it never did)."""
        return self._states.get(component, (HealthStatus.OK, ""))[0]

    def set(self, status: HealthStatus, reason: str = "", component: Component = Component.BATCHES) -> None:
        """Record a component's state (life-cycle states belong to `WORKER`); rewrite the file when the
        worker's state changes or the heartbeat is due."""
        if status in LIFECYCLE:
            component = Component.WORKER
        before = (self.status, self.reason)
        self._states[component] = (status, reason)
        if (self.status, self.reason) != before or time.monotonic() - self._written_at >= HEARTBEAT_S:
            self.write()

    def heartbeat(self) -> None:
        """Rewrite the file if the heartbeat is due (the state is unchanged)."""
        if time.monotonic() - self._written_at >= HEARTBEAT_S:
            self.write()

    def write(self) -> None:
        """Write the current state (atomically); a full disk must not stop the worker."""
        record = {
            "worker_id": self.worker_id,
            "pid": os.getpid(),
            "status": self.status.value,
            "reason": self.reason,
            "updated_at": datetime.now(UTC).isoformat(),
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            staging = self.path.with_name(f"{self.path.name}.tmp-{uuid.uuid4().hex}")
            staging.write_text(json.dumps(record) + "\n", encoding="utf-8")
            staging.replace(self.path)
        except OSError:
            return
        self._written_at = time.monotonic()


def read_health(path: Path) -> dict[str, Any]:
    """A health file's record, with `healthy` (state is healthy and the heartbeat is fresh) added."""
    record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    age = (datetime.now(UTC) - datetime.fromisoformat(record["updated_at"])).total_seconds()
    stale = record["status"] != HealthStatus.STOPPED and age > STALE_AFTER_S
    record["age_s"] = round(age, 1)
    record["healthy"] = record["status"] in HEALTHY and not stale
    if stale:
        record["reason"] = f"no heartbeat for {age:.0f} s (worker gone?)"
    return record
