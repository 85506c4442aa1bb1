"""Runs `pld worker` as a real subprocess for end-to-end tests, with its own topics and consumer group."""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ops.redis import WORKER_USER

STOP_TIMEOUT_S = 60.0
# One decoding process unless a test asks for more (tests/integration/test_worker_processes.py): most tests
# watch one worker's log, exit status and health file.
ONE_PROCESS = {"PYTHONUNBUFFERED": "1", "PLD_WORKER_PROCESSES": "1"}
POLL_S = 0.2


@dataclass
class WorkerProcess:
    """A `pld worker` subprocess and the log file it writes."""

    env: dict[str, str]
    log_path: Path
    process: "subprocess.Popen[bytes] | None" = field(default=None)

    def start(self) -> None:
        """Launch the worker (it loads the model, then joins the consumer group)."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pld.cli", "worker"],
                env={**os.environ, **ONE_PROCESS, "PLD_REDIS_USERNAME": WORKER_USER, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def running(self) -> bool:
        """Whether the subprocess is alive."""
        return self.process is not None and self.process.poll() is None

    def wait_for_log(self, text: str, timeout_s: float) -> None:
        """Block until `text` appears in the log; fail if the worker exits or time runs out first."""
        deadline = time.monotonic() + timeout_s
        while text not in self.log():
            assert self.running, f"the worker exited before logging {text!r}:\n{self.log()}"
            assert time.monotonic() < deadline, f"no {text!r} within {timeout_s} s:\n{self.log()}"
            time.sleep(POLL_S)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM the worker and wait for it to exit; return its exit code (SIGKILL after `timeout_s`)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def timed_stop(self, timeout_s: float) -> tuple[int, float]:
        """SIGTERM and wait; return the exit code and how long the worker took to exit."""
        started = time.monotonic()
        code = self.stop(timeout_s)
        return code, time.monotonic() - started

    def log(self) -> str:
        """Everything the worker has logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
