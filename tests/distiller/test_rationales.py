"""Teacher rationales: parsing the reply, the prompt the teacher reads, collecting and rationalizing samples."""

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

import distiller.rationales as rationales_module
from distiller.errors import TeacherError
from distiller.examples import Dataset, Example
from distiller.rationales import (
    RATIONALIZATION_SAMPLE_INDEX,
    SampleSpec,
    answered_label,
    collect_rationales,
    parse_answer,
    parse_steps,
    rationale_prompt,
    sample_rationale,
    template_sha256,
)
from distiller.teacher import CompletionRequest
from distiller.teacher_cache import CacheKey, TeacherCache
from distiller.testing import FakeTeacher
from schemas import Category, LabelDefinition

LABELS = ["stereotype", "anti_stereotype", "unrelated"]


def _reply(label: str) -> str:
    return f"1. The context names a group.\n2. The sentence says something about it.\nAnswer: {label}"


def _gold_of(request: CompletionRequest, examples: list[Example]) -> str:
    user = request.messages[-1].content
    return next(example.label for example in examples if example.text in user)


def scripted(examples: list[Example], answer: Callable[[CompletionRequest, str], str]) -> Callable[..., str]:
    """A reply script: `answer(request, gold)` picks the label the fake teacher concludes."""

    def script(request: CompletionRequest) -> str:
        return _reply(answer(request, _gold_of(request, examples)))

    return script


def _hinted(request: CompletionRequest) -> bool:
    return "The correct label is" in request.messages[-1].content


def _wrong(gold: str) -> str:
    return next(label for label in LABELS if label != gold)


# --- parsing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("1. thinking\nAnswer: stereotype", "stereotype"),
        ("Answer: Anti-Stereotype.", "anti_stereotype"),
        ("**Answer:** `anti stereotype`", "anti_stereotype"),
        ('answer: "UNRELATED"', "unrelated"),
        ("Answer: <stereotype>", "stereotype"),
        ("Final Answer: Anti_stereotype", "anti_stereotype"),
        ("Answer: stereotype\nWait, no.\nAnswer: unrelated", "unrelated"),
        ("Answer: the sentence is an anti-stereotype", "anti_stereotype"),
        ("Answer:\n\nunrelated", "unrelated"),
        ("6. Answer: stereotype", "stereotype"),
        ("It is clearly a stereotype.", None),
        ("Answer: maybe", None),
        ("Answer: stereotype or unrelated", None),
    ],
)
def test_parse_answer(reply: str, expected: str | None) -> None:
    """The label on the last Answer line is found despite case, punctuation, markup and separators."""
    assert parse_answer(reply, LABELS) == expected


def test_parse_steps_reads_numbered_lines() -> None:
    """Numbered lines become steps, continuation lines join their step, and the answer line is left out."""
    reply = "Let me think.\n1. The context is about nurses.\n   Most are women.\n2) **The sentence agrees.**\nAnswer: x"
    assert parse_steps(reply) == ["The context is about nurses. Most are women.", "The sentence agrees."]


def test_parse_steps_joins_headings_with_their_paragraph() -> None:
    """`Step N: heading` lines followed by a paragraph (Qwen's habit) become `heading: paragraph`."""
    reply = "Step 1: Analyze the context\nThe context names a nurse.\n\nStep 2: Decide\nIt is a stereotype.\nAnswer: x"
    assert parse_steps(reply) == ["Analyze the context: The context names a nurse.", "Decide: It is a stereotype."]


# --- prompt --------------------------------------------------------------------------------------


def test_rationale_prompt_carries_task_labels_text_and_format(dataset: Dataset, examples: list[Example]) -> None:
    """The user turn holds the task, every definition, the example text and the answer-line instruction."""
    system, user = rationale_prompt(dataset.task, dataset.labels, examples[0])
    assert system.role == "system"
    assert "annotator" in system.content
    assert dataset.task in user.content
    assert all(f"- {label.name}: {label.description}" in user.content for label in dataset.labels)
    assert examples[0].text in user.content
    assert "`Answer: <label>`" in user.content
    assert "numbered steps" in user.content


def test_rationale_prompt_with_hint_names_the_gold_label(dataset: Dataset, examples: list[Example]) -> None:
    """A hinted prompt tells the teacher the correct label and asks it to explain why."""
    _, user = rationale_prompt(dataset.task, dataset.labels, examples[1], hint="anti_stereotype")
    assert "The correct label is anti_stereotype. Explain step by step why" in user.content


def test_a_taxonomy_reaches_the_rationale_prompt_and_its_cache_key(dataset: Dataset, examples: list[Example]) -> None:
    """With categories, the teacher sees each one with its action and must name the deciding words and the
    category; the cache key changes with them, and stays as it was for a dataset without any."""
    categories = [Category(name="threat", action="block", description="Threats of violence.")]
    _, user = rationale_prompt(dataset.task, dataset.labels, examples[0], categories=categories, default_label="allow")
    assert "- threat (block): Threats of violence." in user.content
    assert "- none (allow): none of the above." in user.content
    assert "say which category they fall in" in user.content
    _, plain = rationale_prompt(dataset.task, dataset.labels, examples[0])
    assert "Categories" not in plain.content
    assert template_sha256(categories=True) != template_sha256()


def test_template_sha256_follows_the_wording(monkeypatch: pytest.MonkeyPatch) -> None:
    """Changing a template string changes the template hash (so cached replies to old wording are not reused)."""
    before = template_sha256()
    monkeypatch.setattr(rationales_module, "SYSTEM_TEMPLATE", "You are a different annotator.")
    template_sha256.cache_clear()
    try:
        assert template_sha256() != before
    finally:
        monkeypatch.undo()
        template_sha256.cache_clear()
    assert template_sha256() == before


# --- collection ----------------------------------------------------------------------------------


def test_collect_keeps_only_matching_samples(dataset: Dataset, examples: list[Example], tmp_path: Path) -> None:
    """Greedy sample 0 is right and sample 1 wrong: only sample 0 is kept, with its steps and teacher id."""
    teacher = FakeTeacher(scripted(examples, lambda req, gold: gold if req.temperature == 0.0 else _wrong(gold)))
    kept = collect_rationales(teacher, dataset, examples, TeacherCache(tmp_path / "c.jsonl"), progress=False)
    assert [(r.example_id, r.sample_index, r.predicted) for r in kept] == [
        ("ex-0", 0, "stereotype"),
        ("ex-1", 0, "anti_stereotype"),
        ("ex-2", 0, "unrelated"),
    ]
    assert all(r.steps == ["The context names a group.", "The sentence says something about it."] for r in kept)
    assert all(not r.rationalized and r.teacher_id == teacher.id for r in kept)
    assert [(c.temperature, c.seed) for c in teacher.calls[:2]] == [(0.0, 0), (0.7, 1)]
    assert len(teacher.calls) == 6


def test_collect_rationalizes_misses(dataset: Dataset, examples: list[Example], tmp_path: Path) -> None:
    """When no sample is right, one gold-hinted retry is kept and flagged rationalized, in the cache too."""
    teacher = FakeTeacher(scripted(examples, lambda req, gold: gold if _hinted(req) else _wrong(gold)))
    cache = TeacherCache(tmp_path / "c.jsonl")
    kept = collect_rationales(teacher, dataset, examples[:1], cache, samples_per_example=2, progress=False)
    assert len(kept) == 1
    assert kept[0].rationalized
    assert kept[0].sample_index == RATIONALIZATION_SAMPLE_INDEX
    assert kept[0].predicted == "stereotype"
    assert len(teacher.calls) == 3
    assert [record.rationalized for record in cache.records()] == [False, False, True]


def test_collect_without_rationalization_drops_misses(
    dataset: Dataset, examples: list[Example], tmp_path: Path
) -> None:
    """With rationalize_misses=False a missed example yields nothing and no hinted call is made."""
    teacher = FakeTeacher(scripted(examples, lambda _req, gold: _wrong(gold)))
    cache = TeacherCache(tmp_path / "c.jsonl")
    kept = collect_rationales(teacher, dataset, examples, cache, rationalize_misses=False, progress=False)
    assert kept == []
    assert not any(_hinted(call) for call in teacher.calls)


def test_rationalization_that_still_disagrees_is_dropped(
    dataset: Dataset, examples: list[Example], tmp_path: Path
) -> None:
    """A teacher told the answer that still concludes another label gives no rationale."""
    teacher = FakeTeacher(scripted(examples, lambda _req, gold: _wrong(gold)))
    kept = collect_rationales(teacher, dataset, examples[:1], TeacherCache(tmp_path / "c.jsonl"), progress=False)
    assert kept == []
    assert len(teacher.calls) == 3


@pytest.mark.parametrize("samples", [0, RATIONALIZATION_SAMPLE_INDEX + 1])
def test_collect_rejects_sample_counts_that_collide(dataset: Dataset, tmp_path: Path, samples: int) -> None:
    """No samples, or so many that an index reaches the rationalization slot, is refused up front."""
    with pytest.raises(ValueError, match="samples_per_example"):
        collect_rationales(
            FakeTeacher([]), dataset, [], TeacherCache(tmp_path / "c.jsonl"), samples_per_example=samples
        )


def test_rerun_with_everything_cached_calls_the_teacher_zero_times(
    dataset: Dataset, examples: list[Example], tmp_path: Path
) -> None:
    """A second run over the same cache file reproduces the rationales without one teacher call."""
    path = tmp_path / "c.jsonl"
    script = scripted(examples, lambda req, gold: gold if req.seed != 1 else _wrong(gold))
    first = collect_rationales(FakeTeacher(script), dataset, examples, TeacherCache(path), progress=False)
    again = FakeTeacher(script)
    second = collect_rationales(again, dataset, examples, TeacherCache(path), progress=False)
    assert again.calls == []
    assert second == first


def test_interrupted_run_resumes_with_only_the_missing_calls(
    dataset: Dataset, examples: list[Example], tmp_path: Path
) -> None:
    """A run that dies after 4 calls keeps them; the rerun asks exactly the 2 remaining prompts."""
    path = tmp_path / "c.jsonl"
    script = scripted(examples, lambda _req, gold: gold)
    dying = FakeTeacher(script, fail_after=4)
    with pytest.raises(TeacherError):
        collect_rationales(dying, dataset, examples, TeacherCache(path), progress=False)
    resumed = FakeTeacher(script)
    kept = collect_rationales(resumed, dataset, examples, TeacherCache(path), progress=False)
    assert len(resumed.calls) == 2
    assert examples[2].text in resumed.calls[0].messages[-1].content
    assert [(r.example_id, r.sample_index) for r in kept] == [(f"ex-{n}", s) for n in range(3) for s in (0, 1)]


def test_changed_example_text_is_asked_again(dataset: Dataset, examples: list[Example], tmp_path: Path) -> None:
    """A cached reply is reused only for the very prompt it answered; the newer line wins on reload."""
    path = tmp_path / "c.jsonl"
    teacher = FakeTeacher(["Answer: stereotype", "Answer: unrelated"])
    spec = SampleSpec.nth(0, 0.7)
    sample_rationale(teacher, dataset, examples[0], TeacherCache(path), spec)
    edited = Example(id=examples[0].id, text="Context: edited.\nSentence: edited.", label="stereotype")
    second = sample_rationale(teacher, dataset, edited, TeacherCache(path), spec)
    assert second.predicted == "unrelated"
    assert len(teacher.calls) == 2
    key = CacheKey(teacher.id, edited.id, template_sha256(), 0)
    assert TeacherCache(path).get(key) == "Answer: unrelated"


def test_an_answer_naming_a_category_means_its_action(dataset: Dataset) -> None:
    """A teacher shown a taxonomy sometimes answers the category ("Answer: none"): it counts as that category's
    label; without a taxonomy such an answer is no label at all."""
    taxonomy = replace(
        dataset,
        labels=[LabelDefinition(name="allow", description="a"), LabelDefinition(name="block", description="b")],
        default_label="allow",
        categories=[Category(name="threat", action="block", description="Threats of violence.")],
    )
    assert answered_label("1. A threat.\nAnswer: threat", taxonomy) == "block"
    assert answered_label("1. Harmless.\nAnswer: none", taxonomy) == "allow"
    assert answered_label("1. Harmless.\nAnswer: allow", taxonomy) == "allow"
    assert answered_label("1. A threat.\nAnswer: threat", dataset) is None
