"""Runs `pld worker` as a real subprocess for end-to-end tests, with its own topics and consumer group."""

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

STOP_TIMEOUT_S = 60.0


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
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def running(self) -> bool:
        """Whether the subprocess is alive."""
        return self.process is not None and self.process.poll() is None

    def stop(self) -> int:
        """SIGTERM the worker and wait for it to exit; return its exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def log(self) -> str:
        """Everything the worker has logged so far."""
        return self.log_path.read_text(errors="replace")
