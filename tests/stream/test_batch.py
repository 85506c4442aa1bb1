"""BatchProcessor with a fake student: one decision per valid request, one dead letter per bad record."""

import json
from concurrent.futures import ThreadPoolExecutor

from schemas import DeadLetterReason, ModelId
from stream.batch import BatchProcessor
from stream.errors import InferenceError
from stream.prompts import starter_prompt
from stream.records import IncomingRecord
from stream.student import FakeStudent

MODEL = ModelId(file_name="fake.gguf", sha256="1" * 64)


def records(*values: bytes) -> list[IncomingRecord]:
    return [IncomingRecord(value=v, key=None, topic="t", partition=0, offset=i) for i, v in enumerate(values)]


def request(request_id: str, text: str) -> bytes:
    return json.dumps({"id": request_id, "text": text}).encode()


async def test_valid_and_invalid_records_are_split() -> None:
    """Valid requests are classified together in one call; invalid ones become dead letters."""
    student = FakeStudent(starter_prompt(), MODEL, rule=lambda text: "block" if "kill" in text else "allow")
    with ThreadPoolExecutor(1) as executor:
        processor = BatchProcessor(student, executor, "w1", max_message_bytes=4096)
        outcome = await processor.process(records(request("a", "hello"), b"oops", request("b", "I will kill you")))
    assert [(d.request_id, d.label) for d in outcome.decisions] == [("a", "allow"), ("b", "block")]
    assert [letter.reason for letter in outcome.dead_letters] == [DeadLetterReason.NOT_JSON]
    assert student.calls == [["hello", "I will kill you"]]
    decision = outcome.decisions[0]
    assert decision.prompt_sha256 == starter_prompt().sha256
    assert decision.model_id == MODEL
    assert decision.worker_id == "w1"
    decision.check_against(starter_prompt())


class PickyStudent(FakeStudent):
    """Fails any batch holding the text 'poison', like a model that chokes on one input."""

    def classify(self, texts):  # type: ignore[no-untyped-def]
        if "poison" in texts:
            raise InferenceError("cannot decode")
        return super().classify(texts)


async def test_one_failing_message_does_not_sink_the_batch() -> None:
    """When the model fails on a batch, the good messages still get decisions and the bad one is dead-lettered."""
    student = PickyStudent(starter_prompt(), MODEL)
    with ThreadPoolExecutor(1) as executor:
        processor = BatchProcessor(student, executor, "w1", max_message_bytes=4096)
        outcome = await processor.process(records(request("a", "fine"), request("b", "poison")))
    assert [d.request_id for d in outcome.decisions] == ["a"]
    assert [letter.reason for letter in outcome.dead_letters] == [DeadLetterReason.INFERENCE_ERROR]
