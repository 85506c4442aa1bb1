"""A worker against a SASL/SCRAM-SHA-512 listener of a real broker: the security settings really work."""

import asyncio
import uuid
from pathlib import Path

import pytest

from ops.kafka import ensure_kafka, stop_kafka
from ops.kafka_config import SCRAM_MECHANISM, SCRAM_USER, sasl_port
from ops.redis import local_password
from pld.traffic import collect, produce, sample_requests
from tests.fixtures_services import KafkaTopics, _create_topics
from tests.ops.helpers import free_port_triple
from tests.worker_process import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.model]

DECISION_TIMEOUT_S = 300.0
REQUESTS = 6


def test_a_worker_with_scram_credentials_decides_through_the_sasl_listener(redis_url: str, tmp_path: Path) -> None:
    """A broker of the test's own (formatted with the SCRAM user) serves a worker that logs in with SCRAM."""
    port = free_port_triple()
    plaintext = ensure_kafka(port)
    try:
        suffix = uuid.uuid4().hex[:8]
        topics = KafkaTopics(f"sasl.requests.{suffix}", f"sasl.decisions.{suffix}", f"sasl.dlq.{suffix}")
        asyncio.run(_create_topics(plaintext, topics.names, 1))
        asyncio.run(produce(plaintext, topics.requests, sample_requests(REQUESTS, "sasl")))
        secured = f"127.0.0.1:{sasl_port(port)}"
        worker = WorkerProcess(
            env={
                **topics.worker_env(secured, redis_url, f"sasl-{suffix}"),
                "PLD_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "PLD_KAFKA_SASL_MECHANISM": SCRAM_MECHANISM,
                "PLD_KAFKA_SASL_USERNAME": SCRAM_USER,
                "PLD_KAFKA_SASL_PASSWORD": local_password(),
            },
            log_path=tmp_path / "w.log",
        )
        worker.start()
        try:
            outputs = asyncio.run(
                collect(
                    plaintext,
                    topics.decisions,
                    topics.dlq,
                    done=lambda o: len(o.decided_ids) >= REQUESTS or not worker.running,
                    timeout_s=DECISION_TIMEOUT_S,
                )
            )
            assert worker.running, worker.log()
        finally:
            assert worker.stop() == 0, worker.log()
        assert len(outputs.decided_ids) == 6, worker.log()
    finally:
        stop_kafka(port)
