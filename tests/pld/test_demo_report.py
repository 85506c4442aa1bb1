"""The demo's closing report reads like a moderator's: what was let through, what was held, and by which rule."""

from datetime import UTC, datetime

from rich.console import Console

from pld.demo import _print_report
from pld.traffic import Outputs
from schemas import ModelId, ModerationDecision, ScoringMode


def decision(
    request_id: str, label: str, category: str | None, rule: str | None, *, unsure: bool = False
) -> ModerationDecision:
    return ModerationDecision.model_construct(
        request_id=request_id, label=label, category=category, instruction_ids=[rule] if rule else [], unsure=unsure,
        prompt_version="v1", prompt_sha256="a" * 64, model_id=ModelId(file_name="m.gguf", sha256="b" * 64),
        probabilities={label: 1.0}, scoring_mode=ScoringMode.SINGLE_PASS, latency_ms=1.0, model_ms=1.0,
        batch_size=1, decided_at=datetime.now(UTC), worker_id="w1",
    )  # fmt: skip


def test_the_report_counts_each_kind_and_names_the_rules_that_held_messages() -> None:
    samples = [
        {"id": f"{kind}-{n}", "metadata": {"sample_kind": kind}}
        for kind, count in (("benign", 2), ("abusive", 2), ("spam", 1), ("borderline", 1))
        for n in range(count)
    ]
    decided = [
        decision("benign-0", "allow", None, None),
        decision("benign-1", "review", "profanity", "ins-p"),
        decision("abusive-0", "block", "threat", "ins-t"),
        decision("abusive-1", "block", "threat", "ins-t"),
        decision("spam-0", "allow", None, None),
        decision("borderline-0", "review", "threat", "ins-t", unsure=True),
    ]
    console = Console(record=True, width=200)
    outputs = Outputs(decisions=decided)
    _print_report(console, samples, {d.request_id: d for d in decided}, outputs, {"ins-t": "If it threatens, block."})
    text = console.export_text()
    assert "6 messages decided; 0 malformed records dead-lettered (none)" in text
    assert "allowed 2 · held for review 2 (1 of them a block the student was not sure of) · blocked 2" in text
    assert "benign 1/2 allowed · abusive 2/2 held · spam 0/1 held · borderline review 1" in text
    assert "held by category: threat 3, profanity 1" in text
    assert "rule ins-t decided 3 held messages: If it threatens, block." in text


def test_a_request_decided_twice_in_a_rebalance_is_counted_once_and_the_repeat_is_named() -> None:
    """At-least-once delivery: the repeat is reported as such, not as another decided message."""
    samples = [{"id": "benign-0", "metadata": {"sample_kind": "benign"}}]
    first, repeat = decision("benign-0", "allow", None, None), decision("benign-0", "allow", None, None)
    console = Console(record=True, width=200)
    _print_report(console, samples, {first.request_id: first}, Outputs(decisions=[first, repeat]), {})
    text = console.export_text()
    assert "1 messages decided" in text
    assert "decided by m.gguf 1; 1 repeated decisions from a rebalance" in text
