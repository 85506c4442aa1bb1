"""Pattern mining: teacher reasoning steps -> groups of recurring logic, ranked by support and label purity.

Steps are normalised, embedded, and grouped greedily: the step with the most close neighbours
(cosine similarity at least `similarity`) founds a group with its unassigned neighbours, and so on.
Greedy leader clustering is deterministic, needs no cluster count, and is quick at the few thousand
steps a distillation run produces.
"""

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Embed = Callable[[Sequence[str]], npt.NDArray[np.float32]]  # texts -> (n, d) unit-norm rows

MIN_STEP_WORDS = 4
ANSWER_LINE = re.compile(r"^\s*(final\s+)?answer\s*[:\-]", re.IGNORECASE)
NUMBERING = re.compile(r"^\s*(step\s*)?\d+\s*[.):\-]\s*", re.IGNORECASE)
# Teachers title their steps ("Analyze the context", "Determine the label") before the reasoning itself.
STEP_TITLE = re.compile(
    r"^(analy[sz]e|compare|determine|identify|evaluate|consider|check|examine|understand|assess|conclusion|"
    r"reasoning|read)\b[\w ,'-]{0,60}?[:\-]?\s+(?=(?-i:[A-Z]))",
    re.IGNORECASE,
)
QUOTES = "\"\u201c\u201d'\u2018\u2019"  # straight and curly quotes
QUOTED = re.compile(f"[{QUOTES}]([^{QUOTES}]{{1,80}})[{QUOTES}]")


@dataclass(frozen=True)
class Step:
    """One reasoning step of one rationale, with the gold label of its example."""

    text: str
    example_id: str
    label: str
    rationalized: bool


@dataclass(frozen=True)
class Pattern:
    """A group of similar steps: the recurring logic behind one label."""

    steps: tuple[Step, ...]
    representative: tuple[str, ...]  # the steps closest to the group's centre, best first
    label: str  # the majority gold label of the supporting examples
    support: int  # distinct supporting examples
    purity: float  # share of supporting examples whose gold label is `label`

    @property
    def score(self) -> float:
        """Ranking key: well supported, label-pure patterns first."""
        return self.support * self.purity**2

    @property
    def example_ids(self) -> list[str]:
        """Supporting example ids, sorted."""
        return sorted({step.example_id for step in self.steps})


def normalise_step(text: str) -> str | None:
    """A step without numbering and quoting noise, or None when it carries no reusable logic."""
    text = NUMBERING.sub("", text.strip()).strip(" -*•\t").replace("**", "")
    text = STEP_TITLE.sub("", text, count=1)
    if not text or ANSWER_LINE.match(text) or text.lower().startswith(("since ", "therefore", "thus")):
        return None
    text = QUOTED.sub(r"\1", text)
    text = re.sub(r"\s+", " ", text)
    return text if len(text.split()) >= MIN_STEP_WORDS else None


def mine_patterns(
    steps: Sequence[Step], embed: Embed, similarity: float = 0.5, min_support: int = 3, min_purity: float = 0.5
) -> list[Pattern]:
    """Group similar steps and rank the groups; groups under `min_support` examples or `min_purity` are dropped."""
    if not steps:
        return []
    similarities = _centred_similarities(embed([step.text for step in steps]))
    patterns = [
        _pattern([steps[i] for i in members], similarities, members) for members in _groups(similarities, similarity)
    ]
    kept = [p for p in patterns if p.support >= min_support and p.purity >= min_purity]
    return sorted(kept, key=lambda pattern: (-pattern.score, pattern.representative[0]))


def _centred_similarities(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Cosine similarities after removing the mean direction (raw LM embeddings are all alike)."""
    centred = vectors - vectors.mean(axis=0, keepdims=True)
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    unit = centred / np.maximum(norms, np.finfo(np.float32).tiny)
    result: npt.NDArray[np.float32] = unit @ unit.T
    return result


def _groups(similarities: npt.NDArray[np.float32], threshold: float) -> list[list[int]]:
    close = similarities >= threshold
    unassigned = np.ones(len(similarities), dtype=bool)
    groups = []
    while unassigned.any():
        neighbour_counts = (close & unassigned[None, :]).sum(axis=1) * unassigned
        leader = int(np.argmax(neighbour_counts))
        members = [int(i) for i in np.flatnonzero(close[leader] & unassigned)] or [leader]
        unassigned[members] = False
        unassigned[leader] = False
        groups.append(members)
    return groups


def _pattern(steps: list[Step], similarities: npt.NDArray[np.float32], members: list[int]) -> Pattern:
    centrality = similarities[np.ix_(members, members)].mean(axis=1)
    order = np.argsort(-centrality, kind="stable")
    representative = tuple(dict.fromkeys(steps[i].text for i in order))[:5]
    labels_by_example = {step.example_id: step.label for step in steps}
    label, count = Counter(labels_by_example.values()).most_common(1)[0]
    return Pattern(
        steps=tuple(steps),
        representative=representative,
        label=label,
        support=len(labels_by_example),
        purity=count / len(labels_by_example),
    )
