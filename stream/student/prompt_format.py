"""Renders a `PromptVersion` and a message in Gemma's turn format, keeping user text out of control tokens.

The prefix (task, label definitions, lettered rules) is identical for every message, so it is
evaluated once and cached. The message is tokenized as plain text, so a `<start_of_turn>` typed by
a user is just characters, never a control token. After the message come short cues, each read at
its last token: the label cue, the rule cue (which rule justifies the answer) and, in rule-check
mode, one yes/no question per rule.
"""

import string

from schemas import Instruction, PromptVersion
from stream.errors import PromptError

TURN_START = "<start_of_turn>"
TURN_END = "<end_of_turn>"
MESSAGE_CUE = "Message:\n"
LABEL_CUE = "Label:"
RULE_CUE = "Rule:"
RULE_LETTERS = string.ascii_uppercase
YES, NO = " Yes", " No"
CONTENT_FREE_TEXTS = ("N/A", "[message]", "...")  # contextual calibration inputs (Zhao et al., 2021)


def rule_letter(index: int) -> str:
    """The letter naming the rule at `index` in the prompt."""
    if index >= len(RULE_LETTERS):
        raise PromptError(f"a prompt can letter at most {len(RULE_LETTERS)} rules; this one has more")
    return RULE_LETTERS[index]


def render_prefix(prompt: PromptVersion) -> str:
    """The system part of the prompt: everything before the message text."""
    labels = "\n".join(f"- {label.name}: {label.description}" for label in prompt.labels)
    rules = "\n".join(
        f"{rule_letter(index)}. {instruction.text} -> {instruction.target_label}"
        for index, instruction in enumerate(prompt.instructions)
    )
    names = ", ".join(prompt.label_names)
    sections = [prompt.task, f"Labels:\n{labels}"]
    if rules:
        sections.append(f"Rules:\n{rules}")
    sections.append(f"Answer with exactly one label ({names}).")
    body = "\n\n".join(sections)
    return f"{TURN_START}user\n{body}\n\n{MESSAGE_CUE}"


def message_end() -> str:
    """Template text closing the user's turn (tokenized with control tokens)."""
    return f"{TURN_END}\n{TURN_START}model\n"


def label_cue() -> str:
    """Read at its end: the label's first token."""
    return LABEL_CUE


def rule_cue() -> str:
    """Read at its end: the letter of the rule that justifies the answer."""
    return RULE_CUE


def rule_question(index: int, instruction: Instruction) -> str:
    """Read at its end: Yes or No, does this rule apply to the message."""
    letter = rule_letter(index)
    return f"Rule {letter}: {instruction.text}\nDoes rule {letter} apply to the message? Answer:"


def label_candidate(label: str) -> str:
    """The text whose first token stands for `label` right after the label cue."""
    return f" {label}"


def letter_candidate(index: int) -> str:
    """The text whose first token stands for rule `index` right after the rule cue."""
    return f" {rule_letter(index)}"
