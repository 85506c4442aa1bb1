"""Integration tests: ops starts real Kafka and Redis on loopback, reuses them, and stops only its own."""

from __future__ import annotations

import asyncio
import stat
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from ops import paths
from ops.kafka import (
    configured_kafka_port,
    ensure_kafka,
    ensure_kafka_jars,
    kafka_answers,
    kafka_pid,
    kafka_version,
    stop_kafka,
)
from ops.kafka_config import BrokerLayout
from ops.redis import configured_redis_port, ensure_redis, local_password, redis_answers, redis_pid, stop_redis
from ops.services import main
from stream.settings import WorkerSettings
from tests.fixtures_services import local_redis
from tests.ops.helpers import LOOPBACK, free_port_triple

if TYPE_CHECKING:
    from tests.fixtures_services import TopicsFactory

pytestmark = pytest.mark.integration

CONSUME_TIMEOUT_S = 30.0


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the cache at a temp dir, sharing the already-fetched broker jars."""
    jars = ensure_kafka_jars()
    monkeypatch.setenv(paths.CACHE_DIR_ENV, str(tmp_path))
    shared = paths.kafka_libs_dir(kafka_version())
    shared.parent.mkdir(parents=True)
    shared.symlink_to(jars, target_is_directory=True)
    return tmp_path


def _cluster_id(port: int) -> str:
    """Return the cluster id the storage of the broker on ``port`` was formatted with."""
    meta = BrokerLayout(paths.kafka_state_dir(port)).formatted_marker.read_text(encoding="utf-8")
    return next(line.split("=", 1)[1] for line in meta.splitlines() if line.startswith("cluster.id="))


async def _round_trip(bootstrap: str, topic: str, payload: bytes) -> bytes | None:
    """Produce ``payload`` to ``topic`` and consume it back from the start."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, payload)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"test-{uuid.uuid4().hex}", auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), CONSUME_TIMEOUT_S)
    finally:
        await consumer.stop()
    value: bytes | None = record.value
    return value


def test_ensure_kafka_is_idempotent() -> None:
    """A second ensure_kafka reuses the running broker: same address, same process."""
    port = configured_kafka_port()
    first = ensure_kafka(port)
    pid = kafka_pid(port)
    second = ensure_kafka(port)
    assert second == first == f"{LOOPBACK}:{port}"
    assert kafka_pid(port) == pid
    assert kafka_answers(second)


async def test_message_round_trips_through_kafka(kafka_bootstrap: str, kafka_topics: TopicsFactory) -> None:
    """A message produced with aiokafka is consumed back unchanged."""
    topics = kafka_topics()
    payload = uuid.uuid4().bytes
    assert await _round_trip(kafka_bootstrap, topics.requests, payload) == payload


async def test_kafka_topics_factory_creates_distinct_live_topics(
    kafka_bootstrap: str, kafka_topics: TopicsFactory
) -> None:
    """Each factory call yields fresh topic names that already exist on the broker."""
    first, second = kafka_topics(), kafka_topics(prefix="other", partitions=2)
    assert set(first.names).isdisjoint(second.names)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        listed = set(await admin.list_topics())
    finally:
        await admin.close()
    assert {*first.names, *second.names} <= listed


@pytest.mark.usefixtures("private_cache")
def test_broker_restart_reuses_formatted_storage() -> None:
    """Stopping and re-ensuring a broker keeps its storage (same cluster id) and stop is idempotent."""
    port = free_port_triple()
    try:
        bootstrap = ensure_kafka(port)
        cluster_id = _cluster_id(port)
        assert stop_kafka(port)
        assert not kafka_answers(bootstrap)
        assert not stop_kafka(port)
        assert ensure_kafka(port) == bootstrap
        assert _cluster_id(port) == cluster_id
    finally:
        stop_kafka(port)
    assert kafka_pid(port) is None


def test_ensure_redis_answers_and_round_trips() -> None:
    """ensure_redis returns a URL whose server answers PING and round-trips SET/GET, and reuses it."""
    port = configured_redis_port()
    url = ensure_redis(port)
    pid = redis_pid(port)
    assert ensure_redis(port) == url == f"redis://{LOOPBACK}:{port}/0"
    assert redis_pid(port) == pid
    client = local_redis(url)
    key, value = f"test:{uuid.uuid4().hex}", uuid.uuid4().hex
    try:
        assert client.ping()
        client.set(key, value)
        assert client.get(key) == value.encode()
    finally:
        client.delete(key)
        client.close()


@pytest.mark.usefixtures("private_cache")
def test_stop_redis_stops_the_server_ops_started() -> None:
    """stop_redis stops our server once and reports nothing to stop afterwards."""
    port = free_port_triple()
    url = ensure_redis(port)
    assert redis_pid(port) is not None
    assert stop_redis(port)
    assert not redis_answers(url)
    assert not stop_redis(port)


@pytest.mark.usefixtures("private_cache")
def test_ops_redis_requires_its_password_and_workers_find_it() -> None:
    """The server ops starts refuses clients without the password, which lives owner-only in the cache dir,
    never in the process list, and is what a worker's settings use for a loopback URL."""
    port = free_port_triple()
    url = ensure_redis(port)
    try:
        with pytest.raises(redis.AuthenticationError):
            redis.Redis.from_url(url).ping()
        assert local_redis(url).ping()
        assert stat.S_IMODE(paths.redis_password_file().stat().st_mode) == 0o600
        assert local_password() not in Path(f"/proc/{redis_pid(port)}/cmdline").read_bytes().decode()
        password = WorkerSettings(redis_url=url).redis_password
        assert password is not None
        assert password.get_secret_value() == local_password()
        assert WorkerSettings(redis_url="redis://redis.example:6379/0").redis_password is None
    finally:
        stop_redis(port)


def test_status_command_exits_zero_when_services_answer(capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m ops.services status`` prints one line per service and exits 0 when both answer."""
    kafka_port, redis_port = configured_kafka_port(), configured_redis_port()
    ensure_kafka(kafka_port)
    ensure_redis(redis_port)
    code = main(["status", "--kafka-port", str(kafka_port), "--redis-port", str(redis_port)])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert [line.split()[:2] for line in lines] == [["kafka", "up"], ["redis", "up"]]


def test_status_command_exits_nonzero_when_a_service_is_down(capsys: pytest.CaptureFixture[str]) -> None:
    """The status command fails when a service does not answer (here: nothing on the ports)."""
    kafka_port, redis_port = free_port_triple(), free_port_triple()
    code = main(["status", "--kafka-port", str(kafka_port), "--redis-port", str(redis_port)])
    assert code != 0
    assert [line.split()[:2] for line in capsys.readouterr().out.splitlines()] == [["kafka", "down"], ["redis", "down"]]
