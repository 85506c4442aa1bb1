"""Starting a `pld worker` subprocess on a benchmark's own topics, app id and Redis database."""

import os
import subprocess
import sys

from stream.settings import WorkerSettings


def start_bench_worker(
    settings: WorkerSettings,
    kafka: str,
    redis_url: str,
    topics: list[str],
    app_id: str,
    *,
    log_name: str | None = None,
    **extra: str,
) -> "subprocess.Popen[bytes]":
    """A worker reading `topics[0]` and writing decisions, dead letters and shadow records to the others;
    its log goes to `<cache>/<log_name or app_id>.log`."""
    env = {
        **os.environ,
        "PLD_KAFKA_BOOTSTRAP": kafka,
        "PLD_REDIS_URL": redis_url,
        "PLD_REQUESTS_TOPIC": topics[0],
        "PLD_DECISIONS_TOPIC": topics[1],
        "PLD_DLQ_TOPIC": topics[2],
        "PLD_SHADOW_TOPIC": topics[3],
        "PLD_APP_ID": app_id,
        "PLD_METRICS_PORT": "0",
        "PLD_CACHE_DIR": str(settings.cache_dir),
        "PLD_WORKER_PROCESSES": "1",  # one decoding process unless the bench asks for more
        **extra,
    }
    log = (settings.cache_dir / f"{log_name or app_id}.log").open("wb")
    return subprocess.Popen([sys.executable, "-m", "pld.cli", "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)
