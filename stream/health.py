"""`HealthFile`: the worker's health, written to a JSON file that `pld health` turns into an exit code.

States: `starting`, `ok`, `degraded` (a batch is being retried), `unhealthy` (the circuit breaker is
open), `stopped`. The file is rewritten atomically on every change and at least every
`HEARTBEAT_S`, so a reader can also tell a worker that died from one that is merely quiet.
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


class HealthFile:
    """One worker's health file."""

    def __init__(self, path: Path, worker_id: str) -> None:
        self.path = path
        self.worker_id = worker_id
        self.status = HealthStatus.STARTING
        self.reason = ""
        self._written_at = 0.0

    def set(self, status: HealthStatus, reason: str = "") -> None:
        """Record a state; the file is rewritten when it changes or the heartbeat is due."""
        changed = (status, reason) != (self.status, self.reason)
        self.status, self.reason = status, reason
        if changed or time.monotonic() - self._written_at >= HEARTBEAT_S:
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
