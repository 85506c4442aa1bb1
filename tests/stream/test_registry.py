"""The prompt registry on a real Redis server: immutable versions, pointers, history, signing, notices."""

from collections.abc import Iterator

import pytest
import redis
from pydantic import SecretStr

from stream.errors import PromptSignatureError, PromptStoreError
from stream.prompts import Pointer, PromptRegistry, starter_prompt
from stream.prompts.keys import changes_channel, prompt_version_key
from tests.fixtures_services import local_redis
from tests.schemas.test_prompts import make_prompt

pytestmark = pytest.mark.integration
SCRATCH_DB = 7
KEY = SecretStr("a signing key for tests")


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    """A Redis database of its own, flushed before and after the test."""
    scratch = local_redis(redis_url.rsplit("/", 1)[0] + f"/{SCRATCH_DB}")
    scratch.flushdb()
    yield scratch
    scratch.flushdb()


def test_versions_are_immutable_and_intact(client: redis.Redis) -> None:
    """A name holds one content forever; a read re-checks the content's sha256."""
    registry = PromptRegistry(client)
    registry.put(make_prompt(version="same"))
    registry.put(make_prompt(version="same"))  # the same content again is fine
    with pytest.raises(PromptStoreError, match="already exists"):
        registry.put(make_prompt(version="same", task="Changed task."))
    client.hset(
        prompt_version_key("same"), "json", make_prompt(version="same").model_dump_json().replace("allow", "al")
    )
    with pytest.raises(PromptStoreError):
        registry.get("same")


def test_pointer_moves_are_recorded_and_announced(client: redis.Redis) -> None:
    """publish, canary, promote and rollback move pointers atomically, each with a history entry and a notice."""
    registry = PromptRegistry(client)
    listener = client.pubsub()  # type: ignore[no-untyped-call]
    listener.subscribe(changes_channel())
    v1, v2 = starter_prompt(), make_prompt(version="v2")
    registry.publish(v1, Pointer.PRODUCTION, who="ana", why="first policy")
    registry.publish(v2, Pointer.CANARY, who="ana", why="try it", share=10.0)
    assert registry.deployment().model_dump() == {
        "production": v1.version, "canary": "v2", "canary_share": 10.0, "shadow": None, "generation": 2,
    }  # fmt: skip
    registry.promote(who="ben", why="canary looks good")
    assert (registry.deployment().production, registry.deployment().canary) == ("v2", None)
    registry.rollback(who="ben", why="complaints")
    assert registry.deployment().production == v1.version
    history = registry.history()
    assert [(e.pointer.value, e.from_version, e.to_version, e.who) for e in history] == [
        ("production", None, v1.version, "ana"),
        ("canary", None, "v2", "ana"),
        ("production", v1.version, "v2", "ben"),
        ("canary", "v2", None, "ben"),
        ("production", "v2", v1.version, "ben"),
    ]
    assert [e.generation for e in history] == [1, 2, 3, 4, 5]
    notices = [listener.get_message(ignore_subscribe_messages=True, timeout=1) for _ in range(6)]
    assert [n["data"] for n in notices if n] == [f'{{"generation": {g}}}'.encode() for g in range(1, 6)]


def test_a_canary_needs_a_share_and_unknown_versions_cannot_be_pointed_at(client: redis.Redis) -> None:
    """Moves are validated before they happen."""
    registry = PromptRegistry(client)
    registry.put(make_prompt(version="v1"))
    with pytest.raises(PromptStoreError, match="share"):
        registry.move(Pointer.CANARY, "v1", who="x", why="", share=None)
    with pytest.raises(PromptStoreError, match="not stored"):
        registry.move(Pointer.PRODUCTION, "missing", who="x", why="")
    assert registry.history() == []


def test_with_signing_on_unsigned_and_tampered_versions_are_refused(client: redis.Redis) -> None:
    """A version stored without the key, or whose stored signature does not match, is refused."""
    PromptRegistry(client).put(make_prompt(version="unsigned"))
    signed = PromptRegistry(client, signing_key=KEY)
    with pytest.raises(PromptSignatureError):
        signed.get("unsigned")
    signed.put(make_prompt(version="signed"))
    assert signed.get("signed").version == "signed"
    client.hset(prompt_version_key("signed"), "signature", "0" * 64)
    with pytest.raises(PromptSignatureError):
        signed.get("signed")
    with pytest.raises(PromptSignatureError):
        PromptRegistry(client, signing_key=SecretStr("another key")).get("signed")


def test_an_unreachable_redis_is_a_clear_error_within_the_timeout() -> None:
    """A registry pointed at a closed port raises PromptStoreError, not a raw redis exception."""
    registry = PromptRegistry.from_url("redis://127.0.0.1:1/0", connect_timeout_s=0.5, read_timeout_s=0.5)
    with pytest.raises(PromptStoreError, match="cannot read"):
        registry.deployment()
