"""Where a measured figure comes from: the date, the machine, the llama.cpp build, the commit and the command.

Every report `pld eval` writes and every `pld bench --json` carries this record, so a figure copied into
the docs can name its machine, commit and command (docs/results/).
"""

import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from stream.student import describe_build, llama_system_info

GIT_TIMEOUT_S = 5.0


def run_provenance() -> dict[str, str]:
    """This run's date, machine (CPU model, cores), llama.cpp build and CPU features, commit and command."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{cpu_model()}, {os.cpu_count() or 1} cores, {platform.machine()}",
        "llama.cpp build": describe_build(),
        "llama_print_system_info": llama_system_info(),
        "commit": commit(),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
    }


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux; the platform's processor string elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def commit() -> str:
    """The checkout's commit (with `+changes` when the tree differs from it), or `unknown` outside a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        head = _git(here, "rev-parse", "--short=12", "HEAD")
        dirty = _git(here, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}+changes" if dirty else head


def _git(where: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, check=True, timeout=GIT_TIMEOUT_S)
    return done.stdout.strip()
