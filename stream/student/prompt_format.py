"""Renders a `PromptVersion` and a message in Gemma's turn format, keeping user text out of control tokens.

Turn markers follow the model family (Gemma or ChatML, chosen from the GGUF's architecture).
The prefix (task, label definitions, lettered rules, then the rules' exemplars as worked
demonstrations in exactly the format of a scored message: its turn, then `Label: <label>`) is
identical for every message, so it is evaluated once and cached. The message is tokenized as plain
text, so a `<start_of_turn>` typed by a user is just characters, never a control token. After the
message come short cues, each read at its last token: the label cue, the rule cue (which rule
justifies the answer), with a taxonomy the category cue (which category the message falls in) and, in
rule-check mode, one yes/no question per rule.
"""

import string
from dataclasses import dataclass

from schemas import Exemplar, Instruction, PromptVersion
from stream.student.errors import PromptError


@dataclass(frozen=True)
class ChatFormat:
    """The turn markers of a model family's chat template."""

    user_start: str
    turn_end: str
    model_start: str


GEMMA = ChatFormat("<start_of_turn>user\n", "<end_of_turn>\n", "<start_of_turn>model\n")
CHATML = ChatFormat("<|im_start|>user\n", "<|im_end|>\n", "<|im_start|>assistant\n")
CHAT_FORMATS = {"gemma3": GEMMA, "gemma2": GEMMA, "gemma": GEMMA, "qwen2": CHATML, "qwen3": CHATML}


def chat_format_for(architecture: str) -> ChatFormat:
    """The turn markers for a GGUF `general.architecture`."""
    try:
        return CHAT_FORMATS[architecture]
    except KeyError as exc:
        raise PromptError(f"no chat format known for architecture {architecture!r}") from exc


MESSAGE_CUE = "Message:\n"
LABEL_CUE = "Label:"
RULE_CUE = "Rule:"
CATEGORY_CUE = "Category:"
NO_CATEGORY = "none"  # the category cue's answer for a message in none of the taxonomy's categories
# What `none` covers, spelled out: without it a 1.5B student files heated but acceptable talk under a category.
NO_CATEGORY_DESCRIPTION = (
    "anything else: everyday talk, questions, opinions, criticism of ideas or work, fiction, technical terms"
)
RULE_LETTERS = string.ascii_uppercase
YES, NO = " Yes", " No"
CONTENT_FREE_TEXTS = ("N/A", "[message]", "...")  # contextual calibration inputs (Zhao et al., 2021)


def rule_letter(index: int) -> str:
    """The letter naming the rule at `index` in the prompt."""
    if index >= len(RULE_LETTERS):
        raise PromptError(f"a prompt can letter at most {len(RULE_LETTERS)} rules; this one has more")
    return RULE_LETTERS[index]


def render_prefix(prompt: PromptVersion, chat: ChatFormat = GEMMA) -> str:
    """The system part of the prompt: everything before the message text (demonstrations included)."""
    labels = "\n".join(f"- {label.name}: {label.description}" for label in prompt.labels)
    rules = "\n".join(
        f"{rule_letter(index)}. {instruction.text} -> {instruction.target_label}"
        + (f" ({instruction.category})" if instruction.category else "")
        for index, instruction in enumerate(prompt.instructions)
    )
    names = ", ".join(prompt.label_names)
    sections = [prompt.task, f"Labels:\n{labels}"]
    if prompt.categories:
        categories = "\n".join(
            f"- {category.name}: {category.description} -> {category.action}" for category in prompt.categories
        )
        sections.append(
            f"Categories:\n{categories}\n- {NO_CATEGORY}: {NO_CATEGORY_DESCRIPTION} -> {prompt.default_label}"
        )
    if rules and prompt.show_rules:
        sections.append(f"Rules:\n{rules}")
    sections.append(f"Answer with exactly one label ({names}).")
    body = "\n\n".join(sections)
    demonstrations = "".join(
        f"{MESSAGE_CUE}{_plain(exemplar.text, chat)}{chat.turn_end}{chat.model_start}"
        f"{LABEL_CUE}{label_candidate(exemplar.label)}{chat.turn_end}{chat.user_start}"
        for exemplar in demonstration_order(prompt)
    )
    return f"{chat.user_start}{body}\n\n{demonstrations}{MESSAGE_CUE}"


def demonstration_order(prompt: PromptVersion) -> list[Exemplar]:
    """Every instruction's exemplars, labels interleaved round-robin so no label always comes last."""
    by_label: dict[str, list[Exemplar]] = {}
    for instruction in prompt.instructions:
        for exemplar in instruction.provenance.exemplars:
            by_label.setdefault(exemplar.label, []).append(exemplar)
    queues = list(by_label.values())
    ordered: list[Exemplar] = []
    while any(queues):
        ordered += [queue.pop(0) for queue in queues if queue]
    return ordered


def _plain(text: str, chat: ChatFormat) -> str:
    """Exemplar text is data: spell out any turn marker it contains so it cannot become a control token."""
    for marker in {chat.user_start, chat.turn_end, chat.model_start}:
        token = marker.strip()
        text = text.replace(token, token.replace("<", "< "))
    return text


def message_end(chat: ChatFormat = GEMMA) -> str:
    """Template text closing the user's turn (tokenized with control tokens)."""
    return f"{chat.turn_end}{chat.model_start}"


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


def category_cue() -> str:
    """Read at its end: the first token of the category the message falls in (or of `NO_CATEGORY`)."""
    return CATEGORY_CUE


def category_candidate(name: str) -> str:
    """The text whose first token stands for category `name` right after the category cue."""
    return f" {name}"


def label_candidate(label: str) -> str:
    """The text whose first token stands for `label` right after the label cue."""
    return f" {label}"


def letter_candidate(index: int) -> str:
    """The text whose first token stands for rule `index` right after the rule cue."""
    return f" {rule_letter(index)}"
