"""Topics the worker creates on a real broker: partitions as asked, leaders before anyone produces."""

import asyncio
import logging
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from pld.traffic import produce
from stream.topics import ensure_topics

pytestmark = pytest.mark.integration


def test_new_topics_have_leaders_before_the_first_message(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Producing right after `ensure_topics` meets no NotLeaderForPartition retry (the demo printed eight)."""
    names = [f"topics.{uuid.uuid4().hex[:8]}.{n}" for n in range(3)]

    async def create_then_produce() -> list[dict[str, object]]:
        await ensure_topics(kafka_bootstrap, names, 4)
        await produce(kafka_bootstrap, names[0], [(str(n).encode(), b"{}") for n in range(8)])
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            described: list[dict[str, object]] = await admin.describe_topics(names)
        finally:
            await admin.close()
        return described

    with caplog.at_level(logging.WARNING, logger="aiokafka"):
        described = asyncio.run(create_then_produce())
    assert not [record for record in caplog.records if "NotLeaderForPartition" in record.getMessage()]
    assert sorted(len(topic["partitions"]) for topic in described) == [4, 4, 4]  # type: ignore[arg-type]
