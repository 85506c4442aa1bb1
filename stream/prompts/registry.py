"""`PromptRegistry`: immutable, signed prompt versions in Redis, signed pointers, and a signed history.

Versions are stored once under their name as canonical JSON with their sha256 and an Ed25519
signature (`stream.prompts.signing`); storing other content under a taken name is refused (WATCH/MULTI:
two publishers racing cannot overwrite each other). Three pointers say what workers run: `production`,
`canary` (with the share of requests it decides) and `shadow` (scores the same batches, decides
nothing). Every pointer move is one atomic transaction: the deployment hash is rewritten whole with its
generation incremented and signed, a signed entry is appended to the history (who, when, from, to,
why) and a change notice is published, so workers learn about it at once (pub/sub) or at their next poll.

Trust fails closed: a registry without a public key refuses every version and deployment unless it was
told `allow_unsigned` (`PLD_ALLOW_UNSIGNED_PROMPTS=true`, for experiments), and anything read that does
not parse is a `PromptStoreError`, never another exception. Key names live in `stream.prompts.keys`,
namespaced by `PLD_APP_ID`.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import redis
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from redis.exceptions import RedisError, WatchError

from schemas import PromptVersion
from stream.errors import PromptError, PromptSignatureError, PromptStoreError
from stream.prompts.files import parse_prompt
from stream.prompts.keys import RegistryKeys
from stream.prompts.signing import (
    DEPLOYMENT_TAG,
    HISTORY_TAG,
    VERSION_TAG,
    PromptSigner,
    PromptVerifier,
    signed_message,
)
from stream.student import APP_NAME

DEFAULT_CONNECT_TIMEOUT_S = 2.0
DEFAULT_READ_TIMEOUT_S = 2.0
MAX_TRANSACTION_RETRIES = 5
MAX_SHARE = 100.0
ERROR_EXCERPT_CHARS = 200
FULL_HISTORY = 100_000
T = TypeVar("T")


class Pointer(StrEnum):
    """What a pointer makes workers do with its version."""

    PRODUCTION = "production"  # decides every request the canary does not
    CANARY = "canary"  # decides a deterministic share of requests (hash of the request id)
    SHADOW = "shadow"  # scores the same batches; disagreements go to the shadow topic


class Deployment(BaseModel):
    """Where the pointers stand; `generation` grows with every move."""

    model_config = ConfigDict(frozen=True)

    production: str | None = None
    canary: str | None = None
    canary_share: float = Field(default=0.0, ge=0.0, le=100.0)  # percent of requests
    shadow: str | None = None
    generation: int = Field(default=0, ge=0)

    def versions(self) -> set[str]:
        """Every version a worker needs loaded."""
        return {version for version in (self.production, self.canary, self.shadow) if version}

    def canonical(self) -> str:
        """The JSON its signature covers (keys sorted, no whitespace)."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


class HistoryEntry(BaseModel):
    """One pointer move."""

    model_config = ConfigDict(frozen=True)

    pointer: Pointer
    from_version: str | None
    to_version: str | None
    share: float | None = None
    who: str
    why: str
    at: datetime
    generation: int
    rollback: bool = False  # a rollback undoes the production move before it; it is not itself undone

    def canonical(self) -> str:
        """The JSON its signature covers."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


class RegistrySettings(Protocol):
    """The settings a registry connection needs (the worker's settings have them all)."""

    @property
    def redis_url(self) -> str:
        """redis:// or rediss:// URL, without the password."""

    @property
    def redis_password(self) -> SecretStr | None:
        """The AUTH password."""

    @property
    def redis_username(self) -> str | None:
        """The ACL user (None: the default user)."""

    @property
    def redis_ssl_ca_file(self) -> Path | None:
        """The CA that signed the server's certificate (rediss://)."""

    @property
    def redis_timeout_s(self) -> float:
        """Connect and read timeout of every call."""

    @property
    def app_id(self) -> str:
        """The deployment's name: the registry's key namespace."""

    @property
    def trust(self) -> "Trust":
        """What a worker believes: the public key, and whether unsigned versions are allowed."""

    @property
    def publisher_trust(self) -> "Trust":
        """What a publisher signs with."""


@dataclass(frozen=True)
class Trust:
    """Who may sign (publishers hold a signer) and what is believed (workers hold only a verifier)."""

    signer: PromptSigner | None = None
    verifier: PromptVerifier | None = None
    allow_unsigned: bool = False

    @classmethod
    def signing(cls, signer: PromptSigner) -> "Trust":
        """A publisher's trust: it signs, and believes its own signatures."""
        return cls(signer=signer, verifier=signer.verifier)

    def sign(self, message: bytes, what: str) -> str:
        """A signature, or "" when unsigned writes are allowed; PromptSignatureError without a key."""
        if self.signer is not None:
            return self.signer.sign(message)
        if self.allow_unsigned:
            return ""
        raise PromptSignatureError(f"cannot write {what}: no signing key (PLD_PROMPT_PRIVATE_KEY)")

    def check(self, signature: str, message: bytes, what: str) -> None:
        """Raise PromptSignatureError unless `signature` is good, or unsigned reads are allowed."""
        if self.verifier is not None and (signature or not self.allow_unsigned):
            self.verifier.verify(signature, message, what)
        elif self.verifier is None and not self.allow_unsigned:
            raise PromptSignatureError(
                f"{what} cannot be verified: no public key (PLD_PROMPT_PUBLIC_KEY) and unsigned prompts are not "
                "allowed (PLD_ALLOW_UNSIGNED_PROMPTS)"
            )


@dataclass(frozen=True)
class Snapshot:
    """A deployment and its versions exactly as stored (signatures included), to keep on disk and re-verify."""

    deployment: dict[str, str]
    versions: dict[str, dict[str, str]]

    def to_json(self) -> str:
        """The snapshot as JSON text."""
        return json.dumps({"deployment": self.deployment, "versions": self.versions})

    @classmethod
    def from_json(cls, text: str) -> "Snapshot":
        """Parse a snapshot; anything malformed is a PromptStoreError."""
        try:
            record = json.loads(text)
            return cls({str(k): str(v) for k, v in record["deployment"].items()}, dict(record["versions"]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise PromptStoreError(f"the saved deployment is damaged: {exc}") from exc


class PromptRegistry:
    """The prompt versions and pointers of one deployment (`namespace`) on one Redis database."""

    def __init__(self, client: redis.Redis, trust: Trust | None = None, namespace: str = APP_NAME) -> None:
        self._client = client
        self._trust = trust or Trust()
        self.keys = RegistryKeys(namespace)
        self.namespace = namespace

    @classmethod
    def from_url(
        cls,
        url: str,
        trust: Trust | None = None,
        *,
        namespace: str = APP_NAME,
        password: SecretStr | None = None,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
    ) -> "PromptRegistry":
        """A registry on the Redis server at `url`, every call bounded by the timeouts."""
        client = redis.Redis.from_url(
            url,
            password=password.get_secret_value() if password else None,
            socket_connect_timeout=connect_timeout_s,
            socket_timeout=read_timeout_s,
        )
        return cls(client, trust, namespace)

    @classmethod
    def from_settings(cls, settings: "RegistrySettings", *, publisher: bool = False) -> "PromptRegistry":
        """A registry as the settings describe it: URL, password (kept out of the URL), TLS CA, timeouts, keys
        (a worker's public key; with `publisher`, the private key that signs)."""
        client = redis.Redis.from_url(
            settings.redis_url,
            username=settings.redis_username,
            password=settings.redis_password.get_secret_value() if settings.redis_password else None,
            socket_connect_timeout=settings.redis_timeout_s,
            socket_timeout=settings.redis_timeout_s,
            **({"ssl_ca_certs": str(settings.redis_ssl_ca_file)} if settings.redis_ssl_ca_file else {}),
        )
        return cls(client, settings.publisher_trust if publisher else settings.trust, settings.app_id)

    @property
    def client(self) -> redis.Redis:
        """The Redis client (workers subscribe to change notices through it)."""
        return self._client

    def put(self, prompt: PromptVersion) -> None:
        """Store a signed version; the same content again is a no-op, other content under its name is refused."""
        key = self.keys.version(prompt.version)
        signature = self._trust.sign(signed_message(VERSION_TAG, prompt.sha256), f"version {prompt.version}")
        fields = {"json": prompt.model_dump_json(), "sha256": prompt.sha256, "signature": signature}

        def store(pipe: Any) -> None:
            stored_sha = pipe.hget(key, "sha256")
            if stored_sha is not None:
                if _text(stored_sha) != prompt.sha256:
                    raise PromptStoreError(f"version {prompt.version} already exists with other content")
                return  # immutable: never rewritten, not even its signature
            pipe.multi()
            pipe.hset(key, mapping=fields)
            pipe.zadd(self.keys.versions(), {prompt.version: datetime.now(UTC).timestamp()}, nx=True)
            pipe.execute()

        self._transaction(key, store, f"cannot store prompt {prompt.version}")

    def get(self, version: str) -> PromptVersion:
        """A stored version, its sha256 re-checked and its signature verified."""
        try:
            stored = self._client.hgetall(self.keys.version(version))
        except RedisError as exc:
            raise PromptStoreError(f"cannot read prompt {version}: {exc}") from exc
        if not stored:
            raise PromptStoreError(f"prompt version {version} is not stored")
        return self.verified_version(version, _fields(stored, f"stored version {version}"))

    def verified_version(self, version: str, fields: dict[str, str]) -> PromptVersion:
        """A version from its stored fields (from Redis or a snapshot on disk), parsed and verified."""
        try:
            prompt = parse_prompt(fields.get("json", ""), f"redis prompt {version}")
        except PromptError as exc:
            raise PromptStoreError(f"stored version {version} is damaged: {exc}") from exc
        if prompt.version != version:
            raise PromptStoreError(f"stored version {version} holds version {prompt.version}")
        message = signed_message(VERSION_TAG, prompt.sha256)
        self._trust.check(fields.get("signature", ""), message, f"prompt version {version}")
        return prompt

    def versions(self) -> list[tuple[str, datetime]]:
        """Every stored version with the time it was stored, oldest first."""
        try:
            entries = self._client.zrange(self.keys.versions(), 0, -1, withscores=True)
            pairs = cast("list[tuple[bytes, float]]", entries)
            return [(_text(name), datetime.fromtimestamp(float(score), UTC)) for name, score in pairs]
        except (RedisError, ValueError) as exc:
            raise PromptStoreError(f"cannot list prompt versions: {exc}") from exc

    def deployment(self) -> Deployment:
        """Where the pointers stand now, its signature verified."""
        try:
            raw = self._client.hgetall(self.keys.deployment())
        except RedisError as exc:
            raise PromptStoreError(f"cannot read the deployment: {exc}") from exc
        return self.verified_deployment(_fields(raw, "the stored deployment"))

    def verified_deployment(self, fields: dict[str, str]) -> Deployment:
        """A deployment from its stored fields, parsed and verified (an empty one is the empty deployment)."""
        if not fields:
            return Deployment()
        deployment = _deployment(fields)
        message = signed_message(DEPLOYMENT_TAG, self.namespace, deployment.canonical())
        self._trust.check(fields.get("signature", ""), message, f"deployment generation {deployment.generation}")
        return deployment

    def snapshot(self, deployment: Deployment) -> Snapshot:
        """The stored deployment and its versions, signatures included (what a worker keeps on disk)."""
        try:
            fields = _fields(self._client.hgetall(self.keys.deployment()), "the stored deployment")
            versions = {v: _fields(self._client.hgetall(self.keys.version(v)), v) for v in deployment.versions()}
        except RedisError as exc:
            raise PromptStoreError(f"cannot read the deployment: {exc}") from exc
        return Snapshot(fields, versions)

    def restore(self, snapshot: Snapshot) -> tuple[Deployment, dict[str, PromptVersion]]:
        """A snapshot's deployment and versions, verified exactly like the ones read from Redis."""
        deployment = self.verified_deployment(snapshot.deployment)
        try:
            versions = {name: self.verified_version(name, snapshot.versions[name]) for name in deployment.versions()}
        except (KeyError, TypeError, AttributeError) as exc:
            raise PromptStoreError(f"the saved deployment lacks a version: {exc}") from exc
        return deployment, versions

    def history(self, limit: int = 50) -> list[HistoryEntry]:
        """The last `limit` pointer moves, oldest first, each signature verified."""
        try:
            raw = self._client.lrange(self.keys.history(), -limit, -1)
        except RedisError as exc:
            raise PromptStoreError(f"cannot read the history: {exc}") from exc
        return [self._entry(item) for item in raw]

    def move(
        self,
        pointer: Pointer,
        version: str | None,
        *,
        who: str,
        why: str,
        share: float | None = None,
        rollback: bool = False,
    ) -> HistoryEntry:
        """Point `pointer` at a stored version (None clears it), atomically, with its signed history entry."""
        if version is not None:
            self.get(version)  # stored, intact, and signed
        if pointer is Pointer.CANARY and version is not None and not (share and 0 < share <= MAX_SHARE):
            raise PromptStoreError("a canary needs a share between 0 and 100 percent")
        move = _Move(pointer, version, who, why, share, rollback)
        return self._transaction(self.keys.deployment(), lambda pipe: self._move(pipe, move), "cannot move the pointer")

    def publish(
        self, prompt: PromptVersion, pointer: Pointer, *, who: str, why: str, share: float | None = None
    ) -> HistoryEntry:
        """Store a version and point `pointer` at it."""
        self.put(prompt)
        return self.move(pointer, prompt.version, who=who, why=why, share=share)

    def promote(self, *, who: str, why: str) -> HistoryEntry:
        """The canary becomes production (and the canary pointer is cleared)."""
        canary = self.deployment().canary
        if canary is None:
            raise PromptStoreError("there is no canary to promote")
        entry = self.move(Pointer.PRODUCTION, canary, who=who, why=why)
        self.move(Pointer.CANARY, None, who=who, why=f"promoted to production: {why}")
        return entry

    def rollback(self, *, who: str, why: str) -> HistoryEntry:
        """Production goes back to the version before the current one in the signed history. A rollback is
        itself undone by nothing: a second rollback goes one step further back, it does not flip back."""
        held: list[str | None] = []
        for entry in self.history(limit=FULL_HISTORY):
            if entry.pointer is not Pointer.PRODUCTION:
                continue
            if entry.rollback and held:
                held.pop()
            elif not entry.rollback:
                held.append(entry.to_version)
        if len(held) < 2 or held[-2] is None:
            raise PromptStoreError("production has no earlier version to roll back to")
        return self.move(Pointer.PRODUCTION, held[-2], who=who, why=f"rollback: {why}", rollback=True)

    def _entry(self, item: bytes | str) -> HistoryEntry:
        try:
            record = json.loads(_text(item))
            entry = HistoryEntry.model_validate(record["entry"])
            signature = str(record.get("signature", ""))
        except (ValueError, KeyError, TypeError) as exc:
            raise PromptStoreError(f"the stored history is damaged: {str(exc)[:ERROR_EXCERPT_CHARS]}") from exc
        message = signed_message(HISTORY_TAG, self.namespace, entry.canonical())
        self._trust.check(signature, message, f"history entry {entry.generation}")
        return entry

    def _transaction(self, watched: str, body: Callable[[Any], T], failure: str) -> T:
        try:
            with self._client.pipeline() as pipe:
                for _ in range(MAX_TRANSACTION_RETRIES):
                    try:
                        pipe.watch(watched)  # type: ignore[no-untyped-call]
                        return body(pipe)
                    except WatchError:
                        continue  # another writer landed in between: read again and retry
        except RedisError as exc:
            raise PromptStoreError(f"{failure}: {exc}") from exc
        raise PromptStoreError(f"{failure}: it kept changing; gave up after retries")

    def _move(self, pipe: Any, move: "_Move") -> HistoryEntry:
        current = self._current_for_move(pipe)
        entry = HistoryEntry(
            pointer=move.pointer,
            from_version=getattr(current, move.pointer.value),
            to_version=move.version,
            share=move.share if move.pointer is Pointer.CANARY else None,
            who=move.who,
            why=move.why,
            at=datetime.now(UTC),
            generation=current.generation + 1,
            rollback=move.rollback,
        )
        update: dict[str, Any] = {move.pointer.value: move.version, "generation": entry.generation}
        if move.pointer is Pointer.CANARY:
            update["canary_share"] = move.share if move.version is not None and move.share is not None else 0.0
        new = current.model_copy(update=update)
        signature = self._trust.sign(signed_message(DEPLOYMENT_TAG, self.namespace, new.canonical()), "a deployment")
        entry_signature = self._trust.sign(signed_message(HISTORY_TAG, self.namespace, entry.canonical()), "history")
        stored = {name: "" if value is None else str(value) for name, value in new.model_dump().items()}
        pipe.multi()
        pipe.delete(self.keys.deployment())
        pipe.hset(self.keys.deployment(), mapping={**stored, "signature": signature})
        pipe.rpush(
            self.keys.history(), json.dumps({"entry": entry.model_dump(mode="json"), "signature": entry_signature})
        )
        pipe.publish(self.keys.changes(), json.dumps({"generation": entry.generation}))
        pipe.execute()
        return entry

    def _current_for_move(self, pipe: Any) -> Deployment:
        """The deployment a move starts from. A publisher (who holds the key) may repair one that was tampered
        with: it then keeps only the highest generation seen, so generations still only grow."""
        fields = _fields(pipe.hgetall(self.keys.deployment()), "the stored deployment")
        try:
            return self.verified_deployment(fields)
        except PromptStoreError:
            generation = fields.get("generation", "0")
            return Deployment(generation=int(generation) if generation.isdigit() else 0)


@dataclass(frozen=True)
class _Move:
    pointer: Pointer
    version: str | None
    who: str
    why: str
    share: float | None
    rollback: bool


def _fields(raw: dict[Any, Any], what: str) -> dict[str, str]:
    try:
        return {_text(name): _text(value) for name, value in raw.items()}
    except UnicodeDecodeError as exc:
        raise PromptStoreError(f"{what} is damaged: {exc}") from exc


def _deployment(fields: dict[str, str]) -> Deployment:
    try:
        return Deployment(
            production=fields.get("production") or None,
            canary=fields.get("canary") or None,
            canary_share=float(fields.get("canary_share") or 0.0),
            shadow=fields.get("shadow") or None,
            generation=int(fields.get("generation") or 0),
        )
    except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
        raise PromptStoreError(f"the stored deployment is damaged: {str(exc)[:ERROR_EXCERPT_CHARS]}") from exc


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
