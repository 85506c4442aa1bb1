"""Pattern mining: teacher reasoning steps -> groups of recurring logic, ranked by support and label purity.

Steps are normalised, embedded, and grouped greedily: the step with the most close neighbours
(cosine similarity at least `similarity`) founds a group with its unassigned neighbours, and so on.
Greedy leader clustering is deterministic, needs no cluster count, and is quick at the few thousand
steps a distillation run produces.

Per label (the default): each gold label's steps are grouped on their own (each category's, when the
data has a taxonomy: "block" then splits into hate, threats, spam, ... and a rule gets one category),
so a label with few examples is not swallowed by the majority label's generic steps ("the message is neutral"); a
pattern's purity is then measured against every step near its most central one, whatever its label
(the share of those examples with the pattern's label), so logic shared by all labels ranks low. A
label whose patterns all fall below `min_support` keeps its best `FALLBACK_PATTERNS` patterns of at least
`MIN_SUPPORT_FLOOR` examples (`_fallbacks`), ranked (`Pattern.fallback`): every label the data supports gets
logic of its own, and when verification rejects the best one ("asks about Kim Jong Un", mined in harassment),
the next one stands in (`distiller.verification` keeps the best-ranked one that passes).
"""

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

Embed = Callable[[Sequence[str]], npt.NDArray[np.float32]]  # texts -> (n, d) unit-norm rows

MIN_STEP_WORDS = 4
MIN_SUPPORT_FLOOR = 2
FALLBACK_PATTERNS = 3  # patterns kept for a label or category with none of `min_support`
FALLBACK_LIFT = 2.0  # an impure fallback is at least this many times as pure as its group's share of examples
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
    category: str = ""  # the example's taxonomy category, when the dataset has one

    @property
    def group(self) -> str:
        """What the miner groups by: the category when there is one, else the gold label."""
        return self.category or self.label


@dataclass(frozen=True)
class Pattern:
    """A group of similar steps: the recurring logic behind one label."""

    steps: tuple[Step, ...]
    representative: tuple[str, ...]  # the steps closest to the group's centre, best first
    label: str  # the majority gold label of the supporting examples
    support: int  # distinct supporting examples
    purity: float  # share of supporting examples whose gold label (category, when set) is the pattern's
    category: str = ""  # the taxonomy category the pattern was mined in, when the data has one
    # Kept below `min_support`: the group it stands in for (as mined) and its rank there, 0 for the best.
    fallback: tuple[str, int] | None = None

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
    steps: Sequence[Step],
    embed: Embed,
    similarity: float = 0.5,
    min_support: int = 3,
    min_purity: float = 0.5,
    *,
    per_label: bool = True,
) -> list[Pattern]:
    """Group similar steps and rank the groups; groups under `min_support` examples or `min_purity` are dropped."""
    if not steps:
        return []
    similarities = centred_similarities(embed([step.text for step in steps]))
    if not per_label:
        patterns = [
            _pattern([steps[i] for i in members], similarities, members)
            for members in _groups(similarities, similarity)
        ]
        kept = [p for p in patterns if p.support >= min_support and p.purity >= min_purity]
        return sorted(kept, key=lambda pattern: (-pattern.score, pattern.representative[0]))
    examples = {step.example_id: step.group for step in steps}
    shares = {key: count / len(examples) for key, count in Counter(examples.values()).items()}
    kept = []
    for key in sorted({step.group for step in steps}):
        indices = [i for i, step in enumerate(steps) if step.group == key]
        groups = _groups(similarities[np.ix_(indices, indices)], similarity)
        patterns = [_labelled_pattern(steps, similarities, [indices[m] for m in g], key, similarity) for g in groups]
        sound = [p for p in patterns if p.purity >= min_purity]
        chosen = [p for p in sound if p.support >= min_support]
        fallbacks = _fallbacks(patterns, min_purity, base_rate=shares[key])
        kept += chosen or [replace(pattern, fallback=(key, rank)) for rank, pattern in enumerate(fallbacks)]
    return sorted(kept, key=lambda pattern: (-pattern.score, pattern.representative[0]))


def _fallbacks(patterns: Sequence[Pattern], min_purity: float, base_rate: float) -> list[Pattern]:
    """A thin group's stand-ins, best first: its sound patterns of `MIN_SUPPORT_FLOOR` examples, then (when
    fewer than `FALLBACK_PATTERNS`) impure ones still `FALLBACK_LIFT` times as pure as the group's share of
    examples. Steps embed by their wording as much as by their logic ("The text is asking about ..."), so a
    group's well-supported logic can sit among other labels' steps: harassment's best group (8 examples,
    "asks how to twist someone's words to make them appear racist") has purity 0.19, where harassment is 5%
    of the examples. Verification still judges every rule made from them."""
    floor = sorted((p for p in patterns if p.support >= MIN_SUPPORT_FLOOR), key=lambda pattern: -pattern.score)
    sound = [p for p in floor if p.purity >= min_purity]
    lifted = [p for p in floor if min_purity > p.purity >= FALLBACK_LIFT * base_rate]
    return (sound + lifted)[:FALLBACK_PATTERNS]


def _labelled_pattern(
    steps: Sequence[Step], similarities: npt.NDArray[np.float32], members: list[int], key: str, threshold: float
) -> Pattern:
    """A pattern of one label's (or category's) steps; its purity counts every step (of any label or category)
    near its most central one."""
    centrality = similarities[np.ix_(members, members)].mean(axis=1)
    order = np.argsort(-centrality, kind="stable")
    leader = members[int(order[0])]
    near = {int(i) for i in np.flatnonzero(similarities[leader] >= threshold)} | set(members)
    groups_near = {steps[i].example_id: steps[i].group for i in near}
    own = sum(found == key for found in groups_near.values())
    first = steps[members[0]]
    return Pattern(
        steps=tuple(steps[i] for i in members),
        representative=tuple(dict.fromkeys(steps[members[int(i)]].text for i in order))[:5],
        label=first.label,
        support=len({steps[i].example_id for i in members}),
        purity=own / len(groups_near),
        category=first.category,
    )


def centred_similarities(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
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
