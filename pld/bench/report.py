"""Runs a benchmark and prints its figures: a table for people, `--json` for machines."""

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from pld.bench.engine import EngineBenchSettings, run_engine_bench
from stream.student.settings import StudentSettings


def run_bench(target: str, settings: StudentSettings, *, as_json: bool) -> int:
    """Measure `target` (only "engine" today) and print the figures."""
    if target != "engine":
        raise ValueError(f"unknown benchmark {target!r}")
    figures = run_engine_bench(EngineBenchSettings(settings))
    if as_json:
        sys.stdout.write(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    else:
        _print_table(figures)
    return 0


def _print_table(figures: dict[str, Any]) -> None:
    table = Table(title="pld bench engine")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in figures.items():
        table.add_row(name, f"{value:.4g}" if isinstance(value, float) else str(value))
    Console().print(table)
