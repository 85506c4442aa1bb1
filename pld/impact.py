"""`pld prompt impact`: which recent decisions a candidate version would change, and which rules change them.

Offline and side-effect free: a bounded sample of recent requests is read from the requests topic (by
time window, tenant, sample size), decided under the reference version (production by default) and
under the candidate with the student factory and settings the workers use, and compared. No worker is
touched and nothing is published. A change is a different label; a decision whose label stays but whose
cited rules differ is counted apart. Changes are grouped by the label pair and by each rule that appears
or disappears, with a few example messages per group, cut to `show_chars` characters.
"""

import asyncio
import hashlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pld.topic_window import read_window
from schemas import ModerationRequest, PromptVersion
from stream.decoding import RejectedMessage, decode_request
from stream.settings import WorkerSettings
from stream.student import Classification, build_served_student

EXAMPLES_PER_GROUP = 3
MS_PER_S = 1000


@dataclass(frozen=True)
class ImpactQuery:
    """Which requests to compare on, and how much of their text a report may show."""

    since: datetime | None = None
    until: datetime | None = None
    sample: int = 200
    tenant: str | None = None
    show_chars: int = 80


def run_impact(
    settings: WorkerSettings, candidate: PromptVersion, reference: PromptVersion, query: ImpactQuery
) -> dict[str, Any]:
    """Read the sample, decide it under both versions, and report what changes."""
    requests = asyncio.run(recent_requests(settings, query))
    texts = [request.text for request in requests]
    before, after = (decide(settings, prompt, texts) for prompt in (reference, candidate))
    report = compare(requests, before, after, (reference, candidate), query.show_chars)
    report["query"] = {
        "since": query.since.isoformat() if query.since else None,
        "until": query.until.isoformat() if query.until else None,
        "sample": query.sample,
        "tenant": query.tenant,
        "topic": settings.requests_topic,
    }
    return report


def decide(settings: WorkerSettings, prompt: PromptVersion, texts: Sequence[str]) -> list[Classification]:
    """Every text's answer under `prompt`, from a student built exactly as a worker builds it."""
    student = build_served_student(settings, prompt)
    try:
        return student.classify(list(texts)) if texts else []
    finally:
        student.close()


async def recent_requests(settings: WorkerSettings, query: ImpactQuery) -> list[ModerationRequest]:
    """The valid requests in the window (and of the tenant), at most `sample` of them, chosen by request-id
    hash so a rerun picks the same ones; records that are not valid requests are skipped."""
    found: dict[str, ModerationRequest] = {}
    until_ms = int(query.until.timestamp() * MS_PER_S) if query.until else None
    async for record in read_window(settings, settings.requests_topic, query.since):
        if until_ms is None or record.timestamp <= until_ms:
            _keep(record.value or b"", settings.max_message_bytes, query.tenant, found)
    chosen = sorted(found.values(), key=lambda request: hashlib.sha256(request.id.encode()).hexdigest())
    return chosen[: query.sample]


def _keep(value: bytes, max_bytes: int, tenant: str | None, found: dict[str, ModerationRequest]) -> None:
    try:
        request = decode_request(value, max_bytes)
    except RejectedMessage:
        return
    if tenant is None or request.tenant == tenant:
        found[f"{request.tenant or ''}/{request.id}"] = request  # a re-sent request counts once


def compare(
    requests: Sequence[ModerationRequest],
    before: Sequence[Classification],
    after: Sequence[Classification],
    versions: tuple[PromptVersion, PromptVersion],
    show_chars: int,
) -> dict[str, Any]:
    """What changes from `before` to `after` on the same requests, grouped by label pair and by rule."""
    reference, candidate = versions
    texts = {ins.id: ins.text for ins in [*reference.instructions, *candidate.instructions]}
    pairs: Counter[tuple[str, str]] = Counter()
    changed: list[dict[str, Any]] = []
    rules_only = 0
    by_rule: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for request, old, new in zip(requests, before, after, strict=True):
        pairs[(old.label, new.label)] += 1
        if old.label == new.label:
            rules_only += old.instruction_ids != new.instruction_ids
            continue
        item = {
            "request_id": request.id,
            "tenant": request.tenant,
            "text": _cut(request.text, show_chars),
            "before": {"label": old.label, "rules": old.instruction_ids},
            "after": {"label": new.label, "rules": new.instruction_ids},
        }
        changed.append(item)
        for rule in set(new.instruction_ids) - set(old.instruction_ids):
            by_rule[("appears", rule)].append(item)
        for rule in set(old.instruction_ids) - set(new.instruction_ids):
            by_rule[("disappears", rule)].append(item)
    groups = [
        {
            "rule": rule,
            "change": change,
            "text": texts.get(rule, "?"),
            "decisions": len(items),
            "label_pairs": dict(Counter(f"{i['before']['label']}->{i['after']['label']}" for i in items)),
            "examples": [item["text"] for item in items[:EXAMPLES_PER_GROUP]],
        }
        for (change, rule), items in sorted(by_rule.items(), key=lambda entry: (-len(entry[1]), entry[0]))
    ]
    return {
        "reference": {"version": reference.version, "sha256": reference.sha256},
        "candidate": {"version": candidate.version, "sha256": candidate.sha256},
        "requests": len(requests),
        "changed": len(changed),
        "rules_only_changed": rules_only,
        "label_pairs": {f"{old}->{new}": n for (old, new), n in sorted(pairs.items())},
        "by_rule": groups,
        "changes": changed,
    }


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def write_report(report: dict[str, Any], out_dir: Path, labels: Sequence[str]) -> list[Path]:
    """`impact.json` and `impact.png` (labels before x after, as counts) in `out_dir`."""
    import json  # noqa: PLC0415 - only when writing

    import matplotlib as mpl  # noqa: PLC0415 - plotting only when asked

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    out_dir.mkdir(parents=True, exist_ok=True)
    data = out_dir / "impact.json"
    data.write_text(json.dumps(report, indent=2) + "\n")
    grid = [[report["label_pairs"].get(f"{old}->{new}", 0) for new in labels] for old in labels]
    figure, axes = plt.subplots(figsize=(4.5, 4))
    axes.imshow(grid, cmap="Blues")
    axes.set_xticks(range(len(labels)), labels)
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel(f"candidate {report['candidate']['version']}")
    axes.set_ylabel(f"reference {report['reference']['version']}")
    for row, counts in enumerate(grid):
        for column, count in enumerate(counts):
            axes.text(column, row, str(count), ha="center", va="center")
    axes.set_title(f"{report['changed']} of {report['requests']} decisions change")
    figure.tight_layout()
    picture = out_dir / "impact.png"
    figure.savefig(picture, dpi=120)
    plt.close(figure)
    return [data, picture]


def print_impact(report: dict[str, Any]) -> None:
    """The report for people: label pairs, then the rules that change decisions, with examples."""
    from rich.console import Console  # noqa: PLC0415 - printing only
    from rich.table import Table  # noqa: PLC0415

    console = Console()
    console.print(
        f"[bold]{report['candidate']['version']}[/] against {report['reference']['version']}: "
        f"{report['changed']} of {report['requests']} decisions change label, "
        f"{report['rules_only_changed']} more cite other rules"
    )
    pairs = Table(title="Decisions by label, reference -> candidate")
    pairs.add_column("change")
    pairs.add_column("decisions", justify="right")
    for pair, count in report["label_pairs"].items():
        pairs.add_row(pair, str(count))
    console.print(pairs)
    rules = Table(title="Rules that change decisions")
    for column in ("rule", "", "decisions", "label changes", "rule text", "examples"):
        rules.add_column(column)
    for group in report["by_rule"]:
        changes = ", ".join(f"{pair} {n}" for pair, n in group["label_pairs"].items())
        rules.add_row(
            group["rule"],
            group["change"],
            str(group["decisions"]),
            changes,
            group["text"],
            "\n".join(group["examples"]),
        )
    console.print(rules)
