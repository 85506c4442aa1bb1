"""A test double of the teacher: `FakeTeacher`, scripted replies for unit tests of the distiller."""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from distiller.errors import TeacherError
from distiller.teacher import ChatMessage, CompletionRequest

FAKE_TEACHER_ID = "fake:scripted"

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
