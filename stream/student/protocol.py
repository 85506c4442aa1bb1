"""The `StudentModel` protocol the worker depends on, and its result type."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from schemas import EngineRecord, ModelId, PromptVersion, ScoringMode

if TYPE_CHECKING:
    from stream.student.prefix_cache import PrefixLoad


class DecodeStrategy(StrEnum):
    """How a batch of messages is decoded after the shared prefix."""

    JOINT = "joint"  # every message of a chunk in one llama_decode: fastest
    ISOLATED = "isolated"  # one llama_decode per message: results cannot depend on batch neighbours


@dataclass(frozen=True)
class Classification:
    """The student's answer for one message."""

    label: str
    probabilities: dict[str, float]
    instruction_ids: list[str] = field(default_factory=list)
    instruction_scores: dict[str, float] = field(default_factory=dict)
    category: str | None = None  # with a taxonomy: the category the student named (None: none, or no taxonomy)
    truncated: bool = False  # the message was longer than the token budget: it was read in windows
    windows: int = 1  # how many windows of the message were read
    window: int = 0  # which window decided (the one most likely not the default label)
    normalized_chars: int = 0  # characters NFKC changed or invisible ones removed before reading
    injection_markup: bool = False  # the text spelled out template markup: held at least for review
    unsure: bool = False  # the category's action (block) was softened to review: not sure enough to act unseen
    decided_by: ModelId | None = None  # in a cascade, the model that decided (None: the student's own model)


def decided_category(classification: Classification, prompt: PromptVersion) -> str | None:
    """The category a decision reports: the one the student named, else that of its first cited rule."""
    cited = prompt.category_of(classification.instruction_ids[0]) if classification.instruction_ids else None
    return classification.category or cited


class StudentModel(Protocol):
    """Classifies messages under one prompt version. Calls block; run them off the event loop."""

    @property
    def prompt(self) -> PromptVersion:
        """The prompt version every classification uses."""
        ...

    @property
    def model_id(self) -> ModelId:
        """The model file behind the classifications."""
        ...

    @property
    def mode(self) -> ScoringMode:
        """How messages are scored."""
        ...

    @property
    def engine(self) -> EngineRecord:
        """The engine settings that change a result (recorded in every decision)."""
        ...

    @property
    def prefix_load(self) -> "PrefixLoad | None":
        """How the prompt prefix was last made ready (computed or restored, and how long it took), if known."""
        ...

    def classify(self, texts: Sequence[str]) -> list[Classification]:
        """One classification per text, in order."""
        ...

    def close(self) -> None:
        """Release the model (a student is not used after this)."""
        ...
