"""The OpenAI-compatible HTTP teacher against a local scripted server: retries, keys, concurrency."""

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from distiller.errors import TeacherError
from distiller.teacher import ChatMessage, CompletionRequest
from distiller.teachers import OpenAICompatibleTeacher, OpenAITeacherSettings

SECRET = "sk-test-do-not-leak-1234"


@dataclass
class ChatServer:
    """A local `/chat/completions` endpoint answering with scripted statuses (then 200s)."""

    statuses: list[int]
    delay_s: float = 0.0
    requests: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def handle(self, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Record the request and pick its status; a 200 echoes the last user message."""
        with self.lock:
            self.requests.append((headers, body))
            status = self.statuses.pop(0) if self.statuses else 200
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        time.sleep(self.delay_s)
        with self.lock:
            self.in_flight -= 1
        if status != 200:
            return status, {"error": {"message": f"scripted {status}"}}
        content = f"echo: {body['messages'][-1]['content']}"
        return 200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}


def _handler(server: ChatServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            body = json.loads(self.rfile.read(length))
            status, payload = server.handle(dict(self.headers.items()), body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

    return Handler


@pytest.fixture
def chat_server() -> Iterator[Callable[..., ChatServer]]:
    """A factory starting a `ChatServer` on 127.0.0.1 in a thread; all are shut down after the test."""
    running: list[ThreadingHTTPServer] = []

    def start(statuses: list[int], delay_s: float = 0.0) -> ChatServer:
        server = ChatServer(list(statuses), delay_s)
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        running.append(httpd)
        server.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
        return server

    yield start
    for httpd in running:
        httpd.shutdown()
        httpd.server_close()


def _settings(url: str, **overrides: Any) -> OpenAITeacherSettings:
    values: dict[str, Any] = {"base_url": url, "model": "tiny", "backoff_base_s": 0.01, "max_retries": 3}
    return OpenAITeacherSettings(**(values | overrides))


HELLO = [ChatMessage("system", "be brief"), ChatMessage("user", "hello")]


def test_openai_teacher_retries_server_errors(chat_server: Callable[..., ChatServer]) -> None:
    """Two 500s are retried and the third answer's content is returned; the payload is OpenAI-shaped."""
    server = chat_server([500, 500])
    with OpenAICompatibleTeacher(_settings(server.url)) as teacher:
        assert teacher.complete(HELLO, max_tokens=7, temperature=0.5, seed=3) == "echo: hello"
    assert len(server.requests) == 3
    body = server.requests[-1][1]
    assert body == {
        "model": "tiny",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}],
        "max_tokens": 7,
        "temperature": 0.5,
        "seed": 3,
    }


def test_openai_teacher_does_not_retry_client_errors(chat_server: Callable[..., ChatServer]) -> None:
    """A 400 fails at once with a `TeacherError` naming the status and quoting the body."""
    server = chat_server([400])
    with OpenAICompatibleTeacher(_settings(server.url)) as teacher, pytest.raises(TeacherError) as raised:
        teacher.complete(HELLO, max_tokens=7, temperature=0.0, seed=0)
    assert len(server.requests) == 1
    assert "HTTP 400" in str(raised.value)
    assert "scripted 400" in str(raised.value)


def test_openai_teacher_gives_up_after_max_retries(chat_server: Callable[..., ChatServer]) -> None:
    """Persistent 503s end in a `TeacherError` after exactly max_retries + 1 attempts."""
    server = chat_server([503] * 10)
    with (
        OpenAICompatibleTeacher(_settings(server.url, max_retries=2)) as teacher,
        pytest.raises(TeacherError) as raised,
    ):
        teacher.complete(HELLO, max_tokens=7, temperature=0.0, seed=0)
    assert len(server.requests) == 3
    assert "HTTP 503" in str(raised.value)


def test_openai_teacher_retries_connection_errors() -> None:
    """An endpoint that refuses connections is retried, then reported as a `TeacherError`."""
    settings = _settings("http://127.0.0.1:9/v1", max_retries=1)
    with OpenAICompatibleTeacher(settings) as teacher, pytest.raises(TeacherError, match="2 attempts"):
        teacher.complete(HELLO, max_tokens=7, temperature=0.0, seed=0)


def test_api_key_is_sent_as_bearer_but_never_shown(chat_server: Callable[..., ChatServer]) -> None:
    """The key travels in the Authorization header and appears in neither repr nor str of the settings."""
    server = chat_server([])
    settings = _settings(server.url, api_key=SECRET)
    with OpenAICompatibleTeacher(settings) as teacher:
        teacher.complete(HELLO, max_tokens=7, temperature=0.0, seed=0)
        assert SECRET not in teacher.id
    assert server.requests[0][0]["Authorization"] == f"Bearer {SECRET}"
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)


def test_api_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read `PLD_TEACHER_*` variables."""
    monkeypatch.setenv("PLD_TEACHER_BASE_URL", "http://example.invalid/v1")
    monkeypatch.setenv("PLD_TEACHER_MODEL", "big")
    monkeypatch.setenv("PLD_TEACHER_API_KEY", SECRET)
    settings = OpenAITeacherSettings()
    assert settings.model == "big"
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == SECRET


def test_complete_many_keeps_order_and_bounds_concurrency(chat_server: Callable[..., ChatServer]) -> None:
    """Replies come back in request order with at most max_concurrency requests in flight."""
    server = chat_server([], delay_s=0.05)
    requests = [CompletionRequest([ChatMessage("user", f"q{n}")], 5, 0.0, n) for n in range(6)]
    with OpenAICompatibleTeacher(_settings(server.url, max_concurrency=2)) as teacher:
        replies = teacher.complete_many(requests)
    assert replies == [f"echo: q{n}" for n in range(6)]
    assert server.max_in_flight == 2


# --- the real local teacher ----------------------------------------------------------------------
