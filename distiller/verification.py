"""Rule verification: a candidate enters a prompt only if its own condition leads to its own label.

The teacher is shown the task, the label definitions and the rule's condition alone (without the
"label it X" conclusion) and asked which label such a message gets. A rule whose condition reads as
another label ("If the text does not contain any harmful content, label it harmful.") is dropped,
with a note saying what the teacher read. Replies are cached like rationales.
"""

import hashlib
from collections.abc import Sequence

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


def verify(
    candidates: Sequence[Candidate], dataset: Dataset, teacher: Teacher | None, cache: TeacherCache | None
) -> tuple[list[Candidate], list[str]]:
    """The candidates whose condition the teacher reads as their target label, and notes on the others.

    Without a teacher (or a cache) nothing can be checked: every candidate passes, and a note says so."""
    if teacher is None or cache is None:
        return list(candidates), ["rules not verified: no teacher"]
    kept, notes = [], []
    for candidate in candidates:
        read_as = _label_of_condition(candidate, dataset, teacher, cache)
        if read_as is None or read_as == candidate.target_label:
            kept.append(candidate)
            if read_as is None:
                notes.append(f"kept unverified (the teacher gave no clear label): '{candidate.text}'")
        else:
            notes.append(f"dropped: the teacher reads the condition as {read_as}, not its label: '{candidate.text}'")
    return kept, notes


def _label_of_condition(candidate: Candidate, dataset: Dataset, teacher: Teacher, cache: TeacherCache) -> str | None:
    match = RULE_SHAPE.match(candidate.text.rstrip("."))
    condition = match["condition"] if match else candidate.text
    labels = "\n".join(f"- {label.name}: {label.description}" for label in dataset.labels)
    prompt = TEMPLATE.format(
        task=dataset.task, labels=labels, condition=condition.strip(), names=", ".join(dataset.label_names)
    )
    rule_id = "rule:" + hashlib.sha256(candidate.text.encode()).hexdigest()[:16]
    key = CacheKey(teacher.id, rule_id, TEMPLATE_SHA256, VERIFY_SAMPLE)
    messages = [ChatMessage("system", SYSTEM), ChatMessage("user", prompt)]
    try:
        reply = cached_or_asked(
            teacher, cache, key, messages, SampleSpec(VERIFY_SAMPLE, 0.0, 0), max_tokens=MAX_VERIFY_TOKENS,
            stats=CollectionStats(),
        )  # fmt: skip
    except TeacherError:
        return None  # a replay without this check recorded: the rule stays, unverified
    return parse_answer(reply, dataset.label_names)
