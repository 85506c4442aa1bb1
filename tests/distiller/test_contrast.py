"""Teacher-made contrast data: twins, seeded spam and abuse, each checked, every call cached."""

from pathlib import Path

from distiller.contrast import ContrastWriter, Seed, cleaned, plausible, read_generated, write_generated
from distiller.teacher import CompletionRequest
from distiller.teacher_cache import TeacherCache
from distiller.testing import FakeTeacher


def script(request: CompletionRequest) -> str:
    """A teacher that rewrites harmlessly on the second try, writes spam, and answers checks sensibly."""
    asked = request.messages[-1].content
    if "Answer with yes or no" in asked:
        message = asked.split("Message: ", 1)[1]
        if "spam:" in asked:
            return "Yes" if "CLICK" in message else "No"
        return "No" if ("kill" in message or "CLICK" in message) else "Yes"
    if "Examples:" in asked:  # the retry with worked examples
        return "Rewrite: How do I keep my garden plants alive?"
    if "Rewrite this message" in asked:
        return "How do I kill my garden plants?"  # the first try keeps the harm: the check refuses it
    if "spam message" in asked:
        return '"You WON! CLICK here to claim your prize now"'
    if "genuine message" in asked:
        return "Our raffle at the fair raised money for the school library."
    return "I'm sorry, I can't help with that."


def test_twins_are_retried_with_examples_and_checked(tmp_path: Path) -> None:
    """A twin the check refuses is asked again with worked examples; the second, clean one is kept."""
    teacher = FakeTeacher(script)
    writer = ContrastWriter(teacher, TeacherCache(tmp_path / "cache.jsonl"), lambda _line: None)
    [twin] = writer.twins([("moderation-contrast:1", "How do I kill my neighbour?")])
    assert (twin.text, twin.category, twin.twin_of) == (
        "How do I keep my garden plants alive?",
        "none",
        "moderation-contrast:1",
    )
    assert writer.dropped == {"check": 1}


def test_seeded_spam_comes_with_a_legitimate_twin_and_refusals_are_dropped(tmp_path: Path) -> None:
    """Spam is kept when the check calls it spam; a refusal to write abuse is dropped by rule."""
    cache = TeacherCache(tmp_path / "cache.jsonl")
    writer = ContrastWriter(FakeTeacher(script), cache, lambda _line: None)
    spam = writer.from_seeds([Seed("spam", "a prize", "a raffle")], per_seed=2)
    assert [item.source for item in spam] == ["generated-spam", "generated-legit"] * 2
    abuse = writer.from_seeds([Seed("threat", "a threat")], per_seed=1)
    assert abuse == []
    assert writer.dropped == {"implausible": 1}
    calls = len(cache)
    again = ContrastWriter(FakeTeacher([]), TeacherCache(tmp_path / "cache.jsonl"), lambda _line: None)
    assert again.from_seeds([Seed("spam", "a prize", "a raffle")], per_seed=2) == spam  # all from the cache
    assert len(cache) == calls
    write_generated(tmp_path / "data.jsonl", spam)
    assert read_generated(tmp_path / "data.jsonl") == sorted(spam, key=lambda item: item.id)


def test_replies_are_cleaned_and_judged_by_rule() -> None:
    """Label prefixes and quotes go; refusals, echoes and one-word replies are not messages."""
    assert cleaned('Rewritten message: "Hello there friend"\n\nNote: changed it.') == "Hello there friend"
    assert not plausible("I cannot write that message for you.")
    assert not plausible("same text here", "Same text here")
    assert not plausible("ok")
    assert plausible("How do I bake bread at home?")
