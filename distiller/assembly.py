"""Assembly: instruction candidates -> a `PromptVersion` with stable ids, provenance, exemplars and a token budget.

An instruction's exemplars are chosen from its own supporting examples (gold label = its target, the
teacher right without a hint preferred, the shortest first), so the demonstrations the student sees
are evidence for the rule they sit under.
"""

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from distiller.abstraction import Candidate
from distiller.examples import Dataset, Example
from schemas import Exemplar, Instruction, InstructionProvenance, PromptVersion
from schemas.prompts import MAX_EXEMPLAR_CHARS
from stream.student import RULE_LETTERS

MAX_SUPPORTING_IDS = 20
MAX_EXCERPTS = 3
MAX_INSTRUCTIONS = len(RULE_LETTERS)  # the student letters its rules A..Z
CountTokens = Callable[[PromptVersion], int]


def baseline_prompt(prompt: PromptVersion, version: str) -> PromptVersion:
    """The matched baseline of `prompt`: the same task text, labels and descriptions, no instructions or
    exemplars, no calibration (the evaluation fits its own) and the worker's scoring mode (with no rules
    to check, rule-check would only ever answer the default label)."""
    content = prompt.model_dump(exclude={"sha256", "version", "instructions", "calibrations", "scoring_mode"})
    return PromptVersion.create(**content, version=version, instructions=[])


@dataclass(frozen=True)
class AssemblySettings:
    """How a prompt is put together from its candidates."""

    version: str
    teacher_id: str | None
    count_tokens: CountTokens
    budget_tokens: int
    examples: Mapping[str, Example]  # the training examples by id, for exemplars
    exemplars_per_rule: int = 1


def assemble(
    dataset: Dataset, candidates: Sequence[Candidate], settings: AssemblySettings
) -> tuple[PromptVersion, list[str]]:
    """The prompt version and notes on what the budget dropped. Rules are ordered by priority: purest first."""
    ordered = sorted(candidates, key=lambda c: (-c.pattern.purity, -c.pattern.support, c.text))
    notes = []
    if len(ordered) > MAX_INSTRUCTIONS:
        notes.append(f"kept the {MAX_INSTRUCTIONS} highest-priority of {len(ordered)} rules (lettering limit)")
        ordered = ordered[:MAX_INSTRUCTIONS]
    prompt = _prompt(dataset, ordered, settings)
    while ordered and settings.count_tokens(prompt) > settings.budget_tokens:
        weakest = min(ordered, key=lambda c: c.pattern.score)
        ordered.remove(weakest)
        notes.append(
            f"over the {settings.budget_tokens}-token budget: dropped '{weakest.text}' "
            f"(score {weakest.pattern.score:.2f})"
        )
        prompt = _prompt(dataset, ordered, settings)
    return prompt, notes


def exemplars_for(candidate: Candidate, examples: Mapping[str, Example], count: int) -> list[Exemplar]:
    """Up to `count` of the rule's own supporting examples whose gold label is its target."""
    hinted = {step.example_id for step in candidate.pattern.steps if step.rationalized}
    eligible = [
        examples[example_id]
        for example_id in sorted(candidate.example_ids)
        if example_id in examples
        and examples[example_id].label == candidate.target_label
        and len(examples[example_id].text) <= MAX_EXEMPLAR_CHARS
    ]
    eligible.sort(key=lambda example: (example.id in hinted, len(example.text), example.id))
    return [Exemplar(example_id=e.id, text=e.text, label=e.label) for e in eligible[:count]]


def category_for(candidate: Candidate, examples: Mapping[str, Example], dataset: Dataset) -> str | None:
    """The category the rule was mined in; else the taxonomy category most of the rule's supporting examples
    belong to, among the categories whose action is the rule's target (None without a taxonomy or without
    such examples)."""
    actions = {category.name: category.action for category in dataset.categories}
    if candidate.pattern.category in actions:
        return candidate.pattern.category
    votes = Counter(
        examples[example_id].category
        for example_id in candidate.example_ids
        if example_id in examples and actions.get(examples[example_id].category) == candidate.target_label
    )
    return min(votes, key=lambda name: (-votes[name], name)) if votes else None


def _prompt(dataset: Dataset, candidates: Sequence[Candidate], settings: AssemblySettings) -> PromptVersion:
    instructions = [
        Instruction.from_text(c.text, c.target_label, _provenance(c, settings)).model_copy(
            update={"category": category_for(c, settings.examples, dataset)}
        )
        for c in candidates
    ]
    return PromptVersion.create(
        version=settings.version,
        task=dataset.task,
        labels=dataset.labels,
        default_label=dataset.default_label,
        instructions=list({instruction.id: instruction for instruction in instructions}.values()),
        categories=dataset.categories,
    )


def _provenance(candidate: Candidate, settings: AssemblySettings) -> InstructionProvenance:
    pattern = candidate.pattern
    rationalized = sum(step.rationalized for step in pattern.steps)
    return InstructionProvenance(
        source="distilled",
        teacher=settings.teacher_id,
        supporting_example_ids=sorted(candidate.example_ids)[:MAX_SUPPORTING_IDS],
        rationale_excerpts=list(pattern.representative[:MAX_EXCERPTS]),
        support=len(candidate.example_ids),
        purity=round(pattern.purity, 4),
        notes=f"abstracted by {candidate.abstracted_by}; {rationalized} of {len(pattern.steps)} steps "
        "come from gold-hinted (rationalized) rationales",
        exemplars=exemplars_for(candidate, settings.examples, settings.exemplars_per_rule),
    )
