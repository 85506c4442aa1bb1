"""`PromptRegistry`: immutable prompt versions in Redis, named pointers, and an append-only history.

Versions are stored once under their name as canonical JSON with their sha256 (and an HMAC-SHA256
signature when a signing key is configured); storing other content under a taken name is refused.
Three pointers say what workers run: `production`, `canary` (with the share of requests it
decides) and `shadow` (scores the same batches, decides nothing). Every pointer move is one atomic
transaction (WATCH/MULTI): the deployment hash changes, its generation increments, an entry is
appended to the history (who, when, from, to, why) and a change notice is published, so workers
learn about it at once (pub/sub) or at their next poll. Key names live in `stream.prompts.keys`.
"""

import hashlib
import hmac
import json
from collections.abc import Callable
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
from stream.prompts.keys import (
    changes_channel,
    deployment_key,
    history_key,
    prompt_version_key,
    prompt_versions_key,
)

DEFAULT_CONNECT_TIMEOUT_S = 2.0
DEFAULT_READ_TIMEOUT_S = 2.0
MAX_TRANSACTION_RETRIES = 5
MAX_SHARE = 100.0
ERROR_EXCERPT_CHARS = 200
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
    generation: int = 0

    def versions(self) -> set[str]:
        """Every version a worker needs loaded."""
        return {version for version in (self.production, self.canary, self.shadow) if version}


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


class RegistrySettings(Protocol):
    """The settings a registry connection needs (the worker's settings have them all)."""

    @property
    def redis_url(self) -> str:
        """redis:// or rediss:// URL, without the password."""

    @property
    def redis_password(self) -> SecretStr | None:
        """The AUTH password."""

    @property
    def redis_ssl_ca_file(self) -> Path | None:
        """The CA that signed the server's certificate (rediss://)."""

    @property
    def redis_timeout_s(self) -> float:
        """Connect and read timeout of every call."""

    @property
    def prompt_signing_key(self) -> SecretStr | None:
        """The HMAC key versions are signed and verified with."""


def signature_of(prompt: PromptVersion, key: SecretStr) -> str:
    """HMAC-SHA256 of the version's canonical sha256 under the signing key."""
    return hmac.new(key.get_secret_value().encode(), prompt.sha256.encode(), hashlib.sha256).hexdigest()


class PromptRegistry:
    """The prompt versions and pointers on one Redis database."""

    def __init__(self, client: redis.Redis, signing_key: SecretStr | None = None) -> None:
        self._client = client
        self._signing_key = signing_key

    @classmethod
    def from_url(
        cls,
        url: str,
        signing_key: SecretStr | None = None,
        *,
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
        return cls(client, signing_key)

    @classmethod
    def from_settings(cls, settings: "RegistrySettings") -> "PromptRegistry":
        """A registry as the settings describe it: URL, password (kept out of the URL), TLS CA, timeouts."""
        client = redis.Redis.from_url(
            settings.redis_url,
            password=settings.redis_password.get_secret_value() if settings.redis_password else None,
            socket_connect_timeout=settings.redis_timeout_s,
            socket_timeout=settings.redis_timeout_s,
            **({"ssl_ca_certs": str(settings.redis_ssl_ca_file)} if settings.redis_ssl_ca_file else {}),
        )
        return cls(client, settings.prompt_signing_key)

    @property
    def client(self) -> redis.Redis:
        """The Redis client (workers subscribe to change notices through it)."""
        return self._client

    def put(self, prompt: PromptVersion) -> None:
        """Store a version (signed when a key is configured); other content under a taken name is refused."""
        key = prompt_version_key(prompt.version)
        fields: dict[Any, Any] = {"json": prompt.model_dump_json(), "sha256": prompt.sha256}
        if self._signing_key is not None:
            fields["signature"] = signature_of(prompt, self._signing_key)
        try:
            stored_sha = self._client.hget(key, "sha256")
            if stored_sha is not None and _text(stored_sha) != prompt.sha256:
                raise PromptStoreError(f"version {prompt.version} already exists with other content")
            pipe = self._client.pipeline()
            pipe.hset(key, mapping=fields)
            pipe.zadd(prompt_versions_key(), {prompt.version: datetime.now(UTC).timestamp()}, nx=True)
            pipe.execute()
        except RedisError as exc:
            raise PromptStoreError(f"cannot store prompt {prompt.version}: {exc}") from exc

    def get(self, version: str) -> PromptVersion:
        """A stored version, its sha256 re-checked and (with a signing key) its signature verified."""
        try:
            stored = self._client.hgetall(prompt_version_key(version))
        except RedisError as exc:
            raise PromptStoreError(f"cannot read prompt {version}: {exc}") from exc
        if not stored:
            raise PromptStoreError(f"prompt version {version} is not stored")
        try:
            fields = {_text(name): _text(value) for name, value in stored.items()}
            prompt = parse_prompt(fields.get("json", ""), f"redis prompt {version}")
        except (PromptError, UnicodeDecodeError) as exc:
            raise PromptStoreError(f"stored version {version} is damaged: {exc}") from exc
        if self._signing_key is not None:
            expected = signature_of(prompt, self._signing_key)
            if not hmac.compare_digest(fields.get("signature", ""), expected):
                raise PromptSignatureError(f"prompt version {version} is unsigned or its signature does not match")
        return prompt

    def versions(self) -> list[tuple[str, datetime]]:
        """Every stored version with the time it was stored, oldest first."""
        try:
            entries = self._client.zrange(prompt_versions_key(), 0, -1, withscores=True)
        except RedisError as exc:
            raise PromptStoreError(f"cannot list prompt versions: {exc}") from exc
        pairs = cast("list[tuple[bytes, float]]", entries)
        return [(_text(name), datetime.fromtimestamp(float(score), UTC)) for name, score in pairs]

    def deployment(self) -> Deployment:
        """Where the pointers stand now."""
        try:
            raw = self._client.hgetall(deployment_key())
        except RedisError as exc:
            raise PromptStoreError(f"cannot read the deployment: {exc}") from exc
        try:
            return _deployment(raw)
        except (ValueError, TypeError) as exc:  # pydantic's ValidationError and UnicodeDecodeError are ValueErrors
            raise PromptStoreError(f"the stored deployment is damaged: {str(exc)[:ERROR_EXCERPT_CHARS]}") from exc

    def history(self, limit: int = 50) -> list[HistoryEntry]:
        """The last `limit` pointer moves, oldest first."""
        try:
            raw = self._client.lrange(history_key(), -limit, -1)
        except RedisError as exc:
            raise PromptStoreError(f"cannot read the history: {exc}") from exc
        try:
            return [HistoryEntry.model_validate_json(_text(entry)) for entry in raw]
        except ValueError as exc:
            raise PromptStoreError(f"the stored history is damaged: {str(exc)[:ERROR_EXCERPT_CHARS]}") from exc

    def move(
        self, pointer: Pointer, version: str | None, *, who: str, why: str, share: float | None = None
    ) -> HistoryEntry:
        """Point `pointer` at a stored version (None clears it), atomically, with its history entry."""
        if version is not None:
            self.get(version)  # stored, intact, and signed when signing is on
        if pointer is Pointer.CANARY and version is not None and not (share and 0 < share <= MAX_SHARE):
            raise PromptStoreError("a canary needs a share between 0 and 100 percent")
        return self._transaction(lambda pipe: self._move(pipe, pointer, version, who=who, why=why, share=share))

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
        """Production goes back to the version it held before its last move."""
        moves = [entry for entry in self.history(limit=1000) if entry.pointer is Pointer.PRODUCTION]
        if not moves or moves[-1].from_version is None:
            raise PromptStoreError("production has no earlier version to roll back to")
        return self.move(Pointer.PRODUCTION, moves[-1].from_version, who=who, why=f"rollback: {why}")

    def _transaction(self, body: Callable[[Any], T]) -> T:
        try:
            with self._client.pipeline() as pipe:
                for _ in range(MAX_TRANSACTION_RETRIES):
                    try:
                        pipe.watch(deployment_key())  # type: ignore[no-untyped-call]
                        return body(pipe)
                    except WatchError:
                        continue  # another move landed in between: read again and retry
        except RedisError as exc:
            raise PromptStoreError(f"cannot move the pointer: {exc}") from exc
        raise PromptStoreError("the deployment kept changing; gave up after retries")

    def _move(
        self, pipe: Any, pointer: Pointer, version: str | None, *, who: str, why: str, share: float | None
    ) -> HistoryEntry:
        current = _deployment(pipe.hgetall(deployment_key()))
        entry = HistoryEntry(
            pointer=pointer,
            from_version=getattr(current, pointer.value),
            to_version=version,
            share=share if pointer is Pointer.CANARY else None,
            who=who,
            why=why,
            at=datetime.now(UTC),
            generation=current.generation + 1,
        )
        updated = {pointer.value: version or "", "generation": entry.generation}
        if pointer is Pointer.CANARY:
            updated["canary_share"] = share if version is not None and share is not None else 0.0
        pipe.multi()
        pipe.hset(deployment_key(), mapping=updated)
        pipe.rpush(history_key(), entry.model_dump_json())
        pipe.publish(changes_channel(), json.dumps({"generation": entry.generation}))
        pipe.execute()
        return entry


def _deployment(raw: dict[Any, Any]) -> Deployment:
    fields = {_text(name): _text(value) for name, value in raw.items()}
    return Deployment(
        production=fields.get("production") or None,
        canary=fields.get("canary") or None,
        canary_share=float(fields.get("canary_share") or 0.0),
        shadow=fields.get("shadow") or None,
        generation=int(fields.get("generation") or 0),
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
