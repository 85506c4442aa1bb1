"""`pld audit REQUEST_ID [--since T] [--replay]`: a decision, the rules behind it, and proof it reproduces.

The decision is found on the decisions topic by its key, reading only from `--since` on (the broker's
offsets-for-times seeks there; default: the last 7 days) up to the end offsets taken at start. It is
printed with the full text and provenance of every instruction it cites and the registry's history
entries for its prompt version. `--replay` reads the original request back from the requests topic
(the decision records its partition and offset), decides it again with the recorded prompt version
and the same model file, and compares label, probabilities and cited instructions bit for bit.
"""

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import TopicPartition
from pydantic import ValidationError

from pld.topic_window import read_window, reader
from schemas import ModerationDecision, PromptVersion, decision_key
from stream.decoding import decode_request
from stream.errors import PromptStoreError
from stream.prompts import PromptRegistry
from stream.settings import WorkerSettings

DEFAULT_LOOKBACK = timedelta(days=7)
EXIT_NOT_FOUND = 2
EXIT_MISMATCH = 1
EXIT_CANNOT_REPLAY = 3  # the request left the topic's retention, or the version was deleted: not a mismatch
READ_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class AuditQuery:
    """What to look for."""

    request_id: str
    since: datetime | None
    replay: bool
    tenant: str | None = None


def run_audit(settings: WorkerSettings, query: AuditQuery) -> tuple[dict[str, Any], int]:
    """The audit record and the exit code: 0 found (and reproduced), 1 replay mismatch, 2 not found, 3 cannot
    replay (the request left the topic's retention, the version was deleted, the model file differs)."""
    since = query.since or datetime.now(UTC) - DEFAULT_LOOKBACK
    found = asyncio.run(find_decisions(settings, decision_key(query.request_id, query.tenant), since))
    # the key finds the candidates; the fields decide (a consumer's dedupe should match on them too)
    decisions = [d for d in found if (d.request_id, d.tenant) == (query.request_id, query.tenant)]
    if not decisions:
        return {"request_id": query.request_id, "found": False, "searched_since": since.isoformat()}, EXIT_NOT_FOUND
    decision = decisions[-1]
    registry = PromptRegistry.from_settings(settings)
    try:
        prompt = registry.get(decision.prompt_version)
    except PromptStoreError as exc:
        deleted = {"decision": decision.model_dump(mode="json"), "replay": {"reproduced": False, "reason": str(exc)}}
        return deleted, EXIT_CANNOT_REPLAY
    record: dict[str, Any] = {
        "decision": decision.model_dump(mode="json"),
        "decided_times": len(decisions),
        "instructions": [_instruction(prompt, instruction_id) for instruction_id in decision.instruction_ids],
        "prompt_history": [
            entry.model_dump(mode="json")
            for entry in registry.history(limit=1000)
            if decision.prompt_version in {entry.to_version, entry.from_version}
        ],
    }
    if not query.replay:
        return record, 0
    try:
        record["replay"] = replay(settings, decision, prompt)
    except CannotReplayError as exc:
        record["replay"] = {"reproduced": False, "reason": str(exc)}
        return record, EXIT_CANNOT_REPLAY
    return record, 0 if record["replay"]["reproduced"] else EXIT_MISMATCH


class CannotReplayError(Exception):
    """The original request or the recorded model cannot be had: the replay says so instead of guessing."""


async def find_decisions(settings: WorkerSettings, key: str, since: datetime) -> list[ModerationDecision]:
    """Every decision keyed `key` published since `since` (a retried batch may have published two)."""
    found: list[ModerationDecision | None] = []
    wanted = key.encode()
    async for record in read_window(settings, settings.decisions_topic, since):
        if record.key == wanted and record.value:
            found.append(_decision(record.value))
    return [decision for decision in found if decision is not None]


def replay(settings: WorkerSettings, decision: ModerationDecision, prompt: PromptVersion) -> dict[str, Any]:
    """Decide the original request again with the recorded version and model; compare bit for bit."""
    from stream.student import (  # noqa: PLC0415 - llama.cpp: --replay only
        DecodeStrategy,
        build_student,
        resolve_model_file,
        sha256_of,
    )

    if decision.source_partition is None or decision.source_offset is None:
        raise CannotReplayError("the decision predates source offsets: the request cannot be found")
    raw = asyncio.run(_request_bytes(settings, decision.source_partition, decision.source_offset))
    request = decode_request(raw, settings.max_message_bytes)
    if (request.id, request.tenant) != (decision.request_id, decision.tenant):
        raise CannotReplayError(
            f"offset {decision.source_offset} of partition {decision.source_partition} holds request "
            f"{request.id!r}, not {decision.request_id!r}: the topic is not the one the worker read"
        )
    if prompt.sha256 != decision.prompt_sha256:
        return {"reproduced": False, "reason": f"registry holds other content under {prompt.version}"}
    model = resolve_model_file(settings)
    actual = sha256_of(model.path)  # re-hashed: a catalogue student's sha256 is otherwise taken on trust
    if (model.path.name, actual) != (decision.model_id.file_name, decision.model_id.sha256):
        raise CannotReplayError(
            f"the recorded model is {decision.model_id.file_name} ({decision.model_id.sha256[:12]}); this machine "
            f"has {model.path.name} ({actual[:12]}): set PLD_STUDENT or PLD_MODEL_PATH to the recorded file"
        )
    if decision.engine is not None:  # rebuild the student that decided, not today's defaults
        engine = decision.engine
        update = {
            "decode": DecodeStrategy(engine.decode),
            "max_message_tokens": engine.max_message_tokens,
            "n_ctx": engine.n_ctx,
        }
        settings = settings.model_copy(update=update)
    student = build_student(settings, prompt)
    try:
        [again] = student.classify([request.text])
        build_now = student.engine.build
    finally:
        student.close()
    recorded = (decision.label, decision.probabilities, decision.instruction_ids, decision.instruction_scores)
    replayed = (again.label, again.probabilities, again.instruction_ids, again.instruction_scores)
    return {
        "reproduced": recorded == replayed,
        "label": again.label,
        "probabilities": again.probabilities,
        "instruction_ids": again.instruction_ids,
        "max_probability_diff": max(abs(again.probabilities[k] - v) for k, v in decision.probabilities.items()),
        "same_build": decision.engine is None or decision.engine.build == build_now,  # kernels round differently
    }


async def _request_bytes(settings: WorkerSettings, partition: int, offset: int) -> bytes:
    """The record at exactly `offset`, or CannotReplayError when retention removed it (never a blocking read,
    never another offset)."""
    consumer = reader(settings, offset_reset="none")
    await consumer.start()
    try:
        tp = TopicPartition(settings.requests_topic, partition)
        consumer.assign([tp])
        first, end = (await consumer.beginning_offsets([tp]))[tp], (await consumer.end_offsets([tp]))[tp]
        if not first <= offset < end:
            raise CannotReplayError(
                f"offset {offset} of {settings.requests_topic}[{partition}] is outside what the topic holds "
                f"({first}..{end - 1}): the request has left the topic's retention"
            )
        consumer.seek(tp, offset)
        record = await asyncio.wait_for(consumer.getone(tp), READ_TIMEOUT_S)
    finally:
        await consumer.stop()
    if record.offset != offset:
        raise CannotReplayError(f"read offset {record.offset} instead of {offset} (compacted topic?)")
    return record.value or b""


def _instruction(prompt: PromptVersion, instruction_id: str) -> dict[str, Any]:
    instruction = next((i for i in prompt.instructions if i.id == instruction_id), None)
    if instruction is None:
        return {"id": instruction_id, "missing": f"not an instruction of {prompt.version}"}
    return {"id": instruction.id, "text": instruction.text, "target_label": instruction.target_label,
            "category": instruction.category, "provenance": instruction.provenance.model_dump(mode="json")}  # fmt: skip


def _decision(value: bytes) -> ModerationDecision | None:
    try:
        return ModerationDecision.model_validate_json(value)
    except ValidationError:
        return None


def dump(record: dict[str, Any]) -> str:
    """The audit record as indented JSON."""
    return json.dumps(record, indent=2, default=str)
