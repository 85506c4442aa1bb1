"""`ShadowDisagreement`: what `moderation.shadow` carries when a shadow version would have decided otherwise."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas.decisions import ModerationDecision
from schemas.limits import SHA256_PATTERN
from schemas.prompts import Label


class ShadowDecision(BaseModel):
    """The shadow version's answer for the same request (it decided nothing)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt_version: str
    prompt_sha256: Annotated[str, StringConstraints(pattern=SHA256_PATTERN)]
    label: Label
    probabilities: dict[Label, Annotated[float, Field(ge=0.0, le=1.0)]]
    instruction_ids: list[str] = Field(default_factory=list)


class ShadowDisagreement(BaseModel):
    """A request on which the shadow version disagrees with the decision that was served (key: request id)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    served: ModerationDecision
    shadow: ShadowDecision
    label_differs: bool
    instructions_only_served: list[str]  # cited by the served decision, not by the shadow
    instructions_only_shadow: list[str]  # cited by the shadow, not by the served decision
