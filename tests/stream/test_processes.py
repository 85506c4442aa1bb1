"""How `pld worker` splits a machine between decoding processes, and what each child is told."""

from pathlib import Path

from stream.processes import AUTO, ProcessPlan, available_memory_bytes, child_environment, plan_processes

GIB = 1024**3
MODEL = GIB  # a 1 GiB model file


def test_auto_runs_one_single_threaded_process_per_core() -> None:
    """Two cores, four partitions, plenty of memory: two processes of one thread each."""
    plan = plan_processes(cores=2, requested=AUTO, partitions=4, model_bytes=MODEL, memory_bytes=24 * GIB, threads=None)
    assert (plan.processes, plan.threads) == (2, 1)


def test_auto_never_runs_more_processes_than_partitions() -> None:
    """A consumer beyond the partition count would idle: 16 cores, 4 partitions make 4 processes of 4 threads."""
    plan = plan_processes(
        cores=16, requested=AUTO, partitions=4, model_bytes=MODEL, memory_bytes=64 * GIB, threads=None
    )
    assert (plan.processes, plan.threads) == (4, 4)
    assert "partitions (4)" in plan.reason


def test_auto_runs_only_as_many_processes_as_memory_holds() -> None:
    """Each process holds its own repacked weights: 3.5 GiB free holds two 1 GiB models, not eight."""
    plan = plan_processes(
        cores=8, requested=AUTO, partitions=8, model_bytes=MODEL, memory_bytes=3 * GIB + GIB // 2, threads=None
    )
    assert (plan.processes, plan.threads) == (2, 4)


def test_auto_still_runs_one_process_when_memory_looks_short() -> None:
    """Too little free memory for even one model is the kernel's call to make, not a reason to run nothing."""
    plan = plan_processes(cores=4, requested=AUTO, partitions=4, model_bytes=MODEL, memory_bytes=GIB // 2, threads=None)
    assert plan.processes == 1


def test_explicit_settings_win_over_the_plan() -> None:
    """PLD_WORKER_PROCESSES and PLD_N_THREADS are taken as given, even past the core count."""
    plan = plan_processes(cores=2, requested=3, partitions=4, model_bytes=MODEL, memory_bytes=None, threads=2)
    assert (plan.processes, plan.threads) == (3, 2)


def test_each_child_gets_one_process_its_threads_its_id_and_its_own_port_and_health_file() -> None:
    """Children never supervise in turn, never share a metrics port, a worker id or a health file."""
    plan = ProcessPlan(processes=2, threads=1, reason="test")
    base = {"PLD_HEALTH_FILE": "/run/pld/health.json", "PLD_STUDENT": "qwen-1.5b"}
    first = child_environment(base, plan, 0, worker_id="host-7", metrics_port=9464)
    second = child_environment(base, plan, 1, worker_id="host-7", metrics_port=9464)
    assert first["PLD_WORKER_PROCESSES"] == second["PLD_WORKER_PROCESSES"] == "1"
    assert (first["PLD_N_THREADS"], first["PLD_STUDENT"]) == ("1", "qwen-1.5b")
    assert (first["PLD_WORKER_ID"], second["PLD_WORKER_ID"]) == ("host-7-0", "host-7-1")
    assert (first["PLD_METRICS_PORT"], second["PLD_METRICS_PORT"]) == ("9464", "9465")
    assert (first["PLD_HEALTH_FILE"], second["PLD_HEALTH_FILE"]) == ("/run/pld/health.json.0", "/run/pld/health.json.1")


def test_children_serve_no_metrics_when_the_port_is_off() -> None:
    """PLD_METRICS_PORT=0 stays 0 for every child rather than becoming ports 1, 2, ..."""
    env = child_environment({}, ProcessPlan(processes=2, threads=1, reason="test"), 1, worker_id="w", metrics_port=0)
    assert env["PLD_METRICS_PORT"] == "0"
    assert "PLD_HEALTH_FILE" not in env


def test_available_memory_is_read_from_meminfo(tmp_path: Path) -> None:
    """MemAvailable's kB become bytes; a machine without /proc/meminfo gives None (no memory cap)."""
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemAvailable:   2048 kB\n")
    assert available_memory_bytes(meminfo) == 2048 * 1024
    assert available_memory_bytes(tmp_path / "absent") is None
