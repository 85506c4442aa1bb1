"""The start-up self-test: a child that really crashes stops every command with one clear line."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stream.errors import SelfTestError
from stream.student import ModelFile, self_test
from stream.student.self_test import FAULT_ENV, SELF_TEST_DIR, ensure_model_runs, runtime_key


def test_a_segfaulting_child_becomes_one_clear_error_line(
    model_file: ModelFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A child killed by SIGSEGV yields one line naming the signal, the build's CPU features and the fix."""
    monkeypatch.setenv(FAULT_ENV, "segv")
    with pytest.raises(SelfTestError) as raised:
        ensure_model_runs(model_file, tmp_path, n_threads=1, repack_weights=True)
    message = str(raised.value)
    assert "\n" not in message
    assert "crashed with SIGSEGV (signal 11)" in message
    assert "the build's CPU features: " in message
    assert "AVX2" in message  # reported by the child before it died
    assert "ops/llama_build.py install" in message
    assert "PLD_REPACK_WEIGHTS=false" in message
    assert not (tmp_path / SELF_TEST_DIR).exists(), "a crash must never be remembered as a pass"


def test_an_aborting_child_is_named_too(model_file: ModelFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """abort() in native code (SIGABRT) is reported by its signal name."""
    monkeypatch.setenv(FAULT_ENV, "abort")
    with pytest.raises(SelfTestError, match=r"crashed with SIGABRT \(signal 6\)"):
        ensure_model_runs(model_file, tmp_path, n_threads=1, repack_weights=True)


@pytest.mark.model
def test_a_pass_is_recorded_and_reused(model_file: ModelFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real decode passes once; afterwards the recorded pass is trusted and no child runs."""
    monkeypatch.delenv(FAULT_ENV, raising=False)
    monkeypatch.setattr(self_test, "_passed_this_process", set())
    ensure_model_runs(model_file, tmp_path, n_threads=1, repack_weights=True)
    markers = list((tmp_path / SELF_TEST_DIR).glob("*.json"))
    assert [marker.stem for marker in markers] == [runtime_key(model_file, repack_weights=True)]

    def no_child(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the recorded pass should have been reused")

    monkeypatch.setattr(self_test, "_passed_this_process", set())
    monkeypatch.setattr(self_test, "run_child", no_child)
    ensure_model_runs(model_file, tmp_path, n_threads=1, repack_weights=True)


def test_the_key_separates_models_and_repacking(model_file: ModelFile) -> None:
    """Another model file or another repacking setting needs its own self-test."""
    other = ModelFile(path=model_file.path, sha256="0" * 64)
    assert runtime_key(model_file, repack_weights=True) != runtime_key(model_file, repack_weights=False)
    assert runtime_key(model_file, repack_weights=True) != runtime_key(other, repack_weights=True)


@pytest.mark.parametrize("command", [["worker"], ["bench", "engine"]])
def test_commands_stop_with_the_error_line_before_loading_the_model(command: list[str], tmp_path: Path) -> None:
    """`pld worker` and `pld bench` exit non-zero with the one line on stderr, before touching Kafka or the model."""
    env = {
        **os.environ,
        FAULT_ENV: "segv",
        "PLD_KAFKA_BOOTSTRAP": "127.0.0.1:1",
        "PLD_REDIS_URL": "redis://127.0.0.1:1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "pld.cli", *command], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 3, done.stderr
    error_lines = [line for line in done.stderr.splitlines() if line.startswith(f"pld {command[0]}: ")]
    assert len(error_lines) == 1, done.stderr
    assert "llama.cpp self-test crashed with SIGSEGV" in error_lines[0]
