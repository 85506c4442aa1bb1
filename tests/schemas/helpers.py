"""Helpers shared by several test modules: a small valid prompt version."""

from schemas import Instruction, InstructionProvenance, LabelDefinition, PromptVersion

PROVENANCE = InstructionProvenance(source="hand_written", author="tests")


def make_prompt(**overrides: object) -> PromptVersion:
    content: dict[str, object] = {
        "version": "v1",
        "task": "Classify the message.",
        "labels": [LabelDefinition(name="allow", description="ok"), LabelDefinition(name="block", description="bad")],
        "default_label": "allow",
        "instructions": [Instruction.from_text("The message threatens someone.", "block", PROVENANCE)],
    }
    content.update(overrides)
    return PromptVersion.create(**content)
