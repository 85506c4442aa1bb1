"""`PromptVersion` and `Instruction`: the versioned system prompt a student runs with.

A version's `sha256` is computed over its canonical content (every field but `sha256`, as sorted,
compact JSON), so any edit to an instruction, a label or the task yields a new hash; a version whose
stored hash does not match its content is rejected.

An instruction may carry up to two exemplars (its own supporting examples, rendered as worked
demonstrations); they are hashed with it. A version may carry `calibrations`: per-label decision
biases that `pld eval` fitted on a dev split for one student model and scoring mode, and `cascades`:
the confidence above which a fast student decides alone in front of a stronger one. They are part
of the hashed content, so the version a report describes is exactly the version a worker serves.
A version may carry a moderation taxonomy (`categories`, each mapped to an action label); each
instruction then names its category; the student names a held message's category, whose action is the
decision's label, and cites that category's rules.
Empty lists and unset options are left out of the hash, so versions written before they existed keep
their sha256.
"""

import hashlib
import json
import math
from datetime import date
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from schemas.limits import (
    ID_PATTERN,
    LABEL_PATTERN,
    MAX_ID_CHARS,
    MAX_INSTRUCTION_CHARS,
    MAX_INSTRUCTIONS,
    MAX_LABEL_CHARS,
    MAX_LABELS,
    MAX_PROMPT_TEXT_CHARS,
    SHA256_PATTERN,
)
from schemas.scoring import ScoringMode

Label = Annotated[str, StringConstraints(min_length=1, max_length=MAX_LABEL_CHARS, pattern=LABEL_PATTERN)]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS, pattern=ID_PATTERN)]
Sha256 = Annotated[str, StringConstraints(pattern=SHA256_PATTERN)]
InstructionSource = Literal["hand_written", "distilled"]

INSTRUCTION_ID_PREFIX = "ins-"
INSTRUCTION_ID_HEX_CHARS = 10
MAX_EXEMPLARS = 2
MAX_EXEMPLAR_CHARS = 400
CALIBRATED_VERSION_MARK = ".cal-"
CALIBRATION_DIGEST_CHARS = 8
SHA256_MISMATCH = "does not match the content"  # in the error of a file edited without resealing


def base_version_name(version: str) -> str:
    """A version name without its calibration digest: `moderation-v5.cal-1a2b3c4d` -> `moderation-v5`."""
    return version.partition(CALIBRATED_VERSION_MARK)[0]


class LabelDefinition(BaseModel):
    """One label a prompt can assign, with the definition the student reads."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Label
    description: Annotated[str, StringConstraints(min_length=1, max_length=MAX_INSTRUCTION_CHARS)]


class Exemplar(BaseModel):
    """One of an instruction's own supporting examples, shown to the student as a worked demonstration."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    example_id: Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS)]
    text: Annotated[str, StringConstraints(min_length=1, max_length=MAX_EXEMPLAR_CHARS)]
    label: Label


class InstructionProvenance(BaseModel):
    """Where an instruction came from, so an auditor can trace a rule back to its evidence."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: InstructionSource
    author: str | None = None
    teacher: str | None = None
    supporting_example_ids: list[str] = Field(default_factory=list)
    rationale_excerpts: list[str] = Field(default_factory=list)
    support: int = Field(default=0, ge=0)
    purity: float | None = Field(default=None, ge=0.0, le=1.0)
    notes: str | None = None
    exemplars: list[Exemplar] = Field(default_factory=list, max_length=MAX_EXEMPLARS)


def instruction_id(text: str, target_label: str) -> str:
    """Stable id derived from content: unchanged text and target keep their id across runs."""
    digest = hashlib.sha256(f"{target_label}\n{text.strip()}".encode()).hexdigest()
    return INSTRUCTION_ID_PREFIX + digest[:INSTRUCTION_ID_HEX_CHARS]


class Category(BaseModel):
    """One kind of harm in a moderation taxonomy (hate, threats, spam, ...) and the action it maps to.

    The action is one of the version's labels; a deployment edits the mapping (e.g. profanity to `allow`
    on a gaming forum) by publishing a version with other actions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Label
    action: Label
    description: Annotated[str, StringConstraints(min_length=1, max_length=MAX_INSTRUCTION_CHARS)]


class Instruction(BaseModel):
    """One human-readable rule: a condition on the message, the label it points to and its category."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Identifier
    text: Annotated[str, StringConstraints(min_length=1, max_length=MAX_INSTRUCTION_CHARS)]
    target_label: Label
    provenance: InstructionProvenance
    category: Label | None = None  # one of the version's categories, when it has a taxonomy

    @classmethod
    def from_text(cls, text: str, target_label: str, provenance: InstructionProvenance) -> Self:
        """Build an instruction whose id is derived from its text and target label."""
        return cls(id=instruction_id(text, target_label), text=text, target_label=target_label, provenance=provenance)


class CertainAction(BaseModel):
    """The most severe action taken only where the student is sure (versions with a taxonomy).

    A message the biased argmax gives `label` (block) whose P(default label) is above
    `max_default_probability` gets `otherwise` (review) instead: a person looks at it rather than it being
    removed unseen. Fitted on dev: the highest bound at which the dev messages still given `label` are
    harmful at least `dev_precision` of the time (`distiller.calibration.AUTO_ACTION_PRECISION`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    label: Label
    otherwise: Label
    max_default_probability: float = Field(ge=0.0, le=1.0)
    dev_precision: float = Field(ge=0.0, le=1.0)

    def label_for(self, label: str, default_probability: float) -> str:
        """The label a message decided `label` gets: `otherwise` where `label` is this action's and the message
        is too likely to be fine to take it unseen, else `label` itself."""
        if label == self.label and default_probability > self.max_default_probability:
            return self.otherwise
        return label


class LabelCalibration(BaseModel):
    """Per-label decision biases for one student model and scoring mode, fitted on a dev split.

    The student adds each bias to its label's log-probability and takes the argmax (both modes); with a
    `certain_action`, the most severe label only where the student is sure of it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_sha256: Sha256
    scoring_mode: ScoringMode
    label_biases: dict[Label, float]
    dev_split: Annotated[str, StringConstraints(min_length=1, max_length=MAX_INSTRUCTION_CHARS)]
    dev_examples: int = Field(ge=1)
    dev_sha256: Sha256
    dev_macro_f1: float = Field(ge=0.0, le=1.0)
    fitted_on: date
    certain_action: CertainAction | None = None

    @field_validator("label_biases")
    @classmethod
    def _finite(cls, biases: dict[str, float]) -> dict[str, float]:
        if not all(math.isfinite(value) for value in biases.values()):
            raise ValueError(f"label biases must be finite numbers: {biases}")
        return biases


Interval = tuple[float, float]


class EvaluationRecord(BaseModel):
    """The held-out evaluation a version passed, for one student: what a promotion gate compares.

    Carried in the version (so in its sha256 and signature): the data (dataset, split and the sha256 of
    its example ids and labels), the student (model file sha256, scoring mode, decoding), and macro-F1
    and per-label recall with their bootstrap 95% intervals."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset: Annotated[str, StringConstraints(min_length=1, max_length=MAX_INSTRUCTION_CHARS)]
    split: Label
    split_sha256: Sha256
    examples: int = Field(ge=1)
    model_sha256: Sha256
    model_file: Annotated[str, StringConstraints(min_length=1, max_length=MAX_INSTRUCTION_CHARS)]
    scoring_mode: ScoringMode
    decode: Label
    macro_f1: float = Field(ge=0.0, le=1.0)
    macro_f1_ci: Interval
    recall: dict[Label, float]
    recall_ci: dict[Label, Interval]  # Wilson score intervals
    evaluated_on: date


class CascadeThreshold(BaseModel):
    """Where a fast student may decide alone in front of a stronger one, fitted on a dev split by `pld eval
    --cascade-fast`: the fast student decides a message when its top label probability is at least
    `confidence`; the strong student decides the rest. Fitted as the lowest confidence at which the cascade's
    dev macro-F1 and share of harmful messages held stay within `tolerance` of the strong student alone."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fast_model_sha256: Sha256
    fast_model_file: Annotated[str, StringConstraints(min_length=1, max_length=MAX_INSTRUCTION_CHARS)]
    strong_model_sha256: Sha256
    scoring_mode: ScoringMode
    confidence: float = Field(gt=0.0, le=1.0)
    tolerance: float = Field(ge=0.0, le=1.0)
    dev_split: Annotated[str, StringConstraints(min_length=1, max_length=MAX_INSTRUCTION_CHARS)]
    dev_examples: int = Field(ge=1)
    dev_sha256: Sha256
    dev_fast_share: float = Field(ge=0.0, le=1.0)  # share of dev messages the fast student decided
    dev_macro_f1: float = Field(ge=0.0, le=1.0)  # the cascade's
    dev_strong_macro_f1: float = Field(ge=0.0, le=1.0)  # the strong student's alone
    fitted_on: date

    @property
    def pair(self) -> tuple[str, str, ScoringMode]:
        """What the threshold was fitted for: the fast and strong model files and the scoring mode."""
        return (self.fast_model_sha256, self.strong_model_sha256, self.scoring_mode)


class PromptVersion(BaseModel):
    """A versioned, hash-identified system prompt: task, label set and ordered instructions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Identifier
    task: Annotated[str, StringConstraints(min_length=1, max_length=MAX_PROMPT_TEXT_CHARS)]
    labels: list[LabelDefinition] = Field(min_length=2, max_length=MAX_LABELS)
    default_label: Label
    instructions: list[Instruction] = Field(max_length=MAX_INSTRUCTIONS)
    calibrations: list[LabelCalibration] = Field(default_factory=list, max_length=MAX_LABELS)
    show_rules: bool = True  # False: the prompt shows only the rules' exemplars (an ablation, or a choice)
    scoring_mode: ScoringMode | None = None  # chosen on dev for the student; None: the worker's setting
    categories: list[Category] = Field(default_factory=list, max_length=MAX_INSTRUCTIONS)  # the taxonomy
    evaluations: list[EvaluationRecord] = Field(default_factory=list, max_length=MAX_INSTRUCTIONS)
    cascades: list[CascadeThreshold] = Field(default_factory=list, max_length=MAX_LABELS)
    sha256: Sha256

    @classmethod
    def create(cls, **content: Any) -> Self:
        """Build a version from its content, computing the canonical sha256."""
        return cls(**content, sha256=canonical_sha256(content))

    def category_of(self, instruction_id: str) -> str | None:
        """The category of one of this version's instructions (None without a taxonomy)."""
        return next((ins.category for ins in self.instructions if ins.id == instruction_id), None)

    @property
    def label_names(self) -> list[str]:
        """The labels a decision under this prompt may carry, in prompt order."""
        return [label.name for label in self.labels]

    def calibration_for(self, model_sha256: str, mode: ScoringMode) -> LabelCalibration | None:
        """The calibration fitted for this model file and scoring mode, if the version carries one."""
        return next((c for c in self.calibrations if c.model_sha256 == model_sha256 and c.scoring_mode is mode), None)

    def with_calibration(self, calibration: LabelCalibration) -> "PromptVersion":
        """A new version carrying `calibration` (replacing one for the same model and mode).

        Its name is this version's base name plus a digest of its calibrations, so a calibrated version
        never collides with the uncalibrated one in a store of immutable versions."""
        kept = [
            c
            for c in self.calibrations
            if (c.model_sha256, c.scoring_mode) != (calibration.model_sha256, calibration.scoring_mode)
        ]
        calibrations = [*kept, calibration]
        content = self.model_dump(exclude={"sha256", "version", "calibrations"})
        version = self._measured_name(calibrations, self.evaluations, self.cascades)
        return PromptVersion.create(**content, version=version, calibrations=calibrations)

    def with_evaluation(self, evaluation: EvaluationRecord) -> "PromptVersion":
        """A new version carrying `evaluation` (replacing one of the same data and student), named like a
        calibrated one: base name plus a digest of what was measured."""
        same = (evaluation.dataset, evaluation.split_sha256, evaluation.model_sha256, evaluation.scoring_mode)
        kept = [e for e in self.evaluations if (e.dataset, e.split_sha256, e.model_sha256, e.scoring_mode) != same]
        evaluations = [*kept, evaluation]
        content = self.model_dump(exclude={"sha256", "version", "evaluations"})
        version = self._measured_name(self.calibrations, evaluations, self.cascades)
        return PromptVersion.create(**content, version=version, evaluations=evaluations)

    def cascade_for(
        self, fast_model_sha256: str, strong_model_sha256: str, mode: ScoringMode
    ) -> CascadeThreshold | None:
        """The cascade threshold fitted for this pair of model files and scoring mode, if the version carries one."""
        pair = (fast_model_sha256, strong_model_sha256, mode)
        return next(
            (c for c in self.cascades if (c.fast_model_sha256, c.strong_model_sha256, c.scoring_mode) == pair), None
        )

    def with_cascade(self, cascade: CascadeThreshold) -> "PromptVersion":
        """A new version carrying `cascade` (replacing one for the same pair and mode), named like a calibrated one."""
        kept = [c for c in self.cascades if c.pair != cascade.pair]
        cascades = [*kept, cascade]
        content = self.model_dump(exclude={"sha256", "version", "cascades"})
        version = self._measured_name(self.calibrations, self.evaluations, cascades)
        return PromptVersion.create(**content, version=version, cascades=cascades)

    def _measured_name(
        self,
        calibrations: list[LabelCalibration],
        evaluations: list[EvaluationRecord],
        cascades: list[CascadeThreshold],
    ) -> str:
        measured: list[Any] = [c.model_dump(mode="json", exclude_none=True) for c in calibrations]
        if evaluations or cascades:  # a calibrated version without evaluations keeps the name it always had
            measured = [measured, [e.model_dump(mode="json") for e in evaluations]]
        if cascades:  # likewise for versions without a cascade
            measured.append([c.model_dump(mode="json") for c in cascades])
        payload = json.dumps(measured, sort_keys=True)
        digest = hashlib.sha256(payload.encode()).hexdigest()[:CALIBRATION_DIGEST_CHARS]
        return f"{base_version_name(self.version)}{CALIBRATED_VERSION_MARK}{digest}"

    def evaluation_for(self, dataset: str, model_sha256: str) -> EvaluationRecord | None:
        """The latest evaluation on `dataset` with this model file, if the version carries one."""
        found = [e for e in self.evaluations if e.dataset == dataset and e.model_sha256 == model_sha256]
        return max(found, key=lambda e: e.evaluated_on) if found else None

    def without_calibrations(self) -> "PromptVersion":
        """The same instructions with no calibration, evaluation or cascade (and the base version name)."""
        content = self.model_dump(exclude={"sha256", "version", "calibrations", "evaluations", "cascades"})
        return PromptVersion.create(**content, version=base_version_name(self.version))

    def variant(self, version: str, **changes: Any) -> "PromptVersion":
        """A new version with `changes` (e.g. other instructions), no calibration, evaluation or cascade, named
        `version`."""
        content = self.model_dump(exclude={"sha256", "version", "calibrations", "evaluations", "cascades"})
        return PromptVersion.create(**{**content, **changes}, version=version)

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        names = self.label_names
        if len(set(names)) != len(names):
            raise ValueError(f"labels are not unique: {names}")
        if self.default_label not in names:
            raise ValueError(f"default_label {self.default_label!r} is not one of the labels {names}")
        for instruction in self.instructions:
            if instruction.target_label not in names:
                raise ValueError(
                    f"instruction {instruction.id} targets {instruction.target_label!r}, not one of {names}"
                )
        ids = [instruction.id for instruction in self.instructions]
        if len(set(ids)) != len(ids):
            raise ValueError("instruction ids are not unique")
        self._check_calibrations(names)
        self._check_categories(names)
        expected = canonical_sha256(self.model_dump(mode="json", exclude={"sha256"}))
        if self.sha256 != expected:
            raise ValueError(f"sha256 {self.sha256} {SHA256_MISMATCH} (expected {expected})")
        return self

    def _check_categories(self, names: list[str]) -> None:
        categories = {category.name: category for category in self.categories}
        if len(categories) != len(self.categories):
            raise ValueError("category names are not unique")
        for category in self.categories:
            if category.action not in names:
                raise ValueError(f"category {category.name} maps to {category.action!r}, not one of {names}")
        for instruction in self.instructions:
            if instruction.category is None:
                continue
            if instruction.category not in categories:
                raise ValueError(f"instruction {instruction.id} names category {instruction.category!r}, not defined")
            if categories[instruction.category].action != instruction.target_label:
                raise ValueError(
                    f"instruction {instruction.id} targets {instruction.target_label!r}, but its category "
                    f"{instruction.category} maps to {categories[instruction.category].action!r}"
                )

    def _check_calibrations(self, names: list[str]) -> None:
        targets = [(c.model_sha256, c.scoring_mode) for c in self.calibrations]
        if len(set(targets)) != len(targets):
            raise ValueError("two calibrations target the same model and scoring mode")
        for calibration in self.calibrations:
            if sorted(calibration.label_biases) != sorted(names):
                raise ValueError(f"calibration biases {sorted(calibration.label_biases)} do not match labels {names}")
            certain = calibration.certain_action
            if certain is not None and not {certain.label, certain.otherwise} <= set(names) - {self.default_label}:
                raise ValueError(f"a certain action's labels must be held labels of {names}, got {certain}")


def canonical_sha256(content: dict[str, Any]) -> str:
    """sha256 of the canonical JSON form of a prompt's content (without its `sha256` field)."""
    normalised = _PromptContent.model_validate(content).model_dump(mode="json")
    if not normalised["calibrations"]:
        del normalised["calibrations"]  # versions from before calibrations existed keep their hash
    for calibration in normalised.get("calibrations", []):
        if calibration["certain_action"] is None:
            del calibration["certain_action"]  # and calibrations from before certain actions existed
    if normalised["show_rules"]:
        del normalised["show_rules"]  # likewise for the default layout
    if normalised["scoring_mode"] is None:
        del normalised["scoring_mode"]  # and for versions that leave the scoring mode to the worker
    if not normalised["categories"]:
        del normalised["categories"]  # and for versions without a taxonomy
    if not normalised["evaluations"]:
        del normalised["evaluations"]  # and for versions that carry no evaluation
    if not normalised["cascades"]:
        del normalised["cascades"]  # and for versions that carry no cascade threshold
    for instruction in normalised["instructions"]:
        if not instruction["provenance"]["exemplars"]:
            del instruction["provenance"]["exemplars"]  # likewise for instructions without exemplars
        if instruction["category"] is None:
            del instruction["category"]  # and for instructions without a category
    canonical = json.dumps(normalised, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class _PromptContent(BaseModel):
    """The hashed part of a `PromptVersion`, normalised the same way whatever the input form."""

    model_config = ConfigDict(extra="forbid")

    version: str
    task: str
    labels: list[LabelDefinition]
    default_label: str
    instructions: list[Instruction]
    calibrations: list[LabelCalibration] = Field(default_factory=list)
    show_rules: bool = True
    scoring_mode: ScoringMode | None = None
    categories: list[Category] = Field(default_factory=list)
    evaluations: list[EvaluationRecord] = Field(default_factory=list)
    cascades: list[CascadeThreshold] = Field(default_factory=list)
