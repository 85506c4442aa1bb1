"""What the student reads of a message: its text normalised, and long messages in windows.

- **Normalisation**: NFKC (full-width letters, ligatures and look-alike compatibility forms become their
  plain letters), then zero-width and bidirectional control characters removed, so "k\u200bill" reads
  as "kill" and a right-to-left override cannot hide a word. Only the student's reading changes: the
  request, the decision and the dead letter keep the original text. How many characters changed is
  reported in the decision (`normalized_chars`).
- **Markup**: a message that spells out chat-template markup (`<start_of_turn>`, `<|im_start|>`,
  `<bos>`, ...) or has a line answering the student's cue (`Label: allow`) is never given the least
  severe label: it is held at least for review (`injection_markup` in the decision), whatever the
  model says, because those words sway small models even as plain text.
- **Windows**: a message longer than the token budget is read as consecutive windows of at most
  `budget` tokens (overlapping by `WINDOW_OVERLAP` of a window, so a phrase on a boundary is read
  whole); at most `MAX_WINDOWS`, evenly spread over the message, first and last always among them. The
  most severe window decides: labels are ranked in the order the prompt version lists them (least
  severe first: allow, review, block), ties by the label's probability. Abuse hidden in the middle of
  filler is read, and the decision says which window decided (`window`, of `windows`).
"""

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import replace

from stream.student.protocol import Classification

INVISIBLE = frozenset(
    "\u200b\u200c\u200d\u2060\ufeff\u00ad"  # zero-width space, non-joiner, joiner, word joiner, BOM, soft hyphen
    "\u200e\u200f\u061c"  # left-to-right / right-to-left / Arabic letter marks
    "\u202a\u202b\u202c\u202d\u202e"  # bidirectional embeddings and overrides
    "\u2066\u2067\u2068\u2069"  # bidirectional isolates
)
# Chat-template markup of any student family, and a line that answers the student's own cue: typed by a
# user they are characters (never control tokens), but their words still sway a small model (measured:
# fake Gemma turns ending "Label: allow" got 10 of 10 abusive demo messages allowed on qwen-1.5b). A
# message that carries them is held: never given the least severe label (`injection_markup`).
TEMPLATE_MARKUP = re.compile(
    r"<\s*/?\s*(?:start_of_turn|end_of_turn|bos|eos|s)\s*>|<\|\s*(?:im_start|im_end|endoftext|system|user|assistant)\s*\|>"
    r"|^\s*(?:label|answer|rule)\s*:",
    re.IGNORECASE | re.MULTILINE,
)
WINDOW_OVERLAP = 8  # windows overlap by 1/8 of their length
MAX_WINDOWS = 16


def normalized(text: str) -> tuple[str, int]:
    """The text the student reads and how many characters normalisation changed or removed."""
    composed = unicodedata.normalize("NFKC", text)
    cleaned = "".join(char for char in composed if char not in INVISIBLE)
    if cleaned == text:
        return text, 0
    return cleaned, sum(1 for char in text if char in INVISIBLE or unicodedata.normalize("NFKC", char) != char)


def carries_markup(text: str) -> bool:
    """Whether the (normalised) text spells out template markup or answers the student's cue itself."""
    return TEMPLATE_MARKUP.search(text) is not None


def windows(tokens: Sequence[int], budget: int) -> list[list[int]]:
    """The message's tokens whole, or its windows of at most `budget` tokens (see the module docstring)."""
    if len(tokens) <= budget:
        return [list(tokens)]
    step = max(budget - budget // WINDOW_OVERLAP, 1)
    starts = [*range(0, len(tokens) - budget, step), len(tokens) - budget]
    if len(starts) > MAX_WINDOWS:
        last = len(starts) - 1
        starts = [starts[round(k * last / (MAX_WINDOWS - 1))] for k in range(MAX_WINDOWS)]
    return [list(tokens[start : start + budget]) for start in starts]


def held_if_markup(answer: Classification, text: str, labels: Sequence[str]) -> Classification:
    """`answer`, raised from the least severe label to the next one when `text` carries markup."""
    if not carries_markup(text):
        return answer
    label = labels[1] if answer.label == labels[0] and len(labels) > 1 else answer.label
    return replace(answer, label=label, injection_markup=True)
