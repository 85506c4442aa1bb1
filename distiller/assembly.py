"""Assembly: instruction candidates -> a `PromptVersion` with stable ids, provenance and a token budget."""

from collections.abc import Callable, Sequence

from distiller.abstraction import Candidate
from distiller.examples import Dataset
from schemas import Instruction, InstructionProvenance, PromptVersion
from stream.student.prompt_format import RULE_LETTERS

MAX_SUPPORTING_IDS = 20
MAX_EXCERPTS = 3
MAX_INSTRUCTIONS = len(RULE_LETTERS)  # the student letters its rules A..Z
CountTokens = Callable[[PromptVersion], int]


def baseline_prompt(dataset: Dataset, version: str) -> PromptVersion:
    """The matched baseline: the task and label definitions, no instructions."""
    return PromptVersion.create(
        version=version, task=dataset.task, labels=dataset.labels, default_label=dataset.default_label, instructions=[]
    )


def assemble(
    dataset: Dataset,
    candidates: Sequence[Candidate],
    version: str,
    teacher_id: str | None,
    *,
    count_tokens: CountTokens,
    budget_tokens: int,
) -> tuple[PromptVersion, list[str]]:
    """The prompt version and notes on what the budget dropped. Rules are ordered by priority: purest first."""
    ordered = sorted(candidates, key=lambda c: (-c.pattern.purity, -c.pattern.support, c.text))
    notes = []
    if len(ordered) > MAX_INSTRUCTIONS:
        notes.append(f"kept the {MAX_INSTRUCTIONS} highest-priority of {len(ordered)} rules (lettering limit)")
        ordered = ordered[:MAX_INSTRUCTIONS]
    prompt = _prompt(dataset, ordered, version, teacher_id)
    while ordered and count_tokens(prompt) > budget_tokens:
        weakest = min(ordered, key=lambda c: c.pattern.score)
        ordered.remove(weakest)
        notes.append(
            f"over the {budget_tokens}-token budget: dropped '{weakest.text}' (score {weakest.pattern.score:.2f})"
        )
        prompt = _prompt(dataset, ordered, version, teacher_id)
    return prompt, notes


def _prompt(dataset: Dataset, candidates: Sequence[Candidate], version: str, teacher_id: str | None) -> PromptVersion:
    instructions = [Instruction.from_text(c.text, c.target_label, _provenance(c, teacher_id)) for c in candidates]
    return PromptVersion.create(
        version=version,
        task=dataset.task,
        labels=dataset.labels,
        default_label=dataset.default_label,
        instructions=list({instruction.id: instruction for instruction in instructions}.values()),
    )


def _provenance(candidate: Candidate, teacher_id: str | None) -> InstructionProvenance:
    pattern = candidate.pattern
    rationalized = sum(step.rationalized for step in pattern.steps)
    return InstructionProvenance(
        source="distilled",
        teacher=teacher_id,
        supporting_example_ids=sorted(candidate.example_ids)[:MAX_SUPPORTING_IDS],
        rationale_excerpts=list(pattern.representative[:MAX_EXCERPTS]),
        support=len(candidate.example_ids),
        purity=round(pattern.purity, 4),
        notes=f"abstracted by {candidate.abstracted_by}; {rationalized} of {len(pattern.steps)} steps "
        "come from gold-hinted (rationalized) rationales",
    )
