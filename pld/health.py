"""`pld health`: read workers' health files and turn them into an exit code (for probes and scripts).

With `--file`, one worker's file decides. Without it, every file under `<cache>/health/` is listed;
workers that stopped cleanly, or whose last heartbeat is older than `GONE_AFTER_S`, are history and
do not count; the exit code is 0 only when at least one worker is live and every live one is healthy.
"""

import json
import sys
from pathlib import Path
from typing import Any

from stream.health import HealthStatus, read_health
from stream.settings import HEALTH_DIR, WorkerSettings

EXIT_UNHEALTHY = 1
GONE_AFTER_S = 3600.0


def run_health(settings: WorkerSettings, file: Path | None) -> int:
    """Print each worker's health as a JSON line; return the exit code."""
    paths = [file] if file is not None else sorted((settings.cache_dir / HEALTH_DIR).glob("*.json"))
    records = [_read(path) for path in paths]
    for record in records:
        sys.stdout.write(json.dumps(record) + "\n")
    live = records if file is not None else [record for record in records if _live(record)]
    if not live:
        sys.stderr.write(f"no live worker reports its health in {settings.cache_dir / HEALTH_DIR}\n")
        return EXIT_UNHEALTHY
    return 0 if all(record["healthy"] for record in live) else EXIT_UNHEALTHY


def _read(path: Path) -> dict[str, Any]:
    try:
        return {"file": str(path), **read_health(path)}
    except (OSError, ValueError, KeyError) as exc:
        return {"file": str(path), "status": "unknown", "healthy": False, "reason": f"unreadable: {exc}", "age_s": 0}


def _live(record: dict[str, Any]) -> bool:
    return record.get("status") != HealthStatus.STOPPED and float(record.get("age_s", 0)) < GONE_AFTER_S
