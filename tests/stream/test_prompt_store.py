"""RedisPromptStore against a real Redis server."""

import uuid
from collections.abc import Iterator

import pytest
import redis

from stream.errors import PromptStoreError
from stream.prompts import RedisPromptStore, starter_prompt
from tests.schemas.test_prompts import make_prompt

pytestmark = pytest.mark.integration


@pytest.fixture
def store(redis_url: str) -> Iterator[RedisPromptStore]:
    """A store on a Redis database flushed before and after the test."""
    client = redis.Redis.from_url(redis_url)
    db = client.connection_pool.connection_kwargs.get("db", 0)
    scratch = redis.Redis.from_url(redis_url.rsplit("/", 1)[0] + f"/{(db + 1) % 16}")
    scratch.flushdb()
    yield RedisPromptStore(scratch)
    scratch.flushdb()


def test_seed_then_read_back(store: RedisPromptStore) -> None:
    """An empty store activates the seed; later reads return the same version and hash."""
    assert store.active() is None
    seeded = store.active_or_seed(starter_prompt())
    assert seeded == starter_prompt()
    assert store.active() == starter_prompt()


def test_activate_another_version(store: RedisPromptStore) -> None:
    """A stored version can be activated; unknown versions cannot."""
    store.active_or_seed(starter_prompt())
    other = make_prompt(version=f"v-{uuid.uuid4().hex[:6]}")
    store.put(other)
    store.activate(other.version)
    assert store.active() == other
    with pytest.raises(PromptStoreError, match="not stored"):
        store.activate("missing-version")


def test_versions_are_immutable(store: RedisPromptStore) -> None:
    """Storing different content under an existing version name is refused."""
    store.put(make_prompt(version="same"))
    with pytest.raises(PromptStoreError, match="already exists"):
        store.put(make_prompt(version="same", task="Changed task."))


def test_unreachable_redis_is_a_clear_error() -> None:
    """A store pointed at a closed port raises PromptStoreError, not a raw redis exception."""
    store = RedisPromptStore(redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5))
    with pytest.raises(PromptStoreError, match="cannot read"):
        store.active()
