"""What the student reads: normalised text and windows of long messages."""

from stream.student.reading import MAX_WINDOWS, normalized, windows


def test_zero_width_bidi_and_compatibility_forms_are_normalised() -> None:
    """Invisible characters are removed and NFKC folds look-alikes; plain text is returned untouched."""
    assert normalized("k\u200bill") == ("kill", 1)
    assert normalized("\u202eevil\u202c") == ("evil", 2)
    assert normalized("\uff4b\uff49\uff4c\uff4c") == ("kill", 4)  # full-width letters
    assert normalized("hello there") == ("hello there", 0)


def test_windows_cover_the_whole_message_with_overlap() -> None:
    """Every token is in some window; windows overlap; first and last are always read; the count is bounded."""
    tokens = list(range(1000))
    parts = windows(tokens, 64)
    assert parts[0][0] == 0
    assert parts[-1][-1] == 999
    assert all(len(part) == 64 for part in parts)
    assert len(parts) <= MAX_WINDOWS
    assert windows(tokens[:50], 64) == [tokens[:50]]
    covered = {token for part in windows(tokens[:300], 64) for token in part}
    assert covered == set(range(300))
