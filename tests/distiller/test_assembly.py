"""Assembly: stable ids, provenance, exemplars from the rule's own evidence, priority order and the token budget."""

from distiller.abstraction import Candidate
from distiller.assembly import AssemblySettings, CountTokens, assemble, baseline_prompt, category_for
from distiller.examples import Dataset, Example
from distiller.mining import Pattern, Step
from schemas import Category, LabelDefinition, PromptVersion
from stream.student import render_prefix
from tests.distiller.helpers import DATASET, pattern

EXAMPLES = {
    "a": Example("a", "The cat sat on the mat while the sun was shining all afternoon.", "unrelated"),
    "b": Example("b", "Cats nap.", "unrelated"),
    "c": Example("c", "Engineers are all boring.", "stereotype"),
    "d": Example("d", "Every engineer I met was dull, they are all like that.", "stereotype"),
    "e": Example("e", "Short.", "unrelated"),  # supports the stereotype rule but has another gold label
}


def candidates() -> list[Candidate]:
    return [
        Candidate(
            "If the sentence is off topic, label it unrelated.",
            "unrelated",
            pattern("x", "unrelated", ["a", "b"], 0.6),
            "teacher",
        ),
        Candidate(
            "If the sentence generalises, label it stereotype.",
            "stereotype",
            pattern("y", "stereotype", ["c", "d", "e"]),
            "fallback",
        ),
    ]


def words(prompt: PromptVersion) -> int:
    return sum(len(instruction.text.split()) for instruction in prompt.instructions) + len(prompt.task.split())


def settings(teacher: str | None = "teacher-x", count: CountTokens = words, budget: int = 1000) -> AssemblySettings:
    return AssemblySettings("v1", teacher, count, budget, EXAMPLES)


def test_ids_are_stable_and_provenance_is_filled() -> None:
    """The same candidates give the same ids and sha256 on every run, with their evidence attached."""
    first, _ = assemble(DATASET, candidates(), settings())
    second, _ = assemble(DATASET, list(reversed(candidates())), settings())
    assert first.sha256 == second.sha256
    assert [i.target_label for i in first.instructions] == ["stereotype", "unrelated"]  # purest first
    provenance = first.instructions[0].provenance
    assert (provenance.source, provenance.teacher, provenance.support) == ("distilled", "teacher-x", 3)
    assert provenance.supporting_example_ids == ["c", "d", "e"]


def test_exemplars_are_the_rules_own_shortest_matching_examples() -> None:
    """Each rule shows its shortest supporting example whose gold label is the rule's, as a demonstration."""
    prompt, _ = assemble(DATASET, candidates(), settings())
    exemplars = {i.target_label: [(e.example_id, e.label) for e in i.provenance.exemplars] for i in prompt.instructions}
    assert exemplars == {"stereotype": [("c", "stereotype")], "unrelated": [("b", "unrelated")]}
    prefix = render_prefix(prompt)
    assert "Message:\nEngineers are all boring.<end_of_turn>\n<start_of_turn>model\nLabel: stereotype" in prefix


def test_budget_drops_the_weakest_rule() -> None:
    """Over the budget, the lowest-scored rule goes first and the drop is noted."""
    full, _ = assemble(DATASET, candidates(), settings())
    budget = words(baseline_prompt(full, "b")) + 8
    prompt, notes = assemble(DATASET, candidates(), settings(teacher=None, budget=budget))
    assert [i.target_label for i in prompt.instructions] == ["stereotype"]
    assert "budget" in notes[0]


def test_baseline_is_the_prompt_without_instructions() -> None:
    """The matched baseline keeps the prompt's own task text and labels and drops instructions and exemplars."""
    full, _ = assemble(DATASET, candidates(), settings())
    baseline = baseline_prompt(full, "base")
    assert (baseline.instructions, baseline.label_names, baseline.task) == ([], full.label_names, full.task)
    assert "Label:" not in render_prefix(baseline)


def test_a_rule_names_the_category_most_of_its_evidence_belongs_to() -> None:
    """With a taxonomy, a rule mined in a category names it; otherwise its supporting examples' majority among
    matching actions."""
    dataset = Dataset(
        name="tax",
        task="t",
        labels=[LabelDefinition(name="allow", description="a"), LabelDefinition(name="block", description="b")],
        default_label="allow",
        categories=[
            Category(name="threat", action="block", description="x"),
            Category(name="spam", action="block", description="y"),
        ],
    )
    examples = {
        "a": Example("a", "I will hurt you", "block", category="threat"),
        "b": Example("b", "buy now", "block", category="spam"),
        "c": Example("c", "you are next", "block", category="threat"),
        "d": Example("d", "hello", "allow", category="none"),
    }

    steps = tuple(Step("s", example_id, examples[example_id].label, False) for example_id in "abcd")
    pooled = Candidate("If x, label it block.", "block", Pattern(steps, ("s",), "block", 4, 0.75), "teacher")
    assert category_for(pooled, examples, dataset) == "threat"
    mined_in_spam = Candidate(
        "If x, label it block.", "block", Pattern(steps, ("s",), "block", 4, 1, "spam"), "teacher"
    )
    assert category_for(mined_in_spam, examples, dataset) == "spam"  # the category it was mined in wins
