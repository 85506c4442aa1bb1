"""`ModerationDecision`: what a worker publishes on `moderation.decisions` for each request."""

import math
from datetime import datetime
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from schemas.limits import ID_PATTERN, MAX_ID_CHARS, SHA256_PATTERN
from schemas.prompts import Label, PromptVersion
from schemas.requests import TenantId
from schemas.scoring import ScoringMode

PROBABILITY_SUM_TOLERANCE = 1e-3


class ModelId(BaseModel):
    """The exact model file that made a decision."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file_name: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    sha256: Annotated[str, StringConstraints(pattern=SHA256_PATTERN)]


class CascadeRecord(BaseModel):
    """A cascade that served a decision: the fast student and the confidence above which it decided alone."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fast_model: ModelId
    confidence: Annotated[float, Field(gt=0.0, le=1.0)]


class EngineRecord(BaseModel):
    """Every engine setting that changes a result, so a replay can rebuild exactly the student that decided."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    decode: Annotated[str, StringConstraints(max_length=32)]  # isolated or joint
    max_message_tokens: Annotated[int, Field(ge=1)]  # the window size of long messages
    n_ctx: Annotated[int, Field(ge=1)]
    build: Annotated[str, StringConstraints(max_length=200)]  # the llama.cpp build: kernels round differently
    cascade: CascadeRecord | None = None  # set when a fast student stood in front: `model_id` is the one that decided


class ModerationDecision(BaseModel):
    """A label for one request, with the evidence an auditor needs to replay it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS, pattern=ID_PATTERN)]
    tenant: TenantId | None = None
    label: Label
    probabilities: dict[Label, Annotated[float, Field(ge=0.0, le=1.0)]]
    instruction_ids: list[str] = Field(default_factory=list)
    category: Label | None = None  # the taxonomy category the student named, else its first cited rule's (None: none)
    instruction_scores: dict[str, Annotated[float, Field(ge=0.0, le=1.0)]] = Field(default_factory=dict)
    scoring_mode: ScoringMode
    prompt_version: str
    prompt_sha256: Annotated[str, StringConstraints(pattern=SHA256_PATTERN)]
    model_id: ModelId
    engine: EngineRecord | None = None  # None on decisions written before it existed
    latency_ms: Annotated[float, Field(ge=0.0)]
    model_ms: Annotated[float, Field(ge=0.0)]
    batch_size: Annotated[int, Field(ge=1)]
    truncated: bool = False  # the text was longer than the token budget: it was read in windows
    windows: int = Field(default=1, ge=1)  # windows read; the decision is the one most likely not the default
    window: int = Field(default=0, ge=0)  # which of them decided
    normalized_chars: int = Field(default=0, ge=0)  # characters changed or removed before the student read it
    injection_markup: bool = False  # the text spelled out template markup or a cue's answer: held, never allowed
    unsure: bool = False  # the category maps to block, but the student was not sure enough to act unseen: review
    served_as: str | None = None  # production, canary, pinned (PLD_PROMPT_FILE) or default (empty registry)
    source_partition: int | None = None  # where the request was read, so an audit can replay it
    source_offset: int | None = None
    requested_at: datetime | None = None  # the request's created_at: decided_at - requested_at is end to end
    decided_at: datetime
    worker_id: Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS)]

    @model_validator(mode="after")
    def _check_probabilities(self) -> Self:
        if self.label not in self.probabilities:
            raise ValueError(f"label {self.label!r} has no probability in {sorted(self.probabilities)}")
        total = math.fsum(self.probabilities.values())
        if abs(total - 1.0) > PROBABILITY_SUM_TOLERANCE:
            raise ValueError(f"probabilities sum to {total:.6f}, not 1")
        return self

    @property
    def key(self) -> str:
        """The decision's Kafka key: `tenant/request_id`, or the request id alone without a tenant. Neither ids
        nor tenants may contain `/`, so the key is unambiguous: two tenants' request ids never collide in a
        consumer's dedupe, and no request id can pass for another tenant's."""
        return decision_key(self.request_id, self.tenant)

    def check_against(self, prompt: PromptVersion) -> None:
        """Raise ValueError unless this decision is consistent with the prompt that made it."""
        if prompt.sha256 != self.prompt_sha256:
            raise ValueError(f"decision was made with prompt {self.prompt_sha256}, not {prompt.sha256}")
        if set(self.probabilities) != set(prompt.label_names):
            raise ValueError(f"decision labels {sorted(self.probabilities)} differ from {prompt.label_names}")
        unknown = set(self.instruction_ids) - {instruction.id for instruction in prompt.instructions}
        if unknown:
            raise ValueError(f"decision cites instructions not in the prompt: {sorted(unknown)}")


TENANT_SEPARATOR = "/"  # outside ID_PATTERN: never in a tenant or a request id


def decision_key(request_id: str, tenant: str | None) -> str:
    """The Kafka key of the decision for `request_id` of `tenant`."""
    return f"{tenant}{TENANT_SEPARATOR}{request_id}" if tenant else request_id
