"""Detached service processes: spawn, pid files, liveness, termination, waiting."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

POLL_INTERVAL_S = 0.25
TERMINATE_GRACE_S = 30.0
KILL_WAIT_S = 5.0
PROC_ROOT = Path("/proc")
STDIN_FD, STDOUT_FD, STDERR_FD = 0, 1, 2
LOG_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND
LOG_FILE_MODE = 0o644


def is_alive(pid: int) -> bool:
    """Return whether ``pid`` runs, reaping it first if it is our own exited child."""
    with contextlib.suppress(ChildProcessError):
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def command_line_contains(pid: int, marker: str) -> bool:
    """Return whether the command line of ``pid`` mentions ``marker``.

    Guards against a stale pid file whose pid was reused by an unrelated process.
    Where there is no procfs, the pid file is trusted.
    """
    cmdline = PROC_ROOT / str(pid) / "cmdline"
    try:
        raw = cmdline.read_bytes()
    except FileNotFoundError:
        return not PROC_ROOT.is_dir()
    return marker in raw.replace(b"\0", b" ").decode(errors="replace")


def live_pid(pid_file: Path, marker: str) -> int | None:
    """Return the pid recorded in ``pid_file`` if that process still runs as ours."""
    try:
        pid = int(pid_file.read_text(encoding="ascii").strip())
    except (FileNotFoundError, ValueError):
        return None
    if is_alive(pid) and command_line_contains(pid, marker):
        return pid
    return None


def spawn_detached(argv: Sequence[str], log_file: Path, pid_file: Path) -> int:
    """Start ``argv`` in its own session, output to ``log_file``; record and return its pid.

    Uses ``posix_spawn`` rather than ``subprocess.Popen``: the service outlives us, and a
    collected ``Popen`` of a running child warns (``ResourceWarning``), which test runs
    with ``-W error`` turn into failures. ``is_alive`` reaps the child if it exits early.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    file_actions = [
        (os.POSIX_SPAWN_OPEN, STDIN_FD, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, STDOUT_FD, str(log_file), LOG_OPEN_FLAGS, LOG_FILE_MODE),
        (os.POSIX_SPAWN_DUP2, STDOUT_FD, STDERR_FD),
    ]
    pid = os.posix_spawnp(argv[0], list(argv), os.environ, file_actions=file_actions, setsid=True)
    pid_file.write_text(f"{pid}\n", encoding="ascii")
    return pid


def terminate(pid: int, grace_s: float = TERMINATE_GRACE_S) -> None:
    """Send SIGTERM to ``pid``, wait up to ``grace_s``, then SIGKILL it."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if wait_for(lambda: not is_alive(pid), grace_s):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not is_alive(pid), KILL_WAIT_S)


def wait_for(
    condition: Callable[[], bool],
    timeout_s: float,
    give_up: Callable[[], bool] = lambda: False,
) -> bool:
    """Poll ``condition`` until it holds (True), or time runs out or ``give_up`` holds (False)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        if give_up():
            return False
        time.sleep(POLL_INTERVAL_S)
    return condition()


def tail(path: Path, lines: int = 40) -> str:
    """Return the last ``lines`` lines of a text file, or a note that it does not exist."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return f"<{path} does not exist>"
    return "\n".join(text.splitlines()[-lines:])


def matching_lines(path: Path, pattern: re.Pattern[str], limit: int) -> str:
    """Return the last ``limit`` lines of a text file that match ``pattern`` (empty if none)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join([line for line in text.splitlines() if pattern.search(line)][-limit:])


@contextlib.contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``lock_file`` (serialises concurrent starters)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
