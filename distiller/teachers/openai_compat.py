"""A teacher behind any OpenAI-compatible `/chat/completions` endpoint (OpenAI, vLLM, llama-server, ...).

Settings come from `PLD_TEACHER_*` variables (`PLD_TEACHER_BASE_URL`, `PLD_TEACHER_MODEL`,
`PLD_TEACHER_API_KEY`, ...). Transient failures (429, 5xx, timeouts, connection errors) are retried with
exponential backoff and full jitter; any other 4xx fails at once. The API key is a `SecretStr`: it is
sent as a Bearer header and never logged or repr'd.
"""

import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, Self

import httpx
import structlog
from pydantic import NonNegativeInt, PositiveFloat, PositiveInt, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from distiller.errors import TeacherError
from distiller.teacher import ChatMessage, CompletionRequest

ENV_PREFIX = "PLD_TEACHER_"
BODY_EXCERPT_CHARS = 300
RETRY_STATUS_FLOOR = 500  # every 5xx is worth another try
TOO_MANY_REQUESTS = 429

log = structlog.get_logger(__name__)


class OpenAITeacherSettings(BaseSettings):
    """Where the teacher lives and how hard to try; each field is also `PLD_TEACHER_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore", use_attribute_docstrings=True)

    base_url: str
    """The OpenAI-compatible server, e.g. `http://127.0.0.1:8000/v1`."""
    model: str
    """The model name the server knows the teacher by."""
    api_key: SecretStr | None = None
    """Bearer token, if the server wants one."""
    timeout_s: PositiveFloat = 120.0
    """Per-request timeout."""
    max_retries: NonNegativeInt = 5
    """Retries of a failed call (5xx, 429, network) before it is an error."""
    max_concurrency: PositiveInt = 4
    """Requests in flight at once."""
    backoff_base_s: PositiveFloat = 1.0
    """First retry's delay; it doubles each time."""
    backoff_max_s: PositiveFloat = 30.0
    """Longest delay between retries."""


class _RetryableError(Exception):
    """A failure worth another try; carries what the final `TeacherError` should say."""


class OpenAICompatibleTeacher:
    """A `Teacher` that POSTs to `{base_url}/chat/completions`; thread-safe, so `complete_many` fans out."""

    def __init__(self, settings: OpenAITeacherSettings, *, transport: httpx.BaseTransport | None = None) -> None:
        """Open one pooled HTTP client for all calls (`transport` lets tests swap the network out)."""
        self._settings = settings
        self._url = settings.base_url.rstrip("/") + "/chat/completions"
        self._client = httpx.Client(
            timeout=settings.timeout_s,
            headers=self._headers(settings),
            transport=transport,
            limits=httpx.Limits(max_connections=settings.max_concurrency),
        )

    @staticmethod
    def _headers(settings: OpenAITeacherSettings) -> dict[str, str]:
        if settings.api_key is None:
            return {}
        return {"Authorization": f"Bearer {settings.api_key.get_secret_value()}"}

    @property
    def id(self) -> str:
        """`openai:<base_url>:<model>`."""
        return f"openai:{self._settings.base_url.rstrip('/')}:{self._settings.model}"

    def complete(self, messages: list[ChatMessage], *, max_tokens: int, temperature: float, seed: int) -> str:
        """The reply to `messages`, retrying transient failures; `TeacherError` when they are exhausted."""
        payload = {
            "model": self._settings.model,
            "messages": [message.as_dict() for message in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "seed": seed,
        }
        return _reply_text(self._post_with_retries(payload))

    def complete_many(self, requests: Sequence[CompletionRequest]) -> list[str]:
        """Replies in request order, at most `max_concurrency` in flight; the first failure is raised."""
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=self._settings.max_concurrency) as pool:
            replies = list(pool.map(self._complete_request, requests))
        log.info("teacher_batch", teacher=self.id, requests=len(requests), seconds=time.perf_counter() - started)
        return replies

    def _complete_request(self, request: CompletionRequest) -> str:
        return self.complete(
            request.messages, max_tokens=request.max_tokens, temperature=request.temperature, seed=request.seed
        )

    def _post_with_retries(self, payload: dict[str, Any]) -> Any:
        attempts = self._settings.max_retries + 1
        for attempt in range(attempts):
            try:
                return self._post_once(payload)
            except _RetryableError as exc:
                if attempt + 1 == attempts:
                    raise TeacherError(f"{self.id}: gave up after {attempts} attempts: {exc}") from exc
                delay = self._backoff(attempt)
                log.warning("teacher_retry", teacher=self.id, attempt=attempt + 1, error=str(exc), sleep_s=delay)
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover - the loop either returns or raises

    def _post_once(self, payload: dict[str, Any]) -> Any:
        try:
            response = self._client.post(self._url, json=payload)
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise _RetryableError(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code == TOO_MANY_REQUESTS or response.status_code >= RETRY_STATUS_FLOOR:
            raise _RetryableError(_describe(response))
        if response.is_error:
            raise TeacherError(f"{self.id}: {_describe(response)}")
        try:
            return response.json()
        except ValueError as exc:
            raise TeacherError(f"{self.id}: reply is not JSON: {response.text[:BODY_EXCERPT_CHARS]!r}") from exc

    def _backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**attempt)], so retrying clients spread out."""
        ceiling = min(self._settings.backoff_max_s, self._settings.backoff_base_s * 2**attempt)
        return random.uniform(0.0, ceiling)  # noqa: S311 - jitter, not cryptography

    def close(self) -> None:
        """Close the pooled HTTP connections."""
        self._client.close()

    def __enter__(self) -> Self:
        """Use as a context manager that closes the client."""
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the client."""
        self.close()


def _describe(response: httpx.Response) -> str:
    return f"HTTP {response.status_code}: {response.text[:BODY_EXCERPT_CHARS]!r}"


def _reply_text(body: Any) -> str:
    """The first choice's message content, or `TeacherError` when the body has another shape."""
    try:
        content = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError) as exc:
        raise TeacherError(f"unexpected completion shape: {str(body)[:BODY_EXCERPT_CHARS]!r}") from exc
    if not isinstance(content, str):
        raise TeacherError(f"completion content is not text: {content!r}")
    return content
