"""What a moderator would see: held and allowed shares per source, and the demo's 40 messages as a gate.

A macro-F1 can be won on a dataset's style; these figures cannot hide it:
- **per source**, the share of harmful messages held (`review` or `block`) and of benign ones allowed,
  and the ROC AUC of P(review) + P(block) separating harmful from benign (a source with one kind is
  scored against every message of the other kind);
- **the demo gate**: the messages `pld demo` sends (`distiller/data/demo_messages.jsonl`, none of them in
  any split), decided by the same student and version, counted per kind (benign allowed, abusive and spam
  held, borderline as they fall), with the rules each held message cites.
Every report and every selection run prints both beside its metrics.
"""

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distiller.examples import Example
from distiller.metrics import binary_auc
from schemas import PromptVersion
from stream.student import Classification, decided_category

DEMO_FILE = Path(__file__).parent / "data" / "demo_messages.jsonl"
ALLOW = "allow"
BLOCK = "block"  # removed without a person looking (review: held for one)
HELD_KINDS = ("abusive", "spam")


def demo_messages() -> list[dict[str, Any]]:
    """The demo's messages (`id`, `text`, `metadata.sample_kind`)."""
    lines = DEMO_FILE.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@dataclass(frozen=True)
class DemoGate:
    """How the demo's messages were decided, per kind."""

    labels: dict[str, dict[str, int]]  # kind -> label -> count
    held_without_rule: int  # held messages that cite no rule
    categories: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> cited category -> count

    def counts(self) -> dict[str, str]:
        """`benign_allowed`, `abusive_held`, `spam_held` as `k/n`."""
        out = {"benign_allowed": self._share("benign", allowed=True)}
        for kind in HELD_KINDS:
            out[f"{kind}_held"] = self._share(kind, allowed=False)
        return out

    def _share(self, kind: str, *, allowed: bool) -> str:
        labels = self.labels.get(kind, {})
        total = sum(labels.values())
        allowed_n = labels.get(ALLOW, 0)
        return f"{allowed_n if allowed else total - allowed_n}/{total}"


def demo_gate(decisions: Sequence[Classification], categories: Callable[[str], str | None]) -> DemoGate:
    """The gate from the decisions of `demo_messages()`, in order; `categories` maps a rule id to its category."""
    messages = demo_messages()
    labels: dict[str, Counter[str]] = defaultdict(Counter)
    cited: dict[str, Counter[str]] = defaultdict(Counter)
    held_without_rule = 0
    for message, decision in zip(messages, decisions, strict=True):
        kind = str(message.get("metadata", {}).get("sample_kind", "?"))
        labels[kind][decision.label] += 1
        if decision.label != ALLOW and not decision.instruction_ids:
            held_without_rule += 1
        category = decision.category or (categories(decision.instruction_ids[0]) if decision.instruction_ids else None)
        if decision.label != ALLOW and category:
            cited[kind][category] += 1
    return DemoGate(
        {kind: dict(sorted(c.items())) for kind, c in sorted(labels.items())},
        held_without_rule,
        {kind: dict(sorted(c.items())) for kind, c in sorted(cited.items())},
    )


def hold_by_source(
    examples: Sequence[Example], decisions: Sequence[Classification], source_of: Callable[[Example], str]
) -> dict[str, dict[str, Any]]:
    """Per source (and `all`): n, harmful held or benign allowed share, the share blocked (removed unseen),
    and the hold AUC."""
    harmful = [example.label != ALLOW for example in examples]
    hold = [1.0 - decision.probabilities.get(ALLOW, 0.0) for decision in decisions]
    held = [decision.label != ALLOW for decision in decisions]
    blocked = [decision.label == BLOCK for decision in decisions]
    rows: dict[str, dict[str, Any]] = {"all": _row(harmful, hold, held, blocked, range(len(examples)))}
    by_source: dict[str, list[int]] = defaultdict(list)
    for index, example in enumerate(examples):
        by_source[source_of(example)].append(index)
    for source, indices in sorted(by_source.items()):
        kinds = {harmful[i] for i in indices}
        others = [i for i in range(len(examples)) if harmful[i] not in kinds] if len(kinds) == 1 else []
        rows[source] = _row(harmful, hold, held, blocked, indices, others=others)
    return rows


def categories_named(
    examples: Sequence[Example], decisions: Sequence[Classification], prompt: PromptVersion
) -> dict[str, dict[str, int]]:
    """Per gold category of the harmful examples (and `all`): n, how many were held, and how many of those
    the decision named with their own category. Empty when `prompt` has no taxonomy."""
    rows: dict[str, Counter[str]] = defaultdict(Counter)
    for example, decision in zip(examples, decisions, strict=True):
        if not prompt.categories or example.label == ALLOW or example.category in {"", "none"}:
            continue
        named = decided_category(decision, prompt)
        for key in ("all", example.category):
            rows[key]["n"] += 1
            rows[key]["held"] += decision.label != ALLOW
            rows[key]["named"] += decision.label != ALLOW and named == example.category
    return {key: {"n": c["n"], "held": c["held"], "named": c["named"]} for key, c in sorted(rows.items())}


def _row(
    harmful: list[bool],
    hold: list[float],
    held: list[bool],
    blocked: list[bool],
    indices: Sequence[int],
    *,
    others: Sequence[int] = (),
) -> dict[str, Any]:
    chosen = [*indices, *others]
    row: dict[str, Any] = {"n": len(indices)}
    bad = [i for i in indices if harmful[i]]
    good = [i for i in indices if not harmful[i]]
    if bad:
        row["harmful_held"] = round(sum(held[i] for i in bad) / len(bad), 3)
        row["harmful_blocked"] = round(sum(blocked[i] for i in bad) / len(bad), 3)
    if good:
        row["benign_allowed"] = round(sum(not held[i] for i in good) / len(good), 3)
        row["benign_blocked"] = round(sum(blocked[i] for i in good) / len(good), 3)
    auc = binary_auc([harmful[i] for i in chosen], [hold[i] for i in chosen])
    row["hold_auc"] = None if auc is None else round(auc, 3)
    return row


def gate_sections(
    sources: dict[str, dict[str, Any]], gate: DemoGate | None, named: dict[str, dict[str, int]] | None = None
) -> list[list[str]]:
    """The report's Markdown sections for all three."""
    table = ["## What a moderator sees: per source", ""]
    table.append("| source | n | harmful held | benign allowed | harmful blocked | benign blocked | hold AUC |")
    table.append("|---|---|---|---|---|---|---|")
    for source, row in sources.items():
        names = ("harmful_held", "benign_allowed", "harmful_blocked", "benign_blocked", "hold_auc")
        cells = [row.get(name, "") for name in names]
        table.append(f"| {source} | {row['n']} | " + " | ".join("" if c is None else str(c) for c in cells) + " |")
    sections = [table]
    if named:
        lines = ["## Held harmful messages named with their own category", ""]
        lines += ["| category | harmful | held | held and named right |", "|---|---|---|---|"]
        lines += [f"| {key} | {row['n']} | {row['held']} | {row['named']} |" for key, row in named.items()]
        sections.append(lines)
    if gate is not None:
        lines = ["## The demo gate (`pld demo`'s messages)", ""]
        lines += [f"- {name.replace('_', ' ')}: {value}" for name, value in gate.counts().items()]
        lines += [f"- {kind}: {dict(labels)}" for kind, labels in gate.labels.items()]
        lines.append(f"- held messages citing no rule: {gate.held_without_rule}")
        lines += [f"- categories cited when {kind} was held: {cats}" for kind, cats in gate.categories.items()]
        sections.append(lines)
    return sections
