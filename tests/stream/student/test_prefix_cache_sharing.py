"""Two processes share one prefix-cache directory: neither deletes nor corrupts the other's entries."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stream.student.prefix_cache import CANARY_SUFFIX, META_SUFFIX, STATE_SUFFIX

pytestmark = pytest.mark.model
PROCESS_TIMEOUT_S = 600


def test_two_processes_share_a_cache_directory(tmp_path: Path) -> None:
    """Both save their entries concurrently; on a second pass every entry restores, and every entry is whole."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.prefix_cache_user", str(tmp_path), tag],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("left", "right")
    ]
    results = [process.communicate(timeout=PROCESS_TIMEOUT_S) for process in processes]
    for process, (_out, err) in zip(processes, results, strict=True):
        assert process.returncode == 0, err
    for out, _err in results:
        first, second = json.loads(out)
        assert set(first) == {"computed"}
        assert set(second) == {"restored"}
    entries = [path.name.removesuffix(META_SUFFIX) for path in tmp_path.glob(f"*{META_SUFFIX}")]
    assert len(entries) == 6
    for stem in entries:
        assert (tmp_path / f"{stem}{STATE_SUFFIX}").stat().st_size > 0
        assert (tmp_path / f"{stem}{CANARY_SUFFIX}").stat().st_size > 0
