"""`RedisPromptStore`: prompt versions kept in Redis, one of them active for the workers."""

import time

import redis
from redis.exceptions import RedisError

from schemas import PromptVersion
from stream.errors import PromptStoreError
from stream.prompts.files import parse_prompt
from stream.prompts.keys import active_prompt_key, prompt_version_key, prompt_versions_key


class RedisPromptStore:
    """Stores prompt versions by name and tracks which one workers should run."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    @classmethod
    def from_url(cls, url: str) -> "RedisPromptStore":
        """A store on the Redis server at `url`."""
        return cls(redis.Redis.from_url(url))

    def put(self, prompt: PromptVersion) -> None:
        """Store a version; an existing version with other content is refused (versions are immutable)."""
        key = prompt_version_key(prompt.version)
        try:
            stored_sha = self._client.hget(key, "sha256")
            if stored_sha is not None and _text(stored_sha) != prompt.sha256:
                raise PromptStoreError(f"version {prompt.version} already exists with other content")
            pipe = self._client.pipeline()
            pipe.hset(key, mapping={"json": prompt.model_dump_json(), "sha256": prompt.sha256})
            pipe.zadd(prompt_versions_key(), {prompt.version: time.time()}, nx=True)
            pipe.execute()
        except RedisError as exc:
            raise PromptStoreError(f"cannot store prompt {prompt.version}: {exc}") from exc

    def get(self, version: str) -> PromptVersion:
        """A stored version; its sha256 is re-checked against its content."""
        try:
            raw = self._client.hget(prompt_version_key(version), "json")
        except RedisError as exc:
            raise PromptStoreError(f"cannot read prompt {version}: {exc}") from exc
        if raw is None:
            raise PromptStoreError(f"prompt version {version} is not stored")
        return parse_prompt(_text(raw), f"redis prompt {version}")

    def activate(self, version: str) -> None:
        """Make a stored version the one workers run."""
        self.get(version)
        try:
            self._client.set(active_prompt_key(), version)
        except RedisError as exc:
            raise PromptStoreError(f"cannot activate prompt {version}: {exc}") from exc

    def active(self) -> PromptVersion | None:
        """The active version, or None when none was activated yet."""
        try:
            version = self._client.get(active_prompt_key())
        except RedisError as exc:
            raise PromptStoreError(f"cannot read the active prompt: {exc}") from exc
        return None if version is None else self.get(_text(version))

    def active_or_seed(self, seed: PromptVersion) -> PromptVersion:
        """The active version; when there is none, store and activate `seed` first."""
        current = self.active()
        if current is not None:
            return current
        self.put(seed)
        self._client.set(active_prompt_key(), seed.version, nx=True)
        active = self.active()
        assert active is not None  # set with nx just above; another worker may have won the race
        return active


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
