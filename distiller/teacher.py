"""The `Teacher` protocol (a chat LLM that reasons for us) and its request types (the fake: `distiller.testing`)."""

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant"]


class TeacherKind(StrEnum):
    """Where rationales come from."""

    LOCAL = "local"  # Qwen2.5-Coder-1.5B-Instruct through llama.cpp
    OPENAI = "openai"  # any OpenAI-compatible server (PLD_TEACHER_* settings)
    REPLAY = "replay"  # the recorded teacher cache only; a missing reply is an error


@dataclass(frozen=True)
class ChatMessage:
    """One turn of a chat conversation."""

    role: Role
    content: str

    def as_dict(self) -> dict[str, str]:
        """The OpenAI-style wire form: `{"role": ..., "content": ...}`."""
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class CompletionRequest:
    """Everything one teacher call needs; `complete_many` takes a list of these."""

    messages: list[ChatMessage]
    max_tokens: int
    temperature: float
    seed: int


@runtime_checkable
class Teacher(Protocol):
    """A chat model that answers a conversation with text. Calls block until the reply is complete."""

    @property
    def id(self) -> str:
        """A stable identity (backend, model, weights) used as part of every cache key."""
        ...

    def complete(self, messages: list[ChatMessage], *, max_tokens: int, temperature: float, seed: int) -> str:
        """The assistant's reply to `messages`; raises `TeacherError` when the backend fails."""
        ...
