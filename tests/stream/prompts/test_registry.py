"""The prompt registry on a real Redis server: immutable versions, pointers, history, signing, notices."""

from collections.abc import Iterator

import pytest
import redis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ops import redis as ops_redis
from ops.redis import WORKER_USER
from stream.errors import PromptSignatureError, PromptStoreError
from stream.prompts import Pointer, PromptRegistry, starter_prompt
from stream.prompts.keys import RegistryKeys
from stream.prompts.registry import Trust
from stream.prompts.signing import PromptSigner
from tests.fixtures_services import local_redis, scratch_database, scratch_database_url
from tests.schemas.helpers import make_prompt

pytestmark = pytest.mark.integration
SCRATCH_DB = 7
SIGNER = PromptSigner(Ed25519PrivateKey.generate())
PUBLISHER = Trust.signing(SIGNER)
WORKER = Trust(verifier=SIGNER.verifier)  # holds the public key only
KEYS = RegistryKeys("pld-moderation")


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    """A Redis database of its own, flushed before and after the test."""
    for url in scratch_database(redis_url, SCRATCH_DB):
        yield local_redis(url)


def test_versions_are_immutable_and_intact(client: redis.Redis) -> None:
    """A name holds one content forever; a read re-checks the content's sha256."""
    registry = PromptRegistry(client, PUBLISHER)
    registry.put(make_prompt(version="same"))
    registry.put(make_prompt(version="same"))  # the same content again is fine
    with pytest.raises(PromptStoreError, match="already exists"):
        registry.put(make_prompt(version="same", task="Changed task."))
    client.hset(KEYS.version("same"), "json", make_prompt(version="same").model_dump_json().replace("allow", "al"))
    with pytest.raises(PromptStoreError):
        registry.get("same")


def test_pointer_moves_are_recorded_and_announced(client: redis.Redis) -> None:
    """publish, canary, promote and rollback move pointers atomically, each with a history entry and a notice."""
    registry = PromptRegistry(client, PUBLISHER)
    listener = client.pubsub()  # type: ignore[no-untyped-call,unused-ignore]  # typed from redis 8.2
    listener.subscribe(KEYS.changes())
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
    with pytest.raises(PromptStoreError, match="no earlier version"):
        registry.rollback(who="ben", why="again")  # a second rollback does not flip back to v2
    history = registry.history()
    assert [(e.pointer.value, e.from_version, e.to_version, e.who, e.rollback) for e in history] == [
        ("production", None, v1.version, "ana", False),
        ("canary", None, "v2", "ana", False),
        ("production", v1.version, "v2", "ben", False),
        ("canary", "v2", None, "ben", False),
        ("production", "v2", v1.version, "ben", True),
    ]
    assert [e.generation for e in history] == [1, 2, 3, 4, 5]
    notices = [listener.get_message(ignore_subscribe_messages=True, timeout=1) for _ in range(6)]
    assert [n["data"] for n in notices if n] == [f'{{"generation": {g}}}'.encode() for g in range(1, 6)]


def test_a_canary_needs_a_share_and_unknown_versions_cannot_be_pointed_at(client: redis.Redis) -> None:
    """Moves are validated before they happen."""
    registry = PromptRegistry(client, PUBLISHER)
    registry.put(make_prompt(version="v1"))
    with pytest.raises(PromptStoreError, match="share"):
        registry.move(Pointer.CANARY, "v1", who="x", why="", share=None)
    with pytest.raises(PromptStoreError, match="not stored"):
        registry.move(Pointer.PRODUCTION, "missing", who="x", why="")
    assert registry.history() == []


def test_unsigned_and_tampered_versions_are_refused(client: redis.Redis) -> None:
    """A version stored without the key, or whose stored signature does not match, is refused."""
    PromptRegistry(client, Trust(allow_unsigned=True)).put(make_prompt(version="unsigned"))
    worker = PromptRegistry(client, WORKER)
    with pytest.raises(PromptSignatureError):
        worker.get("unsigned")
    PromptRegistry(client, PUBLISHER).put(make_prompt(version="signed"))
    assert worker.get("signed").version == "signed"
    with pytest.raises(PromptSignatureError):
        PromptRegistry(client, Trust(verifier=PromptSigner(Ed25519PrivateKey.generate()).verifier)).get("signed")
    client.hset(KEYS.version("signed"), "signature", "AAAA")
    with pytest.raises(PromptSignatureError):
        worker.get("signed")


def test_trust_fails_closed_without_a_public_key(client: redis.Redis) -> None:
    """No public key and no explicit allowance: every version and deployment is refused; a worker cannot sign."""
    PromptRegistry(client, PUBLISHER).publish(make_prompt(version="v1"), Pointer.PRODUCTION, who="a", why="b")
    keyless = PromptRegistry(client, Trust())
    with pytest.raises(PromptSignatureError, match="PLD_ALLOW_UNSIGNED_PROMPTS"):
        keyless.get("v1")
    with pytest.raises(PromptSignatureError):
        keyless.deployment()
    with pytest.raises(PromptSignatureError, match="no signing key"):
        PromptRegistry(client, WORKER).move(Pointer.PRODUCTION, "v1", who="worker", why="steer")
    assert PromptRegistry(client, Trust(allow_unsigned=True)).get("v1").version == "v1"


def test_a_deployment_written_around_the_publisher_is_refused(client: redis.Redis) -> None:
    """Changing a pointer or the canary share straight in Redis breaks the deployment's signature."""
    registry = PromptRegistry(client, PUBLISHER)
    registry.publish(make_prompt(version="v1"), Pointer.PRODUCTION, who="a", why="b")
    registry.publish(make_prompt(version="slow", task="Ten times slower."), Pointer.CANARY, who="a", why="b", share=5)
    worker = PromptRegistry(client, WORKER)
    assert worker.deployment().canary_share == 5.0
    client.hset(KEYS.deployment(), mapping={"shadow": "slow"})
    with pytest.raises(PromptSignatureError):
        worker.deployment()
    registry.move(Pointer.SHADOW, None, who="a", why="repair")  # the key holder repairs it, generation grows
    repaired = worker.deployment()
    assert (repaired.shadow, repaired.generation) == (None, 3)


def test_versions_cannot_be_overwritten_by_a_racing_publisher(client: redis.Redis) -> None:
    """`put` never rewrites a stored version: not its content, not its signature."""
    registry = PromptRegistry(client, PUBLISHER)
    registry.put(make_prompt(version="v1"))
    signature = client.hget(KEYS.version("v1"), "signature")
    registry.put(make_prompt(version="v1"))
    assert client.hget(KEYS.version("v1"), "signature") == signature


def test_two_deployments_sharing_a_redis_never_see_each_other(client: redis.Redis) -> None:
    """Keys are namespaced by the app id."""
    PromptRegistry(client, PUBLISHER, "team-a").publish(make_prompt(version="a1"), Pointer.PRODUCTION, who="a", why="")
    other = PromptRegistry(client, PUBLISHER, "team-b")
    assert other.deployment().production is None
    with pytest.raises(PromptStoreError, match="not stored"):
        other.get("a1")


def test_an_unreachable_redis_is_a_clear_error_within_the_timeout() -> None:
    """A registry pointed at a closed port raises PromptStoreError, not a raw redis exception."""
    registry = PromptRegistry.from_url("redis://127.0.0.1:1/0", connect_timeout_s=0.5, read_timeout_s=0.5)
    with pytest.raises(PromptStoreError, match="cannot read"):
        registry.deployment()


def test_the_worker_acl_user_reads_and_subscribes_but_cannot_write(client: redis.Redis, redis_url: str) -> None:
    """On the `ops` Redis, the `pld-worker` user reads the registry and subscribes; every write is refused."""
    PromptRegistry(client, PUBLISHER).publish(make_prompt(version="v1"), Pointer.PRODUCTION, who="a", why="b")
    url = scratch_database_url(redis_url, SCRATCH_DB)
    as_worker = redis.Redis.from_url(url, username=WORKER_USER, password=ops_redis.local_password())
    worker = PromptRegistry(as_worker, WORKER)
    assert worker.get("v1").version == "v1"
    listener = as_worker.pubsub()  # type: ignore[no-untyped-call,unused-ignore]  # typed from redis 8.2
    listener.subscribe(KEYS.changes())
    assert listener.get_message(timeout=1) is not None
    with pytest.raises(PromptStoreError, match=r"NOPERM|permission"):
        PromptRegistry(as_worker, PUBLISHER).publish(make_prompt(version="v2"), Pointer.PRODUCTION, who="w", why="")
    with pytest.raises(redis.exceptions.NoPermissionError):
        as_worker.flushdb()
