"""The `pld eval` report: a Markdown file with tables, PNG plots beside it, and a JSON summary."""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from distiller.metrics import Interval, Metrics, gap_closed, intervals_disjoint

__all__ = ["AblationRow", "SystemResult", "summary_json", "write_report"]

REPORT_FILE = "report.md"
MACRO_F1_PLOT = "macro_f1.png"
ABLATION_PLOT = "ablation.png"
MISSING = "n/a"
_DPI = 100
_CELL_INCHES = 0.9
_MIN_FIGURE_INCHES = 4.0
_DARK_CELL_SHARE = 0.5  # annotate cells darker than this share of the maximum in white


@dataclass(frozen=True)
class SystemResult:
    """One evaluated system (baseline, PLD student, teacher...) and its cost per message."""

    name: str
    metrics: Metrics
    latency_ms_per_message: float | None
    note: str = ""


@dataclass(frozen=True)
class AblationRow:
    """Macro-F1 with one instruction removed; `delta` = full macro-F1 - `macro_f1_without` (> 0: it helps)."""

    instruction_id: str
    text: str
    target_label: str
    macro_f1_without: float
    delta: float


def write_report(  # noqa: PLR0917 - the `pld eval` caller's agreed positional signature
    out_dir: Path,
    title: str,
    dataset_summary: dict[str, object],
    systems: list[SystemResult],
    ablation: list[AblationRow],
    notes: list[str],
    *,
    sections: Sequence[list[str]] = (),
) -> Path:
    """Write `out_dir/report.md` and its PNG plots; return the Markdown path. Same input, same bytes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    confusion_plots = [f"confusion-{i}-{_slug(s.name)}.png" for i, s in enumerate(systems, start=1)]
    _plot_macro_f1(systems, out_dir / MACRO_F1_PLOT)
    for system, file_name in zip(systems, confusion_plots, strict=True):
        _plot_confusion(system, out_dir / file_name)
    if ablation:
        _plot_ablation(ablation, out_dir / ABLATION_PLOT)
    sections = [
        [f"# {title}"],
        _dataset_section(dataset_summary),
        _systems_section(systems),
        _per_class_section(systems),
        _confusion_section(systems, confusion_plots),
        _ablation_section(ablation),
        *sections,
        _notes_section(notes),
    ]
    path = out_dir / REPORT_FILE
    path.write_text("\n\n".join("\n".join(lines) for lines in sections if lines) + "\n", encoding="utf-8")
    return path


def summary_json(
    systems: list[SystemResult],
    baseline_name: str,
    pld_name: str,
    teacher_name: str | None,
    n_test: int,
) -> dict[str, object]:
    """The headline numbers as a JSON-ready dict: baseline vs PLD vs teacher, CIs, gap closed.

    `teacher_*` and `gap_closed` are None when no system is named `teacher_name`.
    """
    baseline = _find(systems, baseline_name).metrics
    pld = _find(systems, pld_name).metrics
    teacher = next((s.metrics for s in systems if s.name == teacher_name), None)
    return {
        "baseline_macro_f1": baseline.macro_f1,
        "baseline_ci": list(baseline.macro_f1_ci),
        "pld_macro_f1": pld.macro_f1,
        "pld_ci": list(pld.macro_f1_ci),
        "teacher_macro_f1": None if teacher is None else teacher.macro_f1,
        "teacher_ci": None if teacher is None else list(teacher.macro_f1_ci),
        "gap_closed": None if teacher is None else gap_closed(baseline.macro_f1, pld.macro_f1, teacher.macro_f1),
        "n_test": n_test,
        "ci_disjoint": intervals_disjoint(baseline.macro_f1_ci, pld.macro_f1_ci),
        "delta_macro_f1": pld.macro_f1 - baseline.macro_f1,
    }


def _find(systems: Iterable[SystemResult], name: str) -> SystemResult:
    """The system called `name`."""
    for system in systems:
        if system.name == name:
            return system
    raise ValueError(f"no system named {name!r}")


# Markdown


def _number(value: float | None) -> str:
    """A number with 3 decimals, or the missing marker."""
    return MISSING if value is None else f"{value:.3f}"


def _interval(interval: Interval) -> str:
    """`[low, high]` with 3 decimals."""
    return f"[{interval[0]:.3f}, {interval[1]:.3f}]"


def _cell(value: object) -> str:
    """A value made safe for one Markdown table cell (floats with 3 decimals)."""
    text = f"{value:.3f}" if isinstance(value, float) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """A Markdown table, one line per row."""
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def _image(alt: str, file_name: str) -> str:
    """A Markdown image link relative to the report."""
    return f"![{alt}]({file_name})"


def _dataset_section(summary: dict[str, object]) -> list[str]:
    """The dataset summary as a two-column table."""
    return ["## Dataset", "", *_table(["Field", "Value"], summary.items())]


def _systems_section(systems: list[SystemResult]) -> list[str]:
    """One row per system: macro-F1 [CI], accuracy, AUC, latency and note."""
    header = ["System", "Macro-F1 [95% CI]", "Accuracy", "ROC AUC", "Latency (ms/message)", "Note"]
    rows = [
        [
            s.name,
            f"{s.metrics.macro_f1:.3f} {_interval(s.metrics.macro_f1_ci)}",
            _number(s.metrics.accuracy),
            _number(s.metrics.auc),
            _number(s.latency_ms_per_message),
            s.note,
        ]
        for s in systems
    ]
    return ["## Systems", "", *_table(header, rows), "", _image("Macro-F1 per system", MACRO_F1_PLOT)]


def _per_class_section(systems: list[SystemResult]) -> list[str]:
    """Precision, recall, F1 and support per label, one table per system."""
    lines = ["## Per-class results"]
    for system in systems:
        rows = [
            [label, _number(c.precision), _number(c.recall), _number(c.f1), c.support]
            for label, c in ((label, system.metrics.per_class[label]) for label in system.metrics.labels)
        ]
        lines += ["", f"### {system.name}", "", *_table(["Label", "Precision", "Recall", "F1", "Support"], rows)]
    return lines


def _confusion_section(systems: list[SystemResult], plots: list[str]) -> list[str]:
    """Each system's confusion matrix (rows gold, columns predicted) and its heatmap."""
    lines = ["## Confusion matrices", "", "Rows are gold labels, columns predicted labels."]
    for system, plot in zip(systems, plots, strict=True):
        labels = system.metrics.labels
        rows = [[label, *counts] for label, counts in zip(labels, system.metrics.confusion, strict=True)]
        lines += ["", f"### {system.name}", "", *_table(["gold \\ predicted", *labels], rows)]
        lines += ["", _image(f"Confusion matrix: {system.name}", plot)]
    return lines


def _ablation_section(ablation: list[AblationRow]) -> list[str]:
    """Instructions sorted by how much removing them costs (largest delta first)."""
    if not ablation:
        return []
    header = ["Instruction", "Target label", "Macro-F1 without", "Delta macro-F1", "Text"]
    rows = [
        [r.instruction_id, r.target_label, _number(r.macro_f1_without), f"{r.delta:+.3f}", r.text]
        for r in _sorted_ablation(ablation)
    ]
    note = "Delta = full macro-F1 minus macro-F1 without the instruction; positive means the instruction helps."
    return ["## Instruction ablation", "", note, "", *_table(header, rows), "", _image("Ablation", ABLATION_PLOT)]


def _sorted_ablation(ablation: list[AblationRow]) -> list[AblationRow]:
    """Largest delta first, ties by instruction id so the order is stable."""
    return sorted(ablation, key=lambda r: (-r.delta, r.instruction_id))


def _notes_section(notes: list[str]) -> list[str]:
    """The notes as a bullet list."""
    if not notes:
        return []
    return ["## Notes", "", *(f"- {note}" for note in notes)]


def _slug(name: str) -> str:
    """A file-name-safe form of a system name."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "system"


# Plots


def _new_figure(width: float, height: float) -> Figure:
    """A figure drawn by the Agg canvas: no display, no pyplot global state."""
    figure = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: Path) -> None:
    """Write `figure` as a PNG without the version stamp, so output depends only on the data."""
    figure.savefig(path, format="png", metadata={"Software": None})


def _plot_macro_f1(systems: list[SystemResult], path: Path) -> None:
    """Bar chart of macro-F1 per system with asymmetric 95% CI error bars."""
    figure = _new_figure(max(_MIN_FIGURE_INCHES, _CELL_INCHES * 1.5 * len(systems)), _MIN_FIGURE_INCHES)
    axes = figure.add_subplot()
    scores = [s.metrics.macro_f1 for s in systems]
    # The percentile CI can sit slightly off the point estimate; matplotlib rejects negative error lengths.
    below = [max(0.0, f1 - s.metrics.macro_f1_ci[0]) for f1, s in zip(scores, systems, strict=True)]
    above = [max(0.0, s.metrics.macro_f1_ci[1] - f1) for f1, s in zip(scores, systems, strict=True)]
    positions = list(range(len(systems)))
    axes.bar(positions, scores, yerr=[below, above], capsize=6, color="tab:blue")
    axes.set_xticks(positions, [s.name for s in systems], rotation=20, ha="right")
    axes.set_ylim(0.0, 1.0)
    axes.set_ylabel("macro-F1 (95% CI)")
    axes.set_title("Macro-F1 per system")
    _save(figure, path)


def _plot_confusion(system: SystemResult, path: Path) -> None:
    """Heatmap of one confusion matrix, each cell annotated with its count."""
    labels = system.metrics.labels
    counts = system.metrics.confusion
    side = max(_MIN_FIGURE_INCHES, _CELL_INCHES * len(labels) + 1.5)
    figure = _new_figure(side, side)
    axes = figure.add_subplot()
    axes.imshow(counts, cmap="Blues")
    peak = max((max(row) for row in counts), default=0)
    for i, row in enumerate(counts):
        for j, count in enumerate(row):
            dark = peak > 0 and count > _DARK_CELL_SHARE * peak
            axes.text(j, i, str(count), ha="center", va="center", color="white" if dark else "black")
    ticks = list(range(len(labels)))
    axes.set_xticks(ticks, labels, rotation=30, ha="right")
    axes.set_yticks(ticks, labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("gold")
    axes.set_title(f"Confusion matrix: {system.name}")
    _save(figure, path)


def _plot_ablation(ablation: list[AblationRow], path: Path) -> None:
    """Horizontal bars of delta macro-F1 per instruction, largest at the top."""
    rows = _sorted_ablation(ablation)
    figure = _new_figure(6.0, max(_MIN_FIGURE_INCHES / 2, 0.4 * len(rows) + 1.0))
    axes = figure.add_subplot()
    positions = list(range(len(rows)))
    deltas = [r.delta for r in rows]
    axes.barh(positions, deltas, color=["tab:green" if d >= 0 else "tab:red" for d in deltas])
    axes.set_yticks(positions, [r.instruction_id for r in rows])
    axes.invert_yaxis()
    axes.axvline(0.0, color="black", linewidth=0.8)
    axes.set_xlabel("delta macro-F1 (full - without)")
    axes.set_title("Instruction ablation")
    _save(figure, path)
