"""Rule verification: a candidate enters a prompt only if its own condition leads to its own label.

The teacher is shown the task, the label definitions and the rule's condition alone (without the
"label it X" conclusion) and asked which label such a message gets. A rule whose condition reads as
another label ("If the text does not contain any harmful content, label it harmful.") is dropped,
with a note saying what the teacher read. Replies are cached like rationales.

With a taxonomy the check is stricter: the teacher is asked which *category* the condition describes,
and it must be the rule's own, or another category of the same action, under which the rule is then
filed (the teacher's reading is the check); and a generic rule, whose condition names nothing a reader can check
beyond "harmful" or "inappropriate" content, is dropped before any teacher is asked.

A label or category the miner found no well-supported logic for comes with a few ranked fallback rules
(`Pattern.fallback`); of those, only the best-ranked one that passes is kept.
"""

import hashlib
import re
from collections.abc import Sequence
from dataclasses import replace

from distiller.abstraction import RULE_SHAPE, Candidate
from distiller.errors import TeacherError
from distiller.examples import Dataset
from distiller.rationales import CollectionStats, SampleSpec, cached_or_asked, parse_answer
from distiller.teacher import ChatMessage, Teacher
from distiller.teacher_cache import CacheKey, TeacherCache

VERIFY_SAMPLE = 2000  # sample_index of verification calls in the teacher cache
MAX_VERIFY_TOKENS = 120
SYSTEM = "You are a careful content-moderation annotator."
TEMPLATE = (
    "Task: {task}\n\nLabels:\n{labels}\n\nSuppose a message has this property: {condition}.\n\n"
    "Which label fits such a message? Reason in one or two sentences, then end with a line "
    "`Answer: <label>` where <label> is one of: {names}."
)
TEMPLATE_SHA256 = hashlib.sha256(f"{SYSTEM}\n{TEMPLATE}".encode()).hexdigest()
CATEGORY_TEMPLATE = (
    "Task: {task}\n\nCategories:\n{categories}\n- none: none of the above\n\n"
    "Suppose a message has this property: {condition}.\n\n"
    "Which category fits such a message? Reason in one or two sentences, then end with a line "
    "`Answer: <category>` where <category> is one of: {names}."
)
CATEGORY_TEMPLATE_SHA256 = hashlib.sha256(f"{SYSTEM}\n{CATEGORY_TEMPLATE}".encode()).hexdigest()
NO_CATEGORY = "none"
# Words that say only that something is bad: a condition made of nothing else is not checkable.
_GENERIC_WORDS = (
    "a an the and or of to in on for with without by any some such this that it its is are be been being "
    "if message messages text texts post content contents contains contain containing includes include "
    "including has have having uses use using language material statement statements something anything "
    "harmful harm harms offensive inappropriate toxic negative bad unsafe problematic objectionable "
    "unacceptable acceptable appropriate potentially possibly may might could considered deemed seems "
    "violates violate violating policy policies guideline guidelines rules community standards type kind "
    "form nature clearly explicitly likely other others elements element aspects aspect information "
    "does do not no nothing neither nor doesn t isn"
)
GENERIC_WORDS = frozenset(_GENERIC_WORDS.split())
MIN_SPECIFIC_WORDS = 2


def verify(
    candidates: Sequence[Candidate], dataset: Dataset, teacher: Teacher | None, cache: TeacherCache | None
) -> tuple[list[Candidate], list[str]]:
    """The candidates whose condition the teacher reads as their target label, and notes on the others.

    Without a teacher (or a cache) nothing can be checked: every candidate passes, and a note says so."""
    notes = []
    if dataset.categories:
        generic = [
            candidate
            for candidate in candidates
            if is_generic(candidate.text) or restates_default(candidate.text, candidate.target_label, dataset)
        ]
        notes += [f"dropped as generic (nothing checkable): '{candidate.text}'" for candidate in generic]
        candidates = [candidate for candidate in candidates if candidate not in generic]
    if teacher is None or cache is None:
        return list(candidates), [*notes, "rules not verified: no teacher"]
    kept = []
    actions = {category.name: category.action for category in dataset.categories}
    for candidate in candidates:
        if dataset.categories and candidate.pattern.category:
            category = _category_of_condition(candidate, dataset, teacher, cache)
            mined_in = candidate.pattern.category
            if category is None or category == mined_in:
                kept.append(candidate)
                if category is None:
                    notes.append(f"kept unverified (the teacher gave no clear category): '{candidate.text}'")
            elif actions.get(category) == candidate.target_label:
                # Read as another category of the same action ("requests help with violence against people",
                # mined in dangerous, read as threat): the rule stands, filed where the teacher reads it.
                kept.append(replace(candidate, pattern=replace(candidate.pattern, category=category)))
                notes.append(
                    f"re-filed under {category} (mined in {mined_in}, the teacher reads it so): '{candidate.text}'"
                )
            else:
                notes.append(
                    f"dropped: the teacher reads the condition as {category}, not {mined_in}: '{candidate.text}'"
                )
            continue
        read_as = _label_of_condition(candidate, dataset, teacher, cache)
        if read_as is None or read_as == candidate.target_label:
            kept.append(candidate)
            if read_as is None:
                notes.append(f"kept unverified (the teacher gave no clear label): '{candidate.text}'")
        else:
            notes.append(f"dropped: the teacher reads the condition as {read_as}, not its label: '{candidate.text}'")
    return first_fallbacks(kept, notes), notes


def first_fallbacks(candidates: Sequence[Candidate], notes: list[str]) -> list[Candidate]:
    """`candidates` with only the best-ranked fallback of each mined group left (noted in `notes`): the others
    were kept only to stand in for it."""
    best: dict[str, tuple[int, Candidate]] = {}
    for candidate in candidates:
        if candidate.pattern.fallback is not None:
            group, rank = candidate.pattern.fallback
            if group not in best or rank < best[group][0]:
                best[group] = (rank, candidate)
    kept = []
    for candidate in candidates:
        fallback = candidate.pattern.fallback
        if fallback is None or best[fallback[0]][1] is candidate:
            kept.append(candidate)
        else:
            notes.append(f"not needed: '{best[fallback[0]][1].text}' stands in for {fallback[0]}: '{candidate.text}'")
    return kept


def is_generic(rule: str) -> bool:
    """Whether a rule's condition names fewer than `MIN_SPECIFIC_WORDS` words beyond "harmful content"."""
    match = RULE_SHAPE.match(rule.rstrip("."))
    condition = match["condition"] if match else rule
    words = {word for word in re.findall(r"[a-z]+", condition.lower()) if word not in GENERIC_WORDS}
    return len(words) < MIN_SPECIFIC_WORDS


NEGATED_CONDITION = re.compile(r"^(the (message|text) )?(does not|doesn't|do not|contains no|has no|is not|isn't)\b")


def restates_default(rule: str, target: str, dataset: Dataset) -> bool:
    """Whether a rule for the default label says only that the message is none of the bad things ("If the
    message does not contain any offensive language, sexual content or threats, label it allow"): the
    default label needs no rule for the absence of the others, and such a rule cites nothing."""
    match = RULE_SHAPE.match(rule.rstrip("."))
    condition = (match["condition"] if match else rule).strip().lower()
    return target == dataset.default_label and NEGATED_CONDITION.match(condition) is not None


def _category_of_condition(candidate: Candidate, dataset: Dataset, teacher: Teacher, cache: TeacherCache) -> str | None:
    names = [category.name for category in dataset.categories] + [NO_CATEGORY]
    prompt = CATEGORY_TEMPLATE.format(
        task=dataset.task,
        categories="\n".join(f"- {category.name}: {category.description}" for category in dataset.categories),
        condition=_condition(candidate),
        names=", ".join(names),
    )
    return _ask(candidate, (teacher, cache), prompt, CATEGORY_TEMPLATE_SHA256, names)


def _condition(candidate: Candidate) -> str:
    match = RULE_SHAPE.match(candidate.text.rstrip("."))
    return (match["condition"] if match else candidate.text).strip()


def _label_of_condition(candidate: Candidate, dataset: Dataset, teacher: Teacher, cache: TeacherCache) -> str | None:
    labels = "\n".join(f"- {label.name}: {label.description}" for label in dataset.labels)
    prompt = TEMPLATE.format(
        task=dataset.task, labels=labels, condition=_condition(candidate), names=", ".join(dataset.label_names)
    )
    return _ask(candidate, (teacher, cache), prompt, TEMPLATE_SHA256, dataset.label_names)


def _ask(
    candidate: Candidate, asked: tuple[Teacher, TeacherCache], prompt: str, template_sha256: str, names: list[str]
) -> str | None:
    """The teacher's answer (one of `names`) to a check of `candidate`, cached by the rule's text."""
    teacher, cache = asked
    rule_id = "rule:" + hashlib.sha256(candidate.text.encode()).hexdigest()[:16]
    key = CacheKey(teacher.id, rule_id, template_sha256, VERIFY_SAMPLE)
    messages = [ChatMessage("system", SYSTEM), ChatMessage("user", prompt)]
    try:
        reply = cached_or_asked(
            teacher, cache, key, messages, SampleSpec(VERIFY_SAMPLE, 0.0, 0), max_tokens=MAX_VERIFY_TOKENS,
            stats=CollectionStats(),
        )  # fmt: skip
    except TeacherError:
        return None  # a replay without this check recorded: the rule stays, unverified
    return parse_answer(reply, names)
