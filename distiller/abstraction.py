"""Abstraction: each mined pattern becomes one short, general instruction with a target label.

The teacher is asked to generalise a pattern's representative steps into a single "If the ...,
label it X." rule; replies are cached like rationales. When the teacher is absent, unsure or its
reply fails the checks, a deterministic fallback builds the rule from the pattern's most central step.
Duplicates (near-identical rules for the same label and category) are merged; conflicts (rules that share most of
their supporting examples but point to different labels) keep the purer one.
"""

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from distiller.errors import TeacherError
from distiller.examples import Dataset
from distiller.mining import Embed, Pattern, centred_similarities
from distiller.rationales import CollectionStats, SampleSpec, cached_or_asked
from distiller.teacher import ChatMessage, Teacher
from distiller.teacher_cache import CacheKey, TeacherCache

MAX_RULE_WORDS = 40
MAX_RULE_TOKENS = 120
DUPLICATE_SIMILARITY = 0.9
DUPLICATE_WORD_OVERLAP = 0.5  # Jaccard of two conditions' content words at which they say the same thing
# Words every rule condition is built from: they say nothing about what the rule checks.
_FILLER_WORDS = (
    "a an the and or of to in on for with by any some its it is are be this that which who whether if "
    "message messages text asks ask asking contains contain containing includes including about mentions "
    "mention discusses discuss specific simple form type kind"
)
FILLER_WORDS = frozenset(_FILLER_WORDS.split())
CONFLICT_OVERLAP = 0.5
ABSTRACTION_SAMPLE = 1000  # sample_index used for abstraction calls in the teacher cache
SYSTEM = "You write concise, general annotation guidelines."
TEMPLATE = (
    "Task: {task}\n\nThese reasoning steps were used to justify the label '{label}':\n{steps}\n\n"
    "Write ONE general rule, at most {max_words} words, that captures the shared logic and that a reader can "
    "check on a new example. Do not mention specific people, places or names from the steps. "
    "Start with 'If the' and end with ', label it {label}.' Reply with the rule only."
)
# For a pattern mined within one category of a taxonomy: one concrete condition of that category.
CATEGORY_TEMPLATE = (
    "Task: {task}\n\nThese reasoning steps were used to decide that a message falls in the category '{category}' "
    "({description}), which gets the label '{label}':\n{steps}\n\n"
    "Write ONE specific rule, at most {max_words} words, for this category only. Name one concrete condition on "
    "what the message says or asks for (the kind of request, its target or its wording) that a reader can check on "
    "a new message. Never write a generic rule such as 'contains harmful or inappropriate content'. Do not mention "
    "specific people, places or names from the steps. Start with 'If the' and end with ', label it {label}.' "
    "Reply with the rule only."
)
NO_CATEGORY_DESCRIPTION = "none of the categories applies"
RULE_SHAPE = re.compile(r"^if (?P<condition>.+),\s*(?P<conclusion>[^,]+)$", re.IGNORECASE)
TEMPLATE_SHA256 = hashlib.sha256(f"{SYSTEM}\n{TEMPLATE}".encode()).hexdigest()
CATEGORY_TEMPLATE_SHA256 = hashlib.sha256(f"{SYSTEM}\n{CATEGORY_TEMPLATE}".encode()).hexdigest()


@dataclass
class Candidate:
    """An instruction candidate with the evidence behind it."""

    text: str
    target_label: str
    pattern: Pattern
    abstracted_by: str  # "teacher" or "fallback"
    merged_example_ids: set[str] = field(default_factory=set)

    @property
    def example_ids(self) -> set[str]:
        """Every example supporting this rule, merged duplicates included."""
        return set(self.pattern.example_ids) | self.merged_example_ids


def abstract(
    patterns: Sequence[Pattern], dataset: Dataset, teacher: Teacher | None, cache: TeacherCache | None
) -> list[Candidate]:
    """One candidate per pattern, from the teacher when it gives a valid rule, else from the fallback.

    Without a teacher (or without a cache to record its replies in) every rule is a fallback rule."""
    candidates = []
    for pattern in patterns:
        text = _from_teacher(pattern, dataset, teacher, cache) if teacher is not None and cache is not None else None
        by = "teacher" if text else "fallback"
        candidates.append(Candidate(text or fallback_rule(pattern), pattern.label, pattern, by))
    return candidates


def fallback_rule(pattern: Pattern) -> str:
    """A rule built from the most central step: deterministic, never empty."""
    step = pattern.representative[0].rstrip(" .")
    step = step[0].lower() + step[1:] if step[:2] != step[:2].upper() else step
    words = step.split()[:MAX_RULE_WORDS]
    return f"If {' '.join(words)}, label it {pattern.label}."


def merge(candidates: Sequence[Candidate], embed: Embed) -> tuple[list[Candidate], list[str]]:
    """Drop duplicates and conflicts, best-scored first; return the survivors and what was dropped, as notes.

    Duplicates are judged on the rules' conditions (without "If the" and ", label it X"): by the share of
    content words they have in common (`DUPLICATE_WORD_OVERLAP`: "asks for medical advice" and "is asking for
    medical advice, medication, or medical procedures"), or by the same centred cosine the miner groups steps
    with. Raw LM embeddings of any two rules of this shape are alike (the v4 run merged "asks for advice on
    how to communicate with a friend" into "asks about the causes of mental illness"), and even centred
    they rank "a simple question about a pharmacist" nearer "a simple greeting" than the two medical-advice
    rules to each other, so the cosine is kept only for near-identical wording."""
    ranked = sorted(candidates, key=lambda c: -c.pattern.score)
    if not ranked:
        return [], []
    conditions = [condition_of(c.text) for c in ranked]
    similarities = centred_similarities(embed(conditions))
    kept: list[int] = []
    notes: list[str] = []
    for i, candidate in enumerate(ranked):
        verdict = _clash(i, ranked, kept, similarities, conditions)
        if verdict is None:
            kept.append(i)
            continue
        other, kind = verdict
        if kind == "duplicate":
            ranked[other].merged_example_ids |= candidate.example_ids
        notes.append(f"dropped as {kind} of '{ranked[other].text}': '{candidate.text}'")
    return [ranked[i] for i in kept], notes


def condition_of(rule: str) -> str:
    """A rule's condition, lowercased, without "If the message/text" and ", label it X"."""
    match = RULE_SHAPE.match(rule.strip().rstrip("."))
    condition = (match["condition"] if match else rule).strip().lower()
    return re.sub(r"^the (message|text|sentence|post)\s+", "", condition)


def word_overlap(first: str, second: str) -> float:
    """Jaccard overlap of two conditions' content words (1.0 for two conditions of filler words only)."""
    words = [set(re.findall(r"[a-z]+", text.lower())) - FILLER_WORDS for text in (first, second)]
    union = words[0] | words[1]
    return len(words[0] & words[1]) / len(union) if union else 1.0


def _clash(
    i: int, ranked: Sequence[Candidate], kept: list[int], similarities: np.ndarray, conditions: Sequence[str]
) -> tuple[int, str] | None:
    for j in kept:
        same_label = ranked[i].target_label == ranked[j].target_label
        same_category = ranked[i].pattern.category == ranked[j].pattern.category  # hate is no duplicate of spam
        alike = (
            word_overlap(conditions[i], conditions[j]) >= DUPLICATE_WORD_OVERLAP
            or float(similarities[i, j]) >= DUPLICATE_SIMILARITY
        )
        if same_label and same_category and alike:
            return j, "duplicate"
        shared = ranked[i].example_ids & ranked[j].example_ids
        if not same_label and len(shared) >= CONFLICT_OVERLAP * len(ranked[i].example_ids):
            return j, "conflict"
    return None


def _from_teacher(pattern: Pattern, dataset: Dataset, teacher: Teacher, cache: TeacherCache) -> str | None:
    steps = "\n".join(f"- {step}" for step in pattern.representative)
    prompt, template_sha256 = _abstraction_prompt(pattern, dataset, steps)
    messages = [ChatMessage("system", SYSTEM), ChatMessage("user", prompt)]
    pattern_id = "pattern:" + hashlib.sha256(steps.encode()).hexdigest()[:16]
    key = CacheKey(teacher.id, pattern_id, template_sha256, ABSTRACTION_SAMPLE)
    spec = SampleSpec(ABSTRACTION_SAMPLE, temperature=0.0, seed=0)
    try:
        reply = cached_or_asked(
            teacher, cache, key, messages, spec, max_tokens=MAX_RULE_TOKENS, stats=CollectionStats()
        )
    except TeacherError:
        return None  # e.g. a replay without this pattern recorded: the fallback rule stands in
    return valid_rule(reply, pattern.label)


def _abstraction_prompt(pattern: Pattern, dataset: Dataset, steps: str) -> tuple[str, str]:
    """The prompt for one pattern and its template's sha256: the category prompt when it was mined in one."""
    if not pattern.category:
        prompt = TEMPLATE.format(task=dataset.task, label=pattern.label, steps=steps, max_words=MAX_RULE_WORDS)
        return prompt, TEMPLATE_SHA256
    descriptions = {category.name: category.description for category in dataset.categories}
    prompt = CATEGORY_TEMPLATE.format(
        task=dataset.task,
        category=pattern.category,
        description=descriptions.get(pattern.category, NO_CATEGORY_DESCRIPTION).rstrip("."),
        label=pattern.label,
        steps=steps,
        max_words=MAX_RULE_WORDS,
    )
    return prompt, CATEGORY_TEMPLATE_SHA256


def valid_rule(reply: str, label: str) -> str | None:
    """The rule in a teacher reply, rewritten as "If <condition>, label it <label>.", or None.

    The reply must hold a line "If <condition>, <conclusion>" whose conclusion names `label` (and not a
    longer label that contains it, such as anti_stereotype for stereotype)."""
    lines = [line.strip().strip("\"'`*") for line in reply.strip().splitlines() if line.strip()]
    for line in lines:
        match = RULE_SHAPE.match(re.sub(r"\s+", " ", line))
        if match and _names_label(match["conclusion"], label):
            condition = match["condition"].strip()
            if len(condition.split()) <= MAX_RULE_WORDS:
                return f"If {condition}, label it {label}."
    return None


def _names_label(conclusion: str, label: str) -> bool:
    spoken = label.replace("_", "[ _-]?")
    return re.search(rf"(?<![a-z_-]){spoken}(?![a-z_])", conclusion, re.IGNORECASE) is not None
