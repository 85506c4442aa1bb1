"""`pld prompt impact` on real Kafka and the real model: its numbers equal an offline comparison of the two
versions on the same requests, and it shows no more text than asked."""

import asyncio
import json
from collections import Counter
from pathlib import Path

import pytest

from pld.impact import ImpactQuery, decide, run_impact, write_report
from pld.traffic import produce, sample_requests
from stream.prompts import starter_prompt
from stream.settings import WorkerSettings
from tests.conftest import StudentSettingsFactory
from tests.fixtures_services import TopicsFactory

pytestmark = [pytest.mark.integration, pytest.mark.model]


def test_impact_equals_an_offline_comparison_and_filters_by_tenant(
    kafka_topics: TopicsFactory, kafka_bootstrap: str, student_settings: StudentSettingsFactory, tmp_path: Path
) -> None:
    topics = kafka_topics("impact", partitions=2)
    plain = sample_requests(24, "imp")
    tenant = sample_requests(6, "imp-t", tenant="forum")
    asyncio.run(produce(kafka_bootstrap, topics.requests, [*plain, *tenant, (None, b"not json"), (None, b"{}")]))
    settings = WorkerSettings(**student_settings().model_dump(), kafka_bootstrap=kafka_bootstrap)
    settings = settings.model_copy(update={"requests_topic": topics.requests})
    reference = starter_prompt().variant("impact-v1")
    candidate = reference.variant("impact-v2", task=reference.task + " When in doubt, hold the message for review.")

    report = run_impact(settings, candidate, reference, ImpactQuery(sample=100, show_chars=12))

    texts = [json.loads(value)["text"] for _key, value in [*plain, *tenant]]
    before, after = decide(settings, reference, texts), decide(settings, candidate, texts)
    pairs = Counter(f"{old.label}->{new.label}" for old, new in zip(before, after, strict=True))
    assert report["requests"] == 30  # the two malformed records are skipped
    assert report["label_pairs"] == dict(sorted(pairs.items()))
    assert report["changed"] == sum(n for pair, n in pairs.items() if pair.split("->")[0] != pair.split("->")[1])
    assert all(len(change["text"]) <= 12 for change in report["changes"])
    assert sum(group["decisions"] for group in report["by_rule"]) >= 0
    written = write_report(report, tmp_path / "out", candidate.label_names)
    assert [path.name for path in written] == ["impact.json", "impact.png"]

    only_forum = run_impact(settings, candidate, reference, ImpactQuery(sample=100, tenant="forum"))
    assert only_forum["requests"] == 6
    assert run_impact(settings, candidate, reference, ImpactQuery(sample=5))["requests"] == 5
