"""The whole distiller on small real data: real student embeddings and tokenizer, a scripted teacher."""

from pathlib import Path

import pytest

from distiller.eval_run import EvalSettings, run_eval
from distiller.pipeline import DistillSettings, distill
from distiller.teacher import CompletionRequest, TeacherKind
from distiller.testing import FakeTeacher
from pld.distill_parsers import MODES, TEACHERS
from schemas import PromptVersion, ScoringMode
from tests.conftest import StudentSettingsFactory
from tests.distiller.helpers import write_dataset

pytestmark = pytest.mark.model

REASONS = {
    "spam": "1. The text advertises a product or offer to strangers.\n2. It pushes the reader to act quickly.\n",
    "ham": "1. The text is an ordinary personal message between people.\n2. It asks the reader to buy nothing.\n",
}


def scripted(request: CompletionRequest) -> str:
    """Answers like a good teacher: reasons by the label the text shows, rules when asked to abstract."""
    prompt = request.messages[-1].content
    if "Write ONE general rule" in prompt:
        label = "spam" if "'spam'" in prompt else "ham"
        return (
            f"If the text advertises an offer, label it {label}."
            if label == "spam"
            else ("If the text is an ordinary personal message, label it ham.")
        )
    label = "spam" if any(word in prompt for word in ("free", "pills", "money")) else "ham"
    return REASONS[label] + f"Answer: {label}"


def settings(tmp_path: Path, student_settings: StudentSettingsFactory, data: Path) -> DistillSettings:
    return DistillSettings(
        dataset=str(data), out=tmp_path / "prompts" / "toy.json", version="toy-v1", cache_dir=tmp_path / "cache",
        student=student_settings(), teacher=TeacherKind.REPLAY, train_limit=20, min_support=2,
    )  # fmt: skip


def test_distill_writes_a_prompt_and_resumes_from_its_cache(
    tmp_path: Path, student_settings: StudentSettingsFactory
) -> None:
    """A run writes a valid prompt with provenance; a rerun asks the teacher nothing and yields the same ids."""
    config = settings(tmp_path, student_settings, write_dataset(tmp_path / "toy.jsonl"))
    teacher = FakeTeacher(replies=scripted)
    summary = distill(config, teacher)
    prompt = PromptVersion.model_validate_json(config.out.read_text())
    assert summary["instructions"] == len(prompt.instructions) >= 1
    assert all(i.provenance.source == "distilled" and i.provenance.support >= 2 for i in prompt.instructions)
    calls = len(teacher.calls)
    again = FakeTeacher(replies=scripted)
    distill(config, again)
    assert again.calls == []
    assert PromptVersion.model_validate_json(config.out.read_text()).sha256 == prompt.sha256
    assert calls > 0


def test_eval_reports_baseline_and_pld(tmp_path: Path, student_settings: StudentSettingsFactory) -> None:
    """`pld eval` writes the report, a summary with the agreed keys, and the calibrated version it evaluated."""
    data = write_dataset(tmp_path / "toy.jsonl")
    config = settings(tmp_path, student_settings, data)
    distill(config, FakeTeacher(replies=scripted))
    out = tmp_path / "report"
    out.mkdir()
    summary = run_eval(EvalSettings(
        dataset=str(data), prompt=config.out, out_dir=out, cache_dir=tmp_path / "cache", student=config.student,
        student_name="gemma-270m", teacher=None, with_ablation=True,
    ))  # fmt: skip
    for key in (
        "baseline_macro_f1",
        "baseline_ci",
        "pld_macro_f1",
        "pld_ci",
        "teacher_macro_f1",
        "gap_closed",
        "n_test",
    ):
        assert key in summary
    assert (out / "report.md").exists()
    assert (out / "summary.json").exists()
    served = PromptVersion.model_validate_json((out / "prompt.json").read_text())
    assert summary["prompt_sha256"] == served.sha256
    assert len(served.calibrations) == 1
    assert served.calibrations[0].scoring_mode is config.student.scoring_mode
    assert len((out / "decisions.jsonl").read_text().splitlines()) == summary["n_test"]


def test_cli_choices_match_the_enums() -> None:
    """The light-weight CLI parser offers exactly the teachers and modes the pipeline knows."""
    assert set(TEACHERS) == {kind.value for kind in TeacherKind}
    assert set(MODES) == {mode.value for mode in ScoringMode}
