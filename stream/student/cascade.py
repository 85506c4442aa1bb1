"""`CascadeStudent`: a fast student in front of a strong one, because most traffic is easy.

The fast student reads every message; where its top label probability reaches the version's fitted
`CascadeThreshold.confidence` it decides alone, and the strong student decides the rest. Each student
scores with its own calibration from the same prompt version, and every classification records the
model that decided it (`Classification.decided_by`), so the decision names it. `pld eval --cascade-fast`
fits the threshold on dev and evaluates this same object on test: eval == serve holds for the cascade
as a whole.
"""

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from schemas import CascadeRecord, CascadeThreshold, EngineRecord, ModelId, PromptVersion, ScoringMode
from stream.student.protocol import Classification, StudentModel

if TYPE_CHECKING:
    from stream.student.prefix_cache import PrefixLoad


def confident(result: Classification, confidence: float) -> bool:
    """Whether the fast student may decide alone: its top label probability reaches `confidence`."""
    return max(result.probabilities.values()) >= confidence


class CascadeStudent:
    """Classifies with `fast` where it is confident and with `strong` elsewhere; owns both."""

    def __init__(self, fast: StudentModel, strong: StudentModel, threshold: CascadeThreshold) -> None:
        if (fast.model_id.sha256, strong.model_id.sha256) != (
            threshold.fast_model_sha256,
            threshold.strong_model_sha256,
        ):
            raise ValueError("the cascade threshold was fitted for another pair of model files or scoring mode")
        self._fast = fast
        self._strong = strong
        self._threshold = threshold

    @property
    def prompt(self) -> PromptVersion:
        """The prompt version every classification uses (both students serve the same one)."""
        return self._strong.prompt

    @property
    def model_id(self) -> ModelId:
        """The strong student's model file: the one that decides whatever the fast one leaves."""
        return self._strong.model_id

    @property
    def mode(self) -> ScoringMode:
        """How messages are scored (both students alike)."""
        return self._strong.mode

    @property
    def engine(self) -> EngineRecord:
        """The strong student's settings, with the fast student and the confidence it decides above."""
        cascade = CascadeRecord(fast_model=self._fast.model_id, confidence=self._threshold.confidence)
        return self._strong.engine.model_copy(update={"cascade": cascade})

    @property
    def prefix_load(self) -> "PrefixLoad | None":
        """How the strong student's prefix was last made ready."""
        return self._strong.prefix_load

    @property
    def threshold(self) -> CascadeThreshold:
        """The fitted threshold this cascade serves with."""
        return self._threshold

    def classify(self, texts: Sequence[str]) -> list[Classification]:
        """The fast student's answer where it is confident, the strong student's elsewhere, in order."""
        first = self._fast.classify(texts)
        results = [replace(result, decided_by=self._fast.model_id) for result in first]
        unsure = [i for i, result in enumerate(first) if not confident(result, self._threshold.confidence)]
        if unsure:
            second = self._strong.classify([texts[i] for i in unsure])
            for i, result in zip(unsure, second, strict=True):
                results[i] = replace(result, decided_by=self._strong.model_id)
        return results

    def close(self) -> None:
        """Release both students."""
        try:
            self._fast.close()
        finally:
            self._strong.close()
