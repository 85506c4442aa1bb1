"""Helpers shared by several test modules: a small valid prompt version, and one with a taxonomy."""

from schemas import Category, Instruction, InstructionProvenance, LabelDefinition, PromptVersion

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


def taxonomy_prompt() -> PromptVersion:
    """Three moderation labels, three categories (threat and spam block, sexual review), one rule each."""
    categories = [
        Category(name="threat", action="block", description="Threats of violence against people."),
        Category(name="spam", action="block", description="Unsolicited advertising and scams."),
        Category(name="sexual", action="review", description="Sexual content."),
    ]
    rules = [
        ("If the message says it will hurt the reader, label it block.", "block", "threat"),
        ("If the message promotes gambling or a lottery, label it block.", "block", "spam"),
        ("If the message describes a sexual act, label it review.", "review", "sexual"),
    ]
    instructions = [
        Instruction.from_text(text, label, PROVENANCE).model_copy(update={"category": category})
        for text, label, category in rules
    ]
    return PromptVersion.create(
        version="taxonomy",
        task="Moderate the message.",
        labels=[LabelDefinition(name=name, description=name) for name in ("allow", "review", "block")],
        default_label="allow",
        instructions=instructions,
        categories=categories,
    )
