"""A model's tokenizer without its weights (llama.cpp `vocab_only`): token counts with the student's own
vocabulary and chat format, for budgets and for the distiller's prompt-length checks."""

from collections.abc import Callable
from types import TracebackType

import llama_cpp

from schemas import PromptVersion
from stream.student.model_file import ModelFile
from stream.student.prompt_format import ChatFormat, chat_format_for, render_prefix


class Vocabulary:
    """The tokenizer and chat format of one GGUF file; close it (or use it as a context manager)."""

    def __init__(self, model: ModelFile) -> None:
        self._vocab = llama_cpp.Llama(str(model.path), vocab_only=True, verbose=False)
        self.chat: ChatFormat = chat_format_for(str(self._vocab.metadata.get("general.architecture", "")))

    def tokenize(self, text: str, *, parse_special: bool, add_bos: bool = False) -> list[int]:
        """Token ids of `text`; `parse_special` reads chat markup as control tokens."""
        return list(self._vocab.tokenize(text.encode(), add_bos=add_bos, special=parse_special))

    def count(self, text: str, *, add_bos: bool = False) -> int:
        """Tokens of `text`, chat markup read as control tokens."""
        return len(self.tokenize(text, parse_special=True, add_bos=add_bos))

    def close(self) -> None:
        """Free the vocabulary."""
        self._vocab.close()

    def __enter__(self) -> "Vocabulary":
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


def prefix_token_counter(model: ModelFile) -> Callable[[PromptVersion], int]:
    """Counts a prompt version's prefix tokens (BOS included) as the student renders it; keeps the
    vocabulary open for the life of the returned function."""
    vocabulary = Vocabulary(model)

    def count(prompt: PromptVersion) -> int:
        return vocabulary.count(render_prefix(prompt, vocabulary.chat), add_bos=True)

    return count
