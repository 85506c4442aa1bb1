"""Wire and artifact contracts: requests, decisions, dead letters, prompt versions. Data only, no I/O."""

from schemas.dead_letters import DeadLetter, DeadLetterReason
from schemas.decisions import ModelId, ModerationDecision
from schemas.prompts import Instruction, InstructionProvenance, LabelCalibration, LabelDefinition, PromptVersion
from schemas.requests import ModerationRequest
from schemas.scoring import ScoringMode

__all__ = [
    "DeadLetter",
    "DeadLetterReason",
    "Instruction",
    "InstructionProvenance",
    "LabelCalibration",
    "LabelDefinition",
    "ModelId",
    "ModerationDecision",
    "ModerationRequest",
    "PromptVersion",
    "ScoringMode",
]
