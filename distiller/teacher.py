"""The `Teacher` protocol (a chat LLM that reasons for us), its request types, and a scripted fake for tests."""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, Protocol, runtime_checkable

from distiller.errors import TeacherError

Role = Literal["system", "user", "assistant"]

FAKE_TEACHER_ID = "fake:scripted"


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


ReplyScript = Callable[[CompletionRequest], str]


@dataclass
class FakeTeacher:
    """A teacher for unit tests: replies from a script, records every call, and can fail after N calls.

    `replies` is either a list consumed in order or a function of the request.
    """

    replies: Iterable[str] | ReplyScript
    teacher_id: str = FAKE_TEACHER_ID
    fail_after: int | None = None
    calls: list[CompletionRequest] = field(default_factory=list)
    _queue: Iterator[str] | None = field(default=None, init=False, repr=False)

    @property
    def id(self) -> str:
        """The scripted identity."""
        return self.teacher_id

    def complete(self, messages: list[ChatMessage], *, max_tokens: int, temperature: float, seed: int) -> str:
        """The next scripted reply; raises `TeacherError` once `fail_after` calls have been answered."""
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise TeacherError(f"fake teacher fails after {self.fail_after} calls")
        request = CompletionRequest(list(messages), max_tokens, temperature, seed)
        self.calls.append(request)
        return self._reply(request)

    def _reply(self, request: CompletionRequest) -> str:
        if callable(self.replies):
            return self.replies(request)
        if self._queue is None:
            self._queue = iter(self.replies)
        try:
            return next(self._queue)
        except StopIteration:
            raise TeacherError("fake teacher ran out of scripted replies") from None
