"""`ServingPolicy`: which student decides which request in one batch, and which one shadows them.

A policy is immutable: the worker swaps a whole new one in between two batches, so every decision of
a batch comes from the policy that was current when the batch started, and decisions switch from one
version to the next once, at a batch boundary. The canary decides a deterministic share of requests:
those whose request id hashes into the first `canary_share` percent, so a request keeps its version
however often it is retried.
"""

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from stream.student import StudentModel

SHARE_BUCKETS = 10_000  # canary shares resolve to 0.01 percent
PERCENT = 100


class Role(StrEnum):
    """Why a version decided a request (recorded in the decision)."""

    PRODUCTION = "production"
    CANARY = "canary"
    PINNED = "pinned"  # PLD_PROMPT_FILE: this worker runs one file, outside the registry
    DEFAULT = "default"  # the registry had nothing yet (or never answered): the shipped default policy


@dataclass(frozen=True)
class ServingPolicy:
    """The students serving one deployment generation."""

    production: StudentModel
    role: Role = Role.PRODUCTION
    canary: StudentModel | None = None
    canary_share: float = 0.0
    shadow: StudentModel | None = None
    generation: int = 0

    def decider_for(self, request_id: str) -> tuple[StudentModel, Role]:
        """The student that decides `request_id`, and in which role."""
        if self.canary is not None and in_canary(request_id, self.canary_share):
            return self.canary, Role.CANARY
        return self.production, self.role

    def roles(self) -> dict[str, tuple[str, str]]:
        """Each serving role's prompt version and sha256 (the `pld_prompt_info` metric's labels)."""
        roles = {self.role.value: (self.production.prompt.version, self.production.prompt.sha256)}
        if self.canary is not None:
            roles[Role.CANARY.value] = (self.canary.prompt.version, self.canary.prompt.sha256)
        if self.shadow is not None:
            roles["shadow"] = (self.shadow.prompt.version, self.shadow.prompt.sha256)
        return roles

    def students(self) -> list[StudentModel]:
        """Every distinct student this policy uses."""
        found = [self.production, self.canary, self.shadow]
        unique: list[StudentModel] = []
        for student in found:
            if student is not None and all(student is not other for other in unique):
                unique.append(student)
        return unique


class PolicySource(Protocol):
    """Where a worker's batches get their policy: a pinned file (`PinnedPolicy`) or the registry's pointers
    (`PolicyWatcher`, hot reload). The agent calls `take` once per batch."""

    @property
    def current(self) -> ServingPolicy:
        """The policy the last batch was served with (or the first one)."""
        ...

    def take(self) -> ServingPolicy:
        """The policy for the next batch; a new one is swapped in only here, between two batches."""
        ...

    def start(self) -> None:
        """Begin watching for new versions (if there is anything to watch)."""
        ...

    def model_loaded(self) -> bool:
        """Whether a student is there to decide (readiness)."""
        ...

    def close(self) -> None:
        """Stop watching and release every student."""
        ...


class PinnedPolicy:
    """`PLD_PROMPT_FILE`: one version from a file, outside the registry; nothing to watch."""

    def __init__(self, production: StudentModel) -> None:
        self._current = ServingPolicy(production=production, role=Role.PINNED)
        self._closed = False

    @property
    def current(self) -> ServingPolicy:
        """Always the pinned policy."""
        return self._current

    def take(self) -> ServingPolicy:
        """Always the pinned policy."""
        return self._current

    def start(self) -> None:
        """Nothing to watch."""

    def model_loaded(self) -> bool:
        """Whether the student is there to decide."""
        return not self._closed

    def close(self) -> None:
        """Release the student."""
        self._closed = True
        self._current.production.close()


def in_canary(request_id: str, share_percent: float) -> bool:
    """Whether a request id falls in the canary's share (deterministic: sha256 of the id)."""
    bucket = int(hashlib.sha256(request_id.encode()).hexdigest()[:8], 16) % SHARE_BUCKETS
    return bucket < share_percent / PERCENT * SHARE_BUCKETS
