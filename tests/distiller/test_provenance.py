"""Every report and bench names its machine, build, commit and command."""

import re

from distiller.provenance import commit, run_provenance


def test_a_run_names_its_machine_build_commit_and_command() -> None:
    record = run_provenance()
    assert set(record) == {"date", "machine", "llama.cpp build", "llama_print_system_info", "commit", "command"}
    assert re.search(r"\d+ cores", record["machine"])
    assert "AVX" in record["llama_print_system_info"] or "NEON" in record["llama_print_system_info"]
    assert all(value for value in record.values())


def test_the_commit_is_this_checkout_or_says_unknown() -> None:
    assert re.fullmatch(r"[0-9a-f]{12}(\+changes)?|unknown", commit())
