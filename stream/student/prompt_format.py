"""Renders a `PromptVersion` and a message in Gemma's turn format, keeping user text out of control tokens.

The prefix (task, label definitions, numbered rules) is identical for every message, so it is
evaluated once and cached. The suffix is the message followed by the turn markers and the answer
cue; the message part is tokenized as plain text, so a `<start_of_turn>` typed by a user is just
characters, never a control token.
"""

from dataclasses import dataclass

from schemas import PromptVersion

TURN_START = "<start_of_turn>"
TURN_END = "<end_of_turn>"
ANSWER_CUE = "Label:"
MESSAGE_CUE = "Message:\n"


def render_prefix(prompt: PromptVersion) -> str:
    """The system part of the prompt: everything before the message text."""
    labels = "\n".join(f"- {label.name}: {label.description}" for label in prompt.labels)
    rules = "\n".join(
        f"{number}. [{instruction.id}] {instruction.text} -> {instruction.target_label}"
        for number, instruction in enumerate(prompt.instructions, start=1)
    )
    names = ", ".join(prompt.label_names)
    sections = [prompt.task, f"Labels:\n{labels}"]
    if rules:
        sections.append(f"Rules:\n{rules}")
    sections.append(f"Answer with exactly one label ({names}).")
    body = "\n\n".join(sections)
    return f"{TURN_START}user\n{body}\n\n{MESSAGE_CUE}"


@dataclass(frozen=True)
class SuffixParts:
    """The message text (plain) and the trailing template text (with control tokens)."""

    message: str
    closing: str


def render_suffix(text: str) -> SuffixParts:
    """The per-message part of the prompt, split so the message can be tokenized as plain text."""
    return SuffixParts(message=text, closing=f"{TURN_END}\n{TURN_START}model\n{ANSWER_CUE}")


def label_candidate(label: str) -> str:
    """The text whose first token stands for `label` right after the answer cue."""
    return f" {label}"
