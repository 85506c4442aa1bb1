"""Runs a benchmark and prints its figures: a table for people, `--json` for machines."""

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from distiller.provenance import run_provenance
from pld.bench.engine import EngineBenchSettings, run_engine_bench
from stream.settings import WorkerSettings


def run_bench(target: str, settings: WorkerSettings, *, as_json: bool, requests: int = 5000, processes: int = 0) -> int:
    """Measure `target` ("engine", "policy", "reload", "injection", "stream" or "peers") and print the figures."""
    if target == "engine":
        figures = run_engine_bench(EngineBenchSettings(settings))
    elif target == "policy":
        from pld.bench.policy import run_policy_bench  # noqa: PLC0415

        figures = run_policy_bench(settings)
    elif target == "injection":
        from pld.bench.injection import harmful_messages, run_injection_bench  # noqa: PLC0415
        from stream.prompts import default_prompt  # noqa: PLC0415

        figures = run_injection_bench(settings, default_prompt(), harmful_messages(settings.cache_dir))
    elif target == "stream":
        from pld.bench.stream import run_stream_bench  # noqa: PLC0415 - starts services: only when asked

        figures = run_stream_bench(settings, requests, processes)
    elif target == "peers":
        from pld.bench.peers import run_peers_bench  # noqa: PLC0415 - builds and starts llama-server: only when asked

        figures = run_peers_bench(settings)
    elif target == "reload":
        from pld.bench.reload import run_reload_bench  # noqa: PLC0415 - starts services: only when asked

        figures = run_reload_bench(settings)
    else:
        raise ValueError(f"unknown benchmark {target!r}")
    figures["provenance"] = run_provenance()  # the machine, build, commit and command behind the figures
    if as_json:
        sys.stdout.write(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    else:
        _print_table(figures)
    return 0


def _print_table(figures: dict[str, Any]) -> None:
    table = Table(title="pld bench")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in figures.items():
        table.add_row(name, f"{value:.4g}" if isinstance(value, float) else str(value))
    Console().print(table)
