"""What the student reads of a message: its text normalised, and long messages in windows.

- **Normalisation**: NFKC (full-width letters, ligatures and look-alike compatibility forms become their
  plain letters), then zero-width and bidirectional control characters removed, so "k\u200bill" reads
  as "kill" and a right-to-left override cannot hide a word. Only the student's reading changes: the
  request, the decision and the dead letter keep the original text. How many characters changed is
  reported in the decision (`normalized_chars`).
- **Windows**: a message longer than the token budget is read as consecutive windows of at most
  `budget` tokens (overlapping by `WINDOW_OVERLAP` of a window, so a phrase on a boundary is read
  whole); at most `MAX_WINDOWS`, evenly spread over the message, first and last always among them. The
  most severe window decides: labels are ranked in the order the prompt version lists them (least
  severe first: allow, review, block), ties by the label's probability. Abuse hidden in the middle of
  filler is read, and the decision says which window decided (`window`, of `windows`).
"""

import unicodedata
from collections.abc import Sequence

INVISIBLE = frozenset(
    "\u200b\u200c\u200d\u2060\ufeff\u00ad"  # zero-width space, non-joiner, joiner, word joiner, BOM, soft hyphen
    "\u200e\u200f\u061c"  # left-to-right / right-to-left / Arabic letter marks
    "\u202a\u202b\u202c\u202d\u202e"  # bidirectional embeddings and overrides
    "\u2066\u2067\u2068\u2069"  # bidirectional isolates
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
