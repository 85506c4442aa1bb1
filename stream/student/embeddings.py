"""Sentence embeddings from the student model itself (mean-pooled hidden states), for grouping reasoning steps."""

from collections.abc import Sequence

import llama_cpp
import numpy as np
import numpy.typing as npt

from stream.student.llama_context import init_backend
from stream.student.model_file import ModelFile

EMBED_CONTEXT = 512


class StudentEmbedder:
    """Embeds short texts with the student's GGUF model; rows come back unit-normalised.

    Takes the model file `checked_model_file` returns, so the self-test has run."""

    def __init__(self, model: ModelFile, n_threads: int) -> None:
        init_backend()
        self._llm = llama_cpp.Llama(
            str(model.path),
            embedding=True,
            pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
            n_ctx=EMBED_CONTEXT,
            n_threads=n_threads,
            verbose=False,
        )

    def __call__(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """One unit-norm row per text."""
        vectors = np.array([self._llm.embed(text, normalize=True, truncate=True) for text in texts], dtype=np.float32)
        return vectors.reshape(len(texts), -1)

    def close(self) -> None:
        """Free the model."""
        self._llm.close()
