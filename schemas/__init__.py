"""Wire and artifact contracts: requests, decisions, dead letters, prompt versions. Data only, no I/O."""

from schemas.dead_letters import DeadLetter, DeadLetterReason
from schemas.decisions import CascadeRecord, EngineRecord, ModelId, ModerationDecision, decision_key
from schemas.prompts import (
    CascadeThreshold,
    Category,
    CertainAction,
    EvaluationRecord,
    Exemplar,
    Instruction,
    InstructionProvenance,
    LabelCalibration,
    LabelDefinition,
    PromptVersion,
)
from schemas.requests import ModerationRequest
from schemas.scoring import ScoringMode
from schemas.shadow import ShadowDecision, ShadowDisagreement

__all__ = [
    "CascadeRecord",
    "CascadeThreshold",
    "Category",
    "CertainAction",
    "DeadLetter",
    "DeadLetterReason",
    "EngineRecord",
    "EvaluationRecord",
    "Exemplar",
    "Instruction",
    "InstructionProvenance",
    "LabelCalibration",
    "LabelDefinition",
    "ModelId",
    "ModerationDecision",
    "ModerationRequest",
    "PromptVersion",
    "ScoringMode",
    "ShadowDecision",
    "ShadowDisagreement",
    "decision_key",
]
