"""The policy watcher against a real Redis holding garbage or unbuildable versions: it never dies silently.

The students are fakes (these tests are about the watcher); the registry, its keys and its bytes are real.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from schemas import ModelId, PromptVersion
from stream.errors import PromptError
from stream.health import Component, HealthFile, HealthStatus
from stream.policy_watcher import PolicyWatcher
from stream.prompts import Pointer, PromptRegistry, starter_prompt
from stream.prompts.keys import RegistryKeys
from stream.prompts.registry import Trust
from stream.student.testing import FakeStudent
from tests.fixtures_services import local_redis, local_registry, local_trust, scratch_database

pytestmark = pytest.mark.integration
SCRATCH_DB = 9
MODEL = ModelId(file_name="fake.gguf", sha256="2" * 64)
KEYS = RegistryKeys("pld-moderation")


@pytest.fixture
def scratch(redis_url: str) -> Iterator[tuple[redis.Redis, PromptRegistry]]:
    """A Redis database of its own and the registry on it, flushed before and after."""
    for url in scratch_database(redis_url, SCRATCH_DB):
        yield local_redis(url), local_registry(url)


class Builds:
    """A build function that records every build and refuses the versions it is told to."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.built: list[str] = []
        self.students: list[FakeStudent] = []
        self.refuse = refuse

    def __call__(self, prompt: PromptVersion) -> FakeStudent:
        self.built.append(prompt.version)
        if prompt.version in self.refuse:
            raise PromptError(f"labels of {prompt.version} share a first token")
        student = FakeStudent(prompt, MODEL)
        self.students.append(student)
        return student


def watcher(registry: PromptRegistry, build: Builds, tmp_path: Path) -> tuple[PolicyWatcher, HealthFile]:
    health = HealthFile(tmp_path / "health.json", "w1")
    health.set(HealthStatus.OK, component=Component.WORKER)
    as_worker = PromptRegistry(registry.client, Trust(verifier=local_trust().verifier))  # the public key only
    source = PolicyWatcher(
        as_worker, build, last_good_file=tmp_path / "last-good.json", default=starter_prompt(), health=health, poll_s=60
    )
    return source, health


def test_a_garbage_canary_share_degrades_health_and_keeps_serving(
    scratch: tuple[redis.Redis, PromptRegistry], tmp_path: Path
) -> None:
    """`canary_share` = "lots" is a registry error: logged, counted, `degraded`; the policy stays as it was."""
    client, registry = scratch
    registry.publish(starter_prompt().variant("v1"), Pointer.PRODUCTION, who="test", why="start")
    source, health = watcher(registry, Builds(), tmp_path)
    client.hset(KEYS.deployment(), mapping={"canary": "v1", "canary_share": "lots", "generation": "99"})
    source.refresh()
    assert source.take().production.prompt.version == "v1"
    assert health.status is HealthStatus.DEGRADED
    assert "damaged" in health.reason


def test_a_version_that_is_not_utf8_is_refused_without_an_exception(
    scratch: tuple[redis.Redis, PromptRegistry], tmp_path: Path
) -> None:
    """Bytes that are not UTF-8 in a stored version become a registry error, never a dead thread."""
    client, registry = scratch
    registry.publish(starter_prompt().variant("v1"), Pointer.PRODUCTION, who="test", why="start")
    source, health = watcher(registry, Builds(), tmp_path)
    registry.put(starter_prompt().variant("v2"))
    client.hset(KEYS.version("v2"), "json", b"\xff\xfe not json")
    client.hset(KEYS.deployment(), mapping={"production": "v2", "generation": "7"})  # straight into Redis
    source.refresh()
    assert source.take().production.prompt.version == "v1"
    assert health.status is HealthStatus.DEGRADED


def test_a_worker_starting_on_garbage_serves_the_default(
    scratch: tuple[redis.Redis, PromptRegistry], tmp_path: Path
) -> None:
    """With nothing good on disk, a damaged deployment at start means the shipped default, not a crash."""
    client, registry = scratch
    client.hset(KEYS.deployment(), mapping={"production": "v1", "canary_share": "NaN%", "generation": "x"})
    source, health = watcher(registry, Builds(), tmp_path)
    assert source.current.production.prompt.version == starter_prompt().version
    assert health.status is HealthStatus.DEGRADED


def test_an_unbuildable_version_is_built_once_and_stays_refused(
    scratch: tuple[redis.Redis, PromptRegistry], tmp_path: Path
) -> None:
    """A version this worker cannot build is tried once, refused, and never rebuilt at later polls."""
    _client, registry = scratch
    registry.publish(starter_prompt().variant("v1"), Pointer.PRODUCTION, who="test", why="start")
    builds = Builds(refuse=frozenset({"bad"}))
    source, health = watcher(registry, builds, tmp_path)
    registry.publish(starter_prompt().variant("bad"), Pointer.PRODUCTION, who="test", why="unbuildable")
    for _poll in range(5):
        source.refresh()
    assert builds.built == ["v1", "bad"]
    assert source.take().production.prompt.version == "v1"
    assert (health.status, source.refused_versions) == (HealthStatus.DEGRADED, 1)
    registry.publish(starter_prompt().variant("v3"), Pointer.PRODUCTION, who="test", why="fixed")
    source.refresh()
    assert source.take().production.prompt.version == "v3"
    assert health.status is HealthStatus.OK


def test_a_staged_policy_replaced_before_it_serves_is_closed(
    scratch: tuple[redis.Redis, PromptRegistry], tmp_path: Path
) -> None:
    """Two publishes between two batches: the first staged student is closed, the serving one is not."""
    _client, registry = scratch
    registry.publish(starter_prompt().variant("v1"), Pointer.PRODUCTION, who="test", why="start")
    builds = Builds()
    source, _health = watcher(registry, builds, tmp_path)
    registry.publish(starter_prompt().variant("v2"), Pointer.PRODUCTION, who="test", why="first")
    source.refresh()
    registry.publish(starter_prompt().variant("v3"), Pointer.PRODUCTION, who="test", why="second")
    source.refresh()
    v1, v2, v3 = builds.students
    assert (v1.closed, v2.closed, v3.closed) == (False, True, False)
    assert source.take().production is v3
    assert v1.closed


def test_a_replayed_older_signed_deployment_is_refused(
    scratch: tuple[redis.Redis, PromptRegistry], tmp_path: Path
) -> None:
    """Writing back yesterday's validly signed deployment does not move a worker back to it."""
    client, registry = scratch
    registry.publish(starter_prompt().variant("v1"), Pointer.PRODUCTION, who="test", why="start")
    yesterday: dict[str | bytes, str | bytes] = dict(client.hgetall(KEYS.deployment()))
    source, health = watcher(registry, Builds(), tmp_path)
    registry.publish(starter_prompt().variant("v2"), Pointer.PRODUCTION, who="test", why="today")
    source.refresh()
    assert source.take().production.prompt.version == "v2"
    client.delete(KEYS.deployment())
    client.hset(KEYS.deployment(), mapping=yesterday)  # type: ignore[arg-type]
    source.refresh()
    assert source.take().production.prompt.version == "v2"
    assert health.status is HealthStatus.DEGRADED
    assert "replayed" in health.reason


def test_a_tampered_last_good_file_is_not_served(scratch: tuple[redis.Redis, PromptRegistry], tmp_path: Path) -> None:
    """The policy kept on disk is verified on load like one from Redis: edited, it is refused."""
    client, registry = scratch
    registry.publish(starter_prompt().variant("v1"), Pointer.PRODUCTION, who="test", why="start")
    watcher(registry, Builds(), tmp_path)
    saved = tmp_path / "last-good.json"
    saved.write_text(saved.read_text(encoding="utf-8").replace("v1", "v1-evil"), encoding="utf-8")
    client.hset(KEYS.deployment(), mapping={"canary_share": "garbage"})
    source, health = watcher(registry, Builds(), tmp_path)
    assert source.current.production.prompt.version == starter_prompt().version
    assert health.status is HealthStatus.DEGRADED
