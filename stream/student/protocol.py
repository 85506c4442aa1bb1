"""The `StudentModel` protocol the worker depends on, its result type, and a fake for unit tests."""

from collections.abc import Callable, Sequence
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
    truncated: bool = False  # the message was longer than the token budget: it was read in windows
    windows: int = 1  # how many windows of the message were read
    window: int = 0  # which window decided (the one most likely not the default label)
    normalized_chars: int = 0  # characters NFKC changed or invisible ones removed before reading
    injection_markup: bool = False  # the text spelled out template markup: held at least for review


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


class FakeStudent:
    """A stand-in for unit tests: labels come from a caller-supplied rule, with certainty."""

    def __init__(self, prompt: PromptVersion, model_id: ModelId, rule: Callable[[str], str] | None = None) -> None:
        self._prompt = prompt
        self._model_id = model_id
        self._rule = rule or (lambda _text: prompt.default_label)
        self.calls: list[list[str]] = []
        self.closed = False

    @property
    def prompt(self) -> PromptVersion:
        """The prompt version every classification uses."""
        return self._prompt

    @property
    def model_id(self) -> ModelId:
        """The (fake) model identity."""
        return self._model_id

    @property
    def mode(self) -> ScoringMode:
        """The fake claims single-pass scoring."""
        return ScoringMode.SINGLE_PASS

    @property
    def engine(self) -> EngineRecord:
        """The fake's settings: isolated decoding, the defaults' sizes, no llama.cpp build."""
        return EngineRecord(decode="isolated", max_message_tokens=512, n_ctx=8192, build="fake")

    @property
    def prefix_load(self) -> "PrefixLoad | None":
        """The fake has no prefix."""
        return None

    def close(self) -> None:
        """Nothing to release."""
        self.closed = True

    def classify(self, texts: Sequence[str]) -> list[Classification]:
        """Apply the rule to each text; record the call."""
        self.calls.append(list(texts))
        results = []
        for text in texts:
            label = self._rule(text)
            probabilities = {name: float(name == label) for name in self._prompt.label_names}
            results.append(Classification(label=label, probabilities=probabilities))
        return results
