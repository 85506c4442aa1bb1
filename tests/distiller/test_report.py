"""The `pld eval` report: Markdown tables, PNG plots and the JSON summary."""

import json
from pathlib import Path

import pytest

from distiller.metrics import evaluate
from distiller.report import AblationRow, SystemResult, summary_json, write_report

LABELS = ["allow", "block"]
REPEAT = 10  # enough items that no bootstrap resample misses a class
GOLD = ["allow", "allow", "allow", "block", "block", "block"] * REPEAT
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def system(name: str, predicted: list[str], latency: float | None = 1.5) -> SystemResult:
    """A system evaluated on GOLD with scores that follow its predictions."""
    scores = [{p: 0.8, ("block" if p == "allow" else "allow"): 0.2} for p in predicted]
    return SystemResult(name, evaluate(GOLD, predicted, LABELS, scores, bootstrap=200), latency)


@pytest.fixture
def systems() -> list[SystemResult]:
    """A weak baseline, a good PLD student and a perfect teacher."""
    return [
        system("majority", ["allow"] * len(GOLD), latency=None),
        system("pld student", ["allow", "allow", "block", "block", "block", "block"] * REPEAT),
        system("teacher", GOLD, latency=900.0),
    ]


ABLATION = [
    AblationRow("i1", "Threats | violence are block", "block", 0.70, 0.13),
    AblationRow("i2", "Greetings are allow", "allow", 0.86, -0.03),
    AblationRow("i3", "Insults are block", "block", 0.60, 0.23),
]


def write(tmp_path: Path, systems: list[SystemResult], ablation: list[AblationRow] = ABLATION) -> Path:
    """Write a report for `systems` into tmp_path/out."""
    summary: dict[str, object] = {"dataset": "toy", "n_test": 60, "positive_share": 0.5}
    return write_report(tmp_path / "out", "Toy eval", summary, systems, ablation, ["a note"])


def test_report_writes_markdown_and_png_plots(tmp_path: Path, systems: list[SystemResult]) -> None:
    """The report is report.md plus real PNGs: macro-F1, one confusion matrix per system, ablation."""
    path = write(tmp_path, systems)
    assert path == tmp_path / "out" / "report.md"
    pngs = sorted(p.name for p in path.parent.glob("*.png"))
    assert pngs == [
        "ablation.png",
        "confusion-1-majority.png",
        "confusion-2-pld-student.png",
        "confusion-3-teacher.png",
        "macro_f1.png",
    ]
    assert all((path.parent / name).read_bytes().startswith(PNG_MAGIC) for name in pngs)
    markdown = path.read_text()
    assert all(f"]({name})" in markdown for name in pngs)


def test_report_markdown_has_systems_table_rows(tmp_path: Path, systems: list[SystemResult]) -> None:
    """Each system has a row with macro-F1 [CI], accuracy, AUC and latency to 3 decimals."""
    markdown = write(tmp_path, systems).read_text()
    teacher = systems[2].metrics
    assert markdown.startswith("# Toy eval\n")
    assert "| System | Macro-F1 [95% CI] | Accuracy | ROC AUC | Latency (ms/message) | Note |" in markdown
    assert "| teacher | 1.000 [1.000, 1.000] | 1.000 | 1.000 | 900.000 |  |" in markdown
    assert f"| majority | 0.333 [{systems[0].metrics.macro_f1_ci[0]:.3f}, " in markdown
    assert "| 0.500 | 0.500 | n/a |" in markdown  # majority: accuracy, AUC, no latency
    assert teacher.macro_f1 == 1.0


def test_report_markdown_has_per_class_confusion_ablation_and_notes(
    tmp_path: Path, systems: list[SystemResult]
) -> None:
    """Per-class tables, confusion tables (rows gold), the ablation sorted by delta and the notes appear."""
    markdown = write(tmp_path, systems).read_text()
    assert "| dataset | toy |" in markdown
    assert "| positive_share | 0.500 |" in markdown
    assert "| block | 0.000 | 0.000 | 0.000 | 30 |" in markdown  # majority never predicts block
    assert "| gold \\ predicted | allow | block |" in markdown
    assert "| allow | 20 | 10 |" in markdown  # pld student: a third of allow predicted as block
    ablation = [line.split(" | ")[0] for line in markdown.splitlines() if line.startswith("| i")]
    assert ablation == ["| i3", "| i1", "| i2"]
    assert "Threats \\| violence are block" in markdown
    assert "| i2 | allow | 0.860 | -0.030 |" in markdown
    assert "- a note" in markdown


def test_report_is_deterministic(tmp_path: Path, systems: list[SystemResult]) -> None:
    """Writing the same report twice gives byte-identical Markdown and plots."""
    first = write(tmp_path / "a", systems).parent
    second = write(tmp_path / "b", systems).parent
    for path in first.iterdir():
        assert path.read_bytes() == (second / path.name).read_bytes(), path.name


def test_report_without_ablation_skips_its_plot_and_section(tmp_path: Path, systems: list[SystemResult]) -> None:
    """No ablation rows means no ablation chart and no ablation table."""
    path = write(tmp_path, systems, ablation=[])
    assert not (path.parent / "ablation.png").exists()
    assert "ablation" not in path.read_text().lower()


def test_summary_json_compares_baseline_pld_and_teacher(systems: list[SystemResult]) -> None:
    """The summary carries the headline numbers, CIs, gap closed and is JSON-serialisable."""
    summary = summary_json(systems, "majority", "pld student", "teacher", n_test=60)
    baseline, pld = systems[0].metrics, systems[1].metrics
    assert summary["baseline_macro_f1"] == baseline.macro_f1
    assert summary["baseline_ci"] == list(baseline.macro_f1_ci)
    assert summary["pld_ci"] == list(pld.macro_f1_ci)
    assert summary["teacher_macro_f1"] == 1.0
    assert summary["teacher_ci"] == [1.0, 1.0]
    assert summary["gap_closed"] == pytest.approx((pld.macro_f1 - baseline.macro_f1) / (1.0 - baseline.macro_f1))
    assert summary["delta_macro_f1"] == pytest.approx(pld.macro_f1 - baseline.macro_f1)
    assert isinstance(summary["ci_disjoint"], bool)
    assert summary["n_test"] == 60
    assert json.loads(json.dumps(summary)) == summary


def test_summary_json_without_teacher(systems: list[SystemResult]) -> None:
    """Without a teacher system the teacher fields and gap closed are None."""
    summary = summary_json(systems[:2], "majority", "pld student", None, n_test=60)
    assert summary["teacher_macro_f1"] is None
    assert summary["teacher_ci"] is None
    assert summary["gap_closed"] is None


def test_summary_json_rejects_unknown_system(systems: list[SystemResult]) -> None:
    """Naming a system that was not evaluated is an error, not a silent None."""
    with pytest.raises(ValueError, match="no system named"):
        summary_json(systems, "missing", "pld student", None, n_test=60)
