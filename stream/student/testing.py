"""A test double of the engine: `FakeStudent`, for unit tests of code that depends on a `StudentModel`."""

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from schemas import EngineRecord, ModelId, PromptVersion, ScoringMode
from stream.student.protocol import Classification

if TYPE_CHECKING:
    from stream.student.prefix_cache import PrefixLoad


class FakeStudent:
    """A stand-in for unit tests: labels come from a caller-supplied rule, with the probability `certainty` gives
    (default: certain; the rest is shared evenly by the other labels)."""

    def __init__(
        self,
        prompt: PromptVersion,
        model_id: ModelId,
        rule: Callable[[str], str] | None = None,
        certainty: Callable[[str], float] | None = None,
    ) -> None:
        self._prompt = prompt
        self._model_id = model_id
        self._rule = rule or (lambda _text: prompt.default_label)
        self._certainty = certainty or (lambda _text: 1.0)
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
            label, top = self._rule(text), self._certainty(text)
            rest = (1.0 - top) / (len(self._prompt.label_names) - 1)
            probabilities = {name: top if name == label else rest for name in self._prompt.label_names}
            results.append(Classification(label=label, probabilities=probabilities))
        return results
