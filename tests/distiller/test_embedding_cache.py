"""The step-embedding cache: a rerun reads back exactly what the first run computed."""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from distiller.embedding_cache import CachedEmbedder


class CountingEmbedder:
    """Embeds a text as its length and first letter code, remembering every text it was asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.closed = False

    def __call__(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.asked += texts
        return np.array([[len(text), ord(text[0])] for text in texts], dtype=np.float32)

    def close(self) -> None:
        self.closed = True


def test_only_new_texts_reach_the_model_and_rows_keep_their_order(tmp_path: Path) -> None:
    first = CountingEmbedder()
    rows = CachedEmbedder(first, tmp_path / "model-sha")(["bb", "a", "bb"])
    assert first.asked == ["bb", "a"]  # a repeated text is embedded once
    assert rows.tolist() == [[2, 98], [1, 97], [2, 98]]
    again = CountingEmbedder()
    cached = CachedEmbedder(again, tmp_path / "model-sha")
    assert cached(["a", "ccc", "bb"]).tolist() == [[1, 97], [3, 99], [2, 98]]
    assert again.asked == ["ccc"]
    cached.close()
    assert again.closed
    assert not list((tmp_path / "model-sha").glob("*.tmp"))
