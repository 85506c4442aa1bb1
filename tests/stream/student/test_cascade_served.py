"""The cascade on the real model: `pld eval`'s fitted cascade decides exactly as the one a worker builds.

Both students are the embedded Gemma here (the only model every test machine has), so the strong one
answers what the fast one would have: what is checked is the wiring: the threshold fitted on dev and
carried by the version, who decided each message, and that the served cascade repeats the evaluated one.
"""

import pytest
from structlog.testing import capture_logs

from distiller.cascade import run_cascade_system
from distiller.evaluation import EvalSplits
from distiller.examples import Example
from stream.prompts import starter_prompt
from stream.student import CascadeStudent, LlamaStudent, build_served_student, confident
from tests.conftest import StudentSettingsFactory

pytestmark = pytest.mark.model

TEXTS = [
    "Thanks for the help, have a great day!",
    "I will find where you live and hurt you.",
    "BUY CHEAP FOLLOWERS NOW!!! click the link",
    "What time does the library open on Sundays?",
    "you are a worthless idiot",
    "My grandmother's lasagna uses nutmeg.",
]
GOLD = ["allow", "block", "review", "allow", "block", "allow"]


def examples(split: str) -> list[Example]:
    suffix = "" if split == "dev" else " Thanks."
    return [Example(f"{split}-{n}", t + suffix, g) for n, (t, g) in enumerate(zip(TEXTS, GOLD, strict=True))]


def test_the_evaluated_cascade_is_the_served_cascade(student_settings: StudentSettingsFactory) -> None:
    settings = student_settings(n_ctx=4096, cascade_fast_student="gemma-270m")
    splits = EvalSplits("samples", examples("dev"), examples("test"))
    outcome = run_cascade_system("cascade", settings, starter_prompt(), splits)
    assert outcome.system is not None  # the same model in front of itself never costs quality: it is fitted
    served_prompt = outcome.system.prompt
    [threshold] = served_prompt.cascades
    assert threshold.dev_examples == len(TEXTS)
    assert threshold.dev_macro_f1 == threshold.dev_strong_macro_f1
    served = build_served_student(settings, served_prompt)
    try:
        assert isinstance(served, CascadeStudent)
        assert served.engine.cascade is not None
        assert served.engine.cascade.confidence == threshold.confidence
        again = served.classify([example.text for example in splits.test])
    finally:
        served.close()
    assert again == outcome.system.decisions  # labels, probabilities, cited rules and who decided
    assert all(result.decided_by is not None for result in again)
    assert outcome.fast_share == sum(confident(r, threshold.confidence) for r in again) / len(again)


def test_without_a_fitted_threshold_the_strong_student_serves_alone(student_settings: StudentSettingsFactory) -> None:
    settings = student_settings(n_ctx=4096, cascade_fast_student="gemma-270m")
    with capture_logs() as logs:
        served = build_served_student(settings, starter_prompt())
    try:
        assert isinstance(served, LlamaStudent)
        assert [r.decided_by for r in served.classify(TEXTS[:2])] == [None, None]
    finally:
        served.close()
    assert [log["event"] for log in logs if log["log_level"] == "warning"] == ["cascade_not_fitted"]
