"""Wire and artifact contracts: requests, decisions, dead letters, prompt versions. Data only, no I/O."""

from schemas.dead_letters import DeadLetter, DeadLetterReason
from schemas.decisions import ModelId, ModerationDecision, ScoringMode
from schemas.prompts import Instruction, InstructionProvenance, LabelDefinition, PromptVersion
from schemas.requests import ModerationRequest

__all__ = [
    "DeadLetter",
    "DeadLetterReason",
    "Instruction",
    "InstructionProvenance",
    "LabelDefinition",
    "ModelId",
    "ModerationDecision",
    "ModerationRequest",
    "PromptVersion",
    "ScoringMode",
]
