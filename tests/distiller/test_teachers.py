"""Teachers, the teacher cache and chain-of-thought rationale collection."""

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

import distiller.rationales as rationales_module
from distiller.errors import TeacherError
from distiller.examples import Dataset, Example
from distiller.rationales import (
    RATIONALIZATION_SAMPLE_INDEX,
    SampleSpec,
    answered_label,
    collect_rationales,
    parse_answer,
    parse_steps,
    rationale_prompt,
    sample_rationale,
    template_sha256,
)
from distiller.teacher import ChatMessage, CompletionRequest, Teacher
from distiller.teacher_cache import CachedMessage, CacheKey, CacheRecord, TeacherCache
from distiller.teachers import OpenAICompatibleTeacher, OpenAITeacherSettings, cached_sha256
from distiller.testing import FakeTeacher
from schemas import Category, LabelDefinition
from stream.settings import WorkerSettings
from stream.student import QWEN_CODER_1_5B

LABELS = ["stereotype", "anti_stereotype", "unrelated"]
TASK = "Decide whether the sentence, following the context, is a stereotype, an anti-stereotype, or unrelated."
SECRET = "sk-test-do-not-leak-1234"


def _dataset() -> Dataset:
    labels = [
        LabelDefinition(name="stereotype", description="The sentence repeats a common belief about the group."),
        LabelDefinition(name="anti_stereotype", description="The sentence contradicts the common belief."),
        LabelDefinition(name="unrelated", description="The sentence has nothing to do with the context."),
    ]
    return Dataset(name="mini-stereoset", task=TASK, labels=labels, default_label="unrelated")


def _example(n: int, label: str) -> Example:
    return Example(id=f"ex-{n}", text=f"Context: item {n}.\nSentence: sentence {n}.", label=label)


@pytest.fixture
def dataset() -> Dataset:
    """A three-label StereoSet-like dataset."""
    return _dataset()


@pytest.fixture
def examples() -> list[Example]:
    """Three examples, one per label."""
    return [_example(0, "stereotype"), _example(1, "anti_stereotype"), _example(2, "unrelated")]


def _reply(label: str) -> str:
    return f"1. The context names a group.\n2. The sentence says something about it.\nAnswer: {label}"


def _gold_of(request: CompletionRequest, examples: list[Example]) -> str:
    user = request.messages[-1].content
    return next(example.label for example in examples if example.text in user)


def scripted(examples: list[Example], answer: Callable[[CompletionRequest, str], str]) -> Callable[..., str]:
    """A reply script: `answer(request, gold)` picks the label the fake teacher concludes."""

    def script(request: CompletionRequest) -> str:
        return _reply(answer(request, _gold_of(request, examples)))

    return script


def _hinted(request: CompletionRequest) -> bool:
    return "The correct label is" in request.messages[-1].content


def _wrong(gold: str) -> str:
    return next(label for label in LABELS if label != gold)


# --- parsing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("1. thinking\nAnswer: stereotype", "stereotype"),
        ("Answer: Anti-Stereotype.", "anti_stereotype"),
        ("**Answer:** `anti stereotype`", "anti_stereotype"),
        ('answer: "UNRELATED"', "unrelated"),
        ("Answer: <stereotype>", "stereotype"),
        ("Final Answer: Anti_stereotype", "anti_stereotype"),
        ("Answer: stereotype\nWait, no.\nAnswer: unrelated", "unrelated"),
        ("Answer: the sentence is an anti-stereotype", "anti_stereotype"),
        ("Answer:\n\nunrelated", "unrelated"),
        ("6. Answer: stereotype", "stereotype"),
        ("It is clearly a stereotype.", None),
        ("Answer: maybe", None),
        ("Answer: stereotype or unrelated", None),
    ],
)
def test_parse_answer(reply: str, expected: str | None) -> None:
    """The label on the last Answer line is found despite case, punctuation, markup and separators."""
    assert parse_answer(reply, LABELS) == expected


def test_parse_steps_reads_numbered_lines() -> None:
    """Numbered lines become steps, continuation lines join their step, and the answer line is left out."""
    reply = "Let me think.\n1. The context is about nurses.\n   Most are women.\n2) **The sentence agrees.**\nAnswer: x"
    assert parse_steps(reply) == ["The context is about nurses. Most are women.", "The sentence agrees."]


def test_parse_steps_joins_headings_with_their_paragraph() -> None:
    """`Step N: heading` lines followed by a paragraph (Qwen's habit) become `heading: paragraph`."""
    reply = "Step 1: Analyze the context\nThe context names a nurse.\n\nStep 2: Decide\nIt is a stereotype.\nAnswer: x"
    assert parse_steps(reply) == ["Analyze the context: The context names a nurse.", "Decide: It is a stereotype."]


# --- prompt --------------------------------------------------------------------------------------


def test_rationale_prompt_carries_task_labels_text_and_format(dataset: Dataset, examples: list[Example]) -> None:
    """The user turn holds the task, every definition, the example text and the answer-line instruction."""
    system, user = rationale_prompt(dataset.task, dataset.labels, examples[0])
    assert system.role == "system"
    assert "annotator" in system.content
    assert TASK in user.content
    assert all(f"- {label.name}: {label.description}" in user.content for label in dataset.labels)
    assert examples[0].text in user.content
    assert "`Answer: <label>`" in user.content
    assert "numbered steps" in user.content


def test_rationale_prompt_with_hint_names_the_gold_label(dataset: Dataset, examples: list[Example]) -> None:
    """A hinted prompt tells the teacher the correct label and asks it to explain why."""
    _, user = rationale_prompt(dataset.task, dataset.labels, examples[1], hint="anti_stereotype")
    assert "The correct label is anti_stereotype. Explain step by step why" in user.content


def test_a_taxonomy_reaches_the_rationale_prompt_and_its_cache_key(dataset: Dataset, examples: list[Example]) -> None:
    """With categories, the teacher sees each one with its action and must name the deciding words and the
    category; the cache key changes with them, and stays as it was for a dataset without any."""
    categories = [Category(name="threat", action="block", description="Threats of violence.")]
    _, user = rationale_prompt(dataset.task, dataset.labels, examples[0], categories=categories, default_label="allow")
    assert "- threat (block): Threats of violence." in user.content
    assert "- none (allow): none of the above." in user.content
    assert "say which category they fall in" in user.content
    _, plain = rationale_prompt(dataset.task, dataset.labels, examples[0])
    assert "Categories" not in plain.content
    assert template_sha256(categories=True) != template_sha256()


def test_template_sha256_follows_the_wording(monkeypatch: pytest.MonkeyPatch) -> None:
    """Changing a template string changes the template hash (so cached replies to old wording are not reused)."""
    before = template_sha256()
    monkeypatch.setattr(rationales_module, "SYSTEM_TEMPLATE", "You are a different annotator.")
    template_sha256.cache_clear()
    try:
        assert template_sha256() != before
    finally:
        monkeypatch.undo()
        template_sha256.cache_clear()
    assert template_sha256() == before


# --- collection ----------------------------------------------------------------------------------


def test_collect_keeps_only_matching_samples(dataset: Dataset, examples: list[Example], tmp_path: Path) -> None:
    """Greedy sample 0 is right and sample 1 wrong: only sample 0 is kept, with its steps and teacher id."""
    teacher = FakeTeacher(scripted(examples, lambda req, gold: gold if req.temperature == 0.0 else _wrong(gold)))
    kept = collect_rationales(teacher, dataset, examples, TeacherCache(tmp_path / "c.jsonl"), progress=False)
    assert [(r.example_id, r.sample_index, r.predicted) for r in kept] == [
        ("ex-0", 0, "stereotype"),
        ("ex-1", 0, "anti_stereotype"),
        ("ex-2", 0, "unrelated"),
    ]
    assert all(r.steps == ["The context names a group.", "The sentence says something about it."] for r in kept)
    assert all(not r.rationalized and r.teacher_id == teacher.id for r in kept)
    assert [(c.temperature, c.seed) for c in teacher.calls[:2]] == [(0.0, 0), (0.7, 1)]
    assert len(teacher.calls) == 6


def test_collect_rationalizes_misses(dataset: Dataset, examples: list[Example], tmp_path: Path) -> None:
    """When no sample is right, one gold-hinted retry is kept and flagged rationalized, in the cache too."""
    teacher = FakeTeacher(scripted(examples, lambda req, gold: gold if _hinted(req) else _wrong(gold)))
    cache = TeacherCache(tmp_path / "c.jsonl")
    kept = collect_rationales(teacher, dataset, examples[:1], cache, samples_per_example=2, progress=False)
    assert len(kept) == 1
    assert kept[0].rationalized
    assert kept[0].sample_index == RATIONALIZATION_SAMPLE_INDEX
    assert kept[0].predicted == "stereotype"
    assert len(teacher.calls) == 3
    assert [record.rationalized for record in cache.records()] == [False, False, True]


def test_collect_without_rationalization_drops_misses(
    dataset: Dataset, examples: list[Example], tmp_path: Path
) -> None:
    """With rationalize_misses=False a missed example yields nothing and no hinted call is made."""
    teacher = FakeTeacher(scripted(examples, lambda _req, gold: _wrong(gold)))
    cache = TeacherCache(tmp_path / "c.jsonl")
    kept = collect_rationales(teacher, dataset, examples, cache, rationalize_misses=False, progress=False)
    assert kept == []
    assert not any(_hinted(call) for call in teacher.calls)


def test_rationalization_that_still_disagrees_is_dropped(
    dataset: Dataset, examples: list[Example], tmp_path: Path
) -> None:
    """A teacher told the answer that still concludes another label gives no rationale."""
    teacher = FakeTeacher(scripted(examples, lambda _req, gold: _wrong(gold)))
    kept = collect_rationales(teacher, dataset, examples[:1], TeacherCache(tmp_path / "c.jsonl"), progress=False)
    assert kept == []
    assert len(teacher.calls) == 3


@pytest.mark.parametrize("samples", [0, RATIONALIZATION_SAMPLE_INDEX + 1])
def test_collect_rejects_sample_counts_that_collide(dataset: Dataset, tmp_path: Path, samples: int) -> None:
    """No samples, or so many that an index reaches the rationalization slot, is refused up front."""
    with pytest.raises(ValueError, match="samples_per_example"):
        collect_rationales(
            FakeTeacher([]), dataset, [], TeacherCache(tmp_path / "c.jsonl"), samples_per_example=samples
        )


def test_rerun_with_everything_cached_calls_the_teacher_zero_times(
    dataset: Dataset, examples: list[Example], tmp_path: Path
) -> None:
    """A second run over the same cache file reproduces the rationales without one teacher call."""
    path = tmp_path / "c.jsonl"
    script = scripted(examples, lambda req, gold: gold if req.seed != 1 else _wrong(gold))
    first = collect_rationales(FakeTeacher(script), dataset, examples, TeacherCache(path), progress=False)
    again = FakeTeacher(script)
    second = collect_rationales(again, dataset, examples, TeacherCache(path), progress=False)
    assert again.calls == []
    assert second == first


def test_interrupted_run_resumes_with_only_the_missing_calls(
    dataset: Dataset, examples: list[Example], tmp_path: Path
) -> None:
    """A run that dies after 4 calls keeps them; the rerun asks exactly the 2 remaining prompts."""
    path = tmp_path / "c.jsonl"
    script = scripted(examples, lambda _req, gold: gold)
    dying = FakeTeacher(script, fail_after=4)
    with pytest.raises(TeacherError):
        collect_rationales(dying, dataset, examples, TeacherCache(path), progress=False)
    resumed = FakeTeacher(script)
    kept = collect_rationales(resumed, dataset, examples, TeacherCache(path), progress=False)
    assert len(resumed.calls) == 2
    assert examples[2].text in resumed.calls[0].messages[-1].content
    assert [(r.example_id, r.sample_index) for r in kept] == [(f"ex-{n}", s) for n in range(3) for s in (0, 1)]


def test_changed_example_text_is_asked_again(dataset: Dataset, examples: list[Example], tmp_path: Path) -> None:
    """A cached reply is reused only for the very prompt it answered; the newer line wins on reload."""
    path = tmp_path / "c.jsonl"
    teacher = FakeTeacher(["Answer: stereotype", "Answer: unrelated"])
    spec = SampleSpec.nth(0, 0.7)
    sample_rationale(teacher, dataset, examples[0], TeacherCache(path), spec)
    edited = Example(id=examples[0].id, text="Context: edited.\nSentence: edited.", label="stereotype")
    second = sample_rationale(teacher, dataset, edited, TeacherCache(path), spec)
    assert second.predicted == "unrelated"
    assert len(teacher.calls) == 2
    key = CacheKey(teacher.id, edited.id, template_sha256(), 0)
    assert TeacherCache(path).get(key) == "Answer: unrelated"


# --- cache ---------------------------------------------------------------------------------------


def _record(n: int, reply: str = "Answer: stereotype") -> CacheRecord:
    return CacheRecord(
        teacher_id="fake:scripted",
        example_id=f"ex-{n}",
        template_sha256="0" * 64,
        sample_index=0,
        prompt_messages=[CachedMessage.of(ChatMessage("user", f"prompt {n}"))],
        reply=reply,
    )


def test_cache_roundtrip_survives_reopen(tmp_path: Path) -> None:
    """Records written by one cache are found by `get` and `records()` after reopening the file."""
    path = tmp_path / "sub" / "c.jsonl"
    cache = TeacherCache(path)
    for n in range(2):
        cache.put(_record(n).key, _record(n))
    reopened = TeacherCache(path)
    assert reopened.get(_record(1).key) == "Answer: stereotype"
    assert reopened.get(CacheKey("other", "ex-1", "0" * 64, 0)) is None
    assert [record.example_id for record in reopened.records()] == ["ex-0", "ex-1"]
    assert len(path.read_text().splitlines()) == 2


def test_cache_ignores_a_truncated_last_line(tmp_path: Path) -> None:
    """A half-written last line is dropped with a warning and cut off, so later appends stay readable."""
    path = tmp_path / "c.jsonl"
    cache = TeacherCache(path)
    for n in range(2):
        cache.put(_record(n).key, _record(n))
    with path.open("a") as stream:
        stream.write(_record(2).model_dump_json()[:40])
    with capture_logs() as logs:
        reopened = TeacherCache(path)
    assert len(reopened) == 2
    assert [entry["event"] for entry in logs] == ["teacher_cache_truncated_line"]
    reopened.put(_record(3).key, _record(3))
    assert [record.example_id for record in TeacherCache(path).records()] == ["ex-0", "ex-1", "ex-3"]


def test_cache_rejects_a_record_under_another_key(tmp_path: Path) -> None:
    """`put` refuses a record whose own key differs from the key it is stored under."""
    with pytest.raises(ValueError, match="record is for"):
        TeacherCache(tmp_path / "c.jsonl").put(_record(1).key, _record(2))


# --- teachers ------------------------------------------------------------------------------------


def test_teachers_satisfy_the_protocol() -> None:
    """The fake and the HTTP teacher are both `Teacher`s."""
    settings = OpenAITeacherSettings(base_url="http://127.0.0.1:9/v1", model="m")
    with OpenAICompatibleTeacher(settings) as http_teacher:
        assert isinstance(http_teacher, Teacher)
        assert http_teacher.id == "openai:http://127.0.0.1:9/v1:m"
    assert isinstance(FakeTeacher([]), Teacher)


def test_fake_teacher_without_replies_raises() -> None:
    """A fake teacher whose script is used up raises `TeacherError` rather than inventing text."""
    teacher = FakeTeacher(["only one"])
    assert teacher.complete([ChatMessage("user", "hi")], max_tokens=5, temperature=0.0, seed=0) == "only one"
    with pytest.raises(TeacherError, match="ran out"):
        teacher.complete([ChatMessage("user", "hi")], max_tokens=5, temperature=0.0, seed=0)


def test_cached_sha256_uses_its_sidecar(tmp_path: Path) -> None:
    """The hash is written to `<file>.sha256` and read back; a file newer than its sidecar is rehashed."""
    model = tmp_path / "model.gguf"
    model.write_bytes(b"weights")
    real = cached_sha256(model)
    sidecar = tmp_path / "model.gguf.sha256"
    assert sidecar.read_text().split() == [real, "model.gguf"]
    sidecar.write_text("f" * 64 + "  model.gguf\n")
    assert cached_sha256(model) == "f" * 64
    later = sidecar.stat().st_mtime_ns + 10**9
    os.utime(model, ns=(later, later))
    assert cached_sha256(model) == real


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


@pytest.mark.model
def test_local_teacher_labels_a_stereoset_item(dataset: Dataset, tmp_path: Path) -> None:
    """The local Qwen 1.5B teacher reasons about one StereoSet-like item and ends with a parsable label."""
    from distiller.teachers import LocalLlamaTeacher  # noqa: PLC0415 - loads llama.cpp only for this test

    path = WorkerSettings().cache_dir / "models" / QWEN_CODER_1_5B.file_name
    if not path.exists() or path.stat().st_size != QWEN_CODER_1_5B.size:
        pytest.skip(f"{path} is not assembled yet")
    teacher = LocalLlamaTeacher(path, name=QWEN_CODER_1_5B.name, sha256=QWEN_CODER_1_5B.sha256)
    example = Example(
        id="nurse-1",
        text="Context: The nurse walked into the patient's room.\nSentence: She was gentle and caring.",
        label="stereotype",
    )
    started = time.perf_counter()
    rationale = sample_rationale(teacher, dataset, example, TeacherCache(tmp_path / "c.jsonl"), SampleSpec.nth(0, 0.7))
    seconds = time.perf_counter() - started
    usage = teacher.last_usage
    assert usage is not None
    print(  # the measurement is the point of this test: run with `pytest -s`
        f"\nteacher={teacher.id} s/example={seconds:.1f} prompt_tokens={usage.prompt_tokens} "
        f"completion_tokens={usage.completion_tokens} tokens/s={usage.completion_tokens / seconds:.1f} "
        f"predicted={rationale.predicted} gold={example.label}\n{rationale.reply}"
    )
    assert teacher.id.startswith("local:qwen2.5-coder-1.5b-instruct@cc324af070c2")
    assert rationale.predicted in dataset.label_names


def test_an_answer_naming_a_category_means_its_action(dataset: Dataset) -> None:
    """A teacher shown a taxonomy sometimes answers the category ("Answer: none"): it counts as that category's
    label; without a taxonomy such an answer is no label at all."""
    taxonomy = replace(
        dataset,
        labels=[LabelDefinition(name="allow", description="a"), LabelDefinition(name="block", description="b")],
        default_label="allow",
        categories=[Category(name="threat", action="block", description="Threats of violence.")],
    )
    assert answered_label("1. A threat.\nAnswer: threat", taxonomy) == "block"
    assert answered_label("1. Harmless.\nAnswer: none", taxonomy) == "allow"
    assert answered_label("1. Harmless.\nAnswer: allow", taxonomy) == "allow"
    assert answered_label("1. A threat.\nAnswer: threat", dataset) is None
