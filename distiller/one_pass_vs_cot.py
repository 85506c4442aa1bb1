"""The paper's claim, measured: the student's one pass with the distilled prompt against the teacher's
chain-of-thought on the same test items, with both costs per message.

The teacher is slow on CPU (seconds per message), so it reads a slice of the test split. The slice takes
harmful and benign items in turn, in the split's order (`teacher_slice`): the first items of a split can be
nearly all one kind (the first 60 of the contrast test held 4 harmful messages), and a slice without harmful
messages says nothing about what the policy holds. Both systems are then scored on exactly those items.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from distiller.examples import Example
from distiller.metrics import evaluate


def teacher_slice(test: Sequence[Example], size: int, default_label: str) -> list[Example]:
    """Up to `size` test items, harmful (any label but `default_label`) and benign in turn, each kind in the
    split's order; when one kind runs out the other fills the rest. Kept in the split's order."""
    harmful = [example for example in test if example.label != default_label]
    benign = [example for example in test if example.label == default_label]
    picked: set[str] = set()
    while len(picked) < min(size, len(test)):
        for kind in (harmful, benign):
            if kind and len(picked) < size:
                picked.add(kind.pop(0).id)
    return [example for example in test if example.id in picked]


@dataclass(frozen=True)
class SliceScore:
    """One system on the slice: macro-F1, the shares of harmful held and benign allowed, ms per message."""

    name: str
    macro_f1: float
    harmful_held: float | None
    benign_allowed: float | None
    ms_per_message: float | None

    def line(self) -> str:
        """The score as a report line."""
        held = "-" if self.harmful_held is None else f"{self.harmful_held:.3f}"
        allowed = "-" if self.benign_allowed is None else f"{self.benign_allowed:.3f}"
        cost = "not measured" if self.ms_per_message is None else f"{self.ms_per_message:.0f} ms per message"
        return f"{self.name}: macro-F1 {self.macro_f1:.3f}, harmful held {held}, benign allowed {allowed}, {cost}"


def score_on_slice(
    name: str,
    items: Sequence[Example],
    predicted: Sequence[str],
    labels: Sequence[str],
    *,
    default_label: str,
    ms_per_message: float | None,
) -> SliceScore:
    """`predicted` (one label per item of `items`) scored as `SliceScore`."""
    gold = [example.label for example in items]
    harmful = [label != default_label for label in gold]
    held = [label != default_label for label in predicted]
    return SliceScore(
        name,
        evaluate(gold, list(predicted), list(labels), bootstrap=0).macro_f1,
        _share([h for h, is_harmful in zip(held, harmful, strict=True) if is_harmful]),
        _share([not h for h, is_harmful in zip(held, harmful, strict=True) if not is_harmful]),
        ms_per_message,
    )


def comparison_notes(items: Sequence[Example], scores: Sequence[SliceScore], default_label: str) -> list[str]:
    """Report lines: the slice, each system's score on it, and the cost ratio."""
    harmful = sum(example.label != default_label for example in items)
    notes = [f"one pass against chain-of-thought on the same {len(items)} test items ({harmful} harmful)"]
    notes += [score.line() for score in scores]
    costs = [score.ms_per_message for score in scores]
    if len(costs) == 2 and all(costs) and costs[0] and costs[1]:
        notes.append(f"the one pass costs 1/{costs[1] / costs[0]:.0f} of chain-of-thought per message")
    return notes


def _share(flags: Sequence[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None
