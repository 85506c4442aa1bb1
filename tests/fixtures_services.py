"""Session-scoped Kafka and Redis for tests: testcontainers when Docker answers, else ops' loopback services.

Load with ``pytest_plugins = ["tests.fixtures_services"]`` in the root conftest (or ``-p``).
Loopback services are shared with whoever started them (``python -m ops.services start``),
so these fixtures never stop them; containers are the session's own and are removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pytest
import redis
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import UnknownTopicOrPartitionError, for_code
from pydantic import SecretStr

from ops import kafka as ops_kafka
from ops import redis as ops_redis
from ops.blocking import run_coroutine
from ops.prompt_keys import ensure_local_prompt_keys
from stream.prompts import PromptRegistry
from stream.prompts.registry import Trust
from stream.prompts.signing import PromptSigner
from stream.settings import APP_NAME

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator, Sequence

DOCKER_PING_TIMEOUT_S = 2
DOCKER_HOST_ENV = "DOCKER_HOST"
UNIX_SCHEME = "unix://"
DEFAULT_DOCKER_HOST = f"{UNIX_SCHEME}/var/run/docker.sock"
KAFKA_IMAGE = "confluentinc/cp-kafka:7.6.0"
REDIS_IMAGE = "redis:7"
REDIS_PORT = 6379
REDIS_DATABASE = 0
TOPIC_PREFIX = "pld"
TOPIC_SUFFIX_LENGTH = 12
SINGLE_REPLICA = 1
TOPICS_VISIBLE_TIMEOUT_S = 30.0
TOPICS_POLL_INTERVAL_S = 0.1
NO_ERROR = 0
ALREADY_GONE = frozenset({UnknownTopicOrPartitionError.errno})


@dataclass(frozen=True)
class KafkaTopics:
    """Names of one test's private topics."""

    requests: str
    decisions: str
    dlq: str

    @property
    def names(self) -> tuple[str, str, str]:
        """All three names: requests, decisions, dlq."""
        return (self.requests, self.decisions, self.dlq)

    def worker_env(self, kafka_bootstrap: str, redis_url: str, app_id: str) -> dict[str, str]:
        """The settings that point a worker (its own consumer group `app_id`) at these topics."""
        return {
            "PLD_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "PLD_REDIS_URL": redis_url,
            "PLD_REQUESTS_TOPIC": self.requests,
            "PLD_DECISIONS_TOPIC": self.decisions,
            "PLD_DLQ_TOPIC": self.dlq,
            "PLD_APP_ID": app_id,
        }


class TopicsFactory(Protocol):
    """Creates a fresh, uniquely named set of topics (deleted when the test ends)."""

    def __call__(self, prefix: str = TOPIC_PREFIX, partitions: int = 1) -> KafkaTopics:
        """Create the topics and return their names."""
        ...


@functools.cache
def docker_available() -> bool:
    """Return whether a Docker engine answers a ping (checked once per session)."""
    host = os.environ.get(DOCKER_HOST_ENV, DEFAULT_DOCKER_HOST)
    if host.startswith(UNIX_SCHEME) and not Path(host.removeprefix(UNIX_SCHEME)).exists():
        return False  # no socket; also, the SDK leaks one (ResourceWarning) when connecting fails
    try:
        import docker  # noqa: PLC0415 - only needed for this probe

        client = docker.from_env(timeout=DOCKER_PING_TIMEOUT_S)
        try:
            client.ping()
        finally:
            client.close()
    except Exception:  # any failure (no SDK, no engine, no permission) means "no Docker"
        return False
    return True


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap address of a Kafka broker for the whole session."""
    if not docker_available():
        yield ops_kafka.ensure_kafka(ops_kafka.configured_kafka_port())
        return
    from testcontainers.community.kafka import KafkaContainer  # noqa: PLC0415

    with KafkaContainer(KAFKA_IMAGE).with_kraft() as container:
        yield container.get_bootstrap_server()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a Redis database for the whole session."""
    if not docker_available():
        yield ops_redis.ensure_redis(ops_redis.configured_redis_port())
        return
    from testcontainers.community.redis import RedisContainer  # noqa: PLC0415

    # the same password as the loopback servers, so every client (and every worker's settings) is alike
    with RedisContainer(REDIS_IMAGE, port=REDIS_PORT, password=ops_redis.local_password()) as container:
        host = container.get_container_host_ip()
        yield f"redis://{host}:{container.get_exposed_port(REDIS_PORT)}/{REDIS_DATABASE}"


@pytest.fixture
def kafka_topics(kafka_bootstrap: str) -> Iterator[TopicsFactory]:
    """Yield a factory of uniquely named topic sets; every set it made is deleted after the test."""
    created: list[str] = []

    def make(prefix: str = TOPIC_PREFIX, partitions: int = 1) -> KafkaTopics:
        suffix = uuid.uuid4().hex[:TOPIC_SUFFIX_LENGTH]
        topics = KafkaTopics(
            requests=f"{prefix}.requests.{suffix}",
            decisions=f"{prefix}.decisions.{suffix}",
            dlq=f"{prefix}.dlq.{suffix}",
        )
        run_coroutine(_create_topics(kafka_bootstrap, topics.names, partitions))
        created.extend(topics.names)
        return topics

    yield make
    if created:
        run_coroutine(_delete_topics(kafka_bootstrap, created))


@contextlib.asynccontextmanager
async def _admin(bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    """Yield a started admin client, closing it afterwards."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def _create_topics(bootstrap: str, names: Sequence[str], partitions: int) -> None:
    """Create ``names`` and wait until the broker's metadata lists them all."""
    new_topics = [NewTopic(name, partitions, SINGLE_REPLICA) for name in names]
    async with _admin(bootstrap) as admin:
        response = await admin.create_topics(new_topics)
        _raise_for_errors(response.topic_errors)
        await _until_listed(admin, names)


async def _until_listed(admin: AIOKafkaAdminClient, names: Sequence[str]) -> None:
    """Wait until the metadata lists every topic in ``names`` (creation is asynchronous)."""
    async with asyncio.timeout(TOPICS_VISIBLE_TIMEOUT_S):
        while True:
            if set(names) <= set(await admin.list_topics()):
                return
            await asyncio.sleep(TOPICS_POLL_INTERVAL_S)


async def _delete_topics(bootstrap: str, names: Sequence[str]) -> None:
    """Delete ``names``; topics that are already gone are fine."""
    async with _admin(bootstrap) as admin:
        response = await admin.delete_topics(list(names))
    _raise_for_errors(response.topic_error_codes, tolerated=ALREADY_GONE)


def _raise_for_errors(results: Sequence[tuple[Any, ...]], tolerated: frozenset[int] = frozenset()) -> None:
    """Raise the Kafka error of the first ``(topic, error_code, ...)`` result that failed."""
    for topic, code, *_ in results:
        if code not in {NO_ERROR, *tolerated}:
            raise for_code(code)(topic)


def local_redis(url: str) -> redis.Redis:
    """A client of a Redis server `ops` started on loopback (its password from the cache dir)."""
    return redis.Redis.from_url(url, password=ops_redis.local_password())


def scratch_database_url(redis_url: str, database: int) -> str:
    """The URL of database `database` on the session's Redis server: a test module's own."""
    return redis_url.rsplit("/", 1)[0] + f"/{database}"


def scratch_database(redis_url: str, database: int) -> Iterator[str]:
    """For a fixture: database `database` on the session's Redis, emptied before the test and after it."""
    url = scratch_database_url(redis_url, database)
    local_redis(url).flushdb()
    yield url
    local_redis(url).flushdb()


def local_trust() -> Trust:
    """A publisher's trust with the loopback key pair `ops` made (the one local workers verify with)."""
    private, _public = ensure_local_prompt_keys()
    return Trust.signing(PromptSigner.from_file(private))


def local_registry(url: str, trust: Trust | None = None, namespace: str = APP_NAME) -> PromptRegistry:
    """The prompt registry of deployment `namespace` (a worker's `PLD_APP_ID`) on a Redis server `ops`
    started on loopback, signing with the loopback key."""
    password = SecretStr(ops_redis.local_password())
    return PromptRegistry.from_url(url, trust or local_trust(), namespace=namespace, password=password)
