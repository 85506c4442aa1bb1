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

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from pld.dlq import POLL_TIMEOUT_MS, partitions_of, seek_since
from schemas import ModerationDecision, PromptVersion, decision_key
from stream.decoding import decode_request
from stream.prompts import PromptRegistry
from stream.settings import WorkerSettings

DEFAULT_LOOKBACK = timedelta(days=7)
EXIT_NOT_FOUND = 2
EXIT_MISMATCH = 1


@dataclass(frozen=True)
class AuditQuery:
    """What to look for."""

    request_id: str
    since: datetime | None
    replay: bool
    tenant: str | None = None


def run_audit(settings: WorkerSettings, query: AuditQuery) -> tuple[dict[str, Any], int]:
    """The audit record and the exit code (0 found (and reproduced), 1 replay mismatch, 2 not found)."""
    since = query.since or datetime.now(UTC) - DEFAULT_LOOKBACK
    found = asyncio.run(find_decisions(settings, decision_key(query.request_id, query.tenant), since))
    # the key finds the candidates; the fields decide (a consumer's dedupe should match on them too)
    decisions = [d for d in found if (d.request_id, d.tenant) == (query.request_id, query.tenant)]
    if not decisions:
        return {"request_id": query.request_id, "found": False, "searched_since": since.isoformat()}, EXIT_NOT_FOUND
    decision = decisions[-1]
    registry = PromptRegistry.from_settings(settings)
    prompt = registry.get(decision.prompt_version)
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
    record["replay"] = replay(settings, decision, prompt)
    return record, 0 if record["replay"]["reproduced"] else EXIT_MISMATCH


async def find_decisions(settings: WorkerSettings, key: str, since: datetime) -> list[ModerationDecision]:
    """Every decision keyed `key` published since `since` (a retried batch may have published two)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False, **settings.kafka_security.client_options()
    )
    await consumer.start()
    found: list[ModerationDecision | None] = []
    try:
        partitions = [
            TopicPartition(settings.decisions_topic, n) for n in await partitions_of(settings, settings.decisions_topic)
        ]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await seek_since(consumer, partitions, since)
        remaining = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
        wanted = key.encode()
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=POLL_TIMEOUT_MS)
            for tp, records in batches.items():
                found += [_decision(r.value) for r in records if r.key == wanted and r.offset < ends[tp] and r.value]
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    return [decision for decision in found if decision is not None]


def replay(settings: WorkerSettings, decision: ModerationDecision, prompt: PromptVersion) -> dict[str, Any]:
    """Decide the original request again with the recorded version and model; compare bit for bit."""
    from stream.student.factory import build_student  # noqa: PLC0415 - loads llama.cpp: only for --replay

    if decision.source_partition is None or decision.source_offset is None:
        return {"reproduced": False, "reason": "the decision predates source offsets: the request cannot be found"}
    raw = asyncio.run(_request_bytes(settings, decision.source_partition, decision.source_offset))
    request = decode_request(raw, settings.max_message_bytes)
    if prompt.sha256 != decision.prompt_sha256:
        return {"reproduced": False, "reason": f"registry holds other content under {prompt.version}"}
    student = build_student(settings, prompt)
    try:
        if student.model_id != decision.model_id:
            return {"reproduced": False, "reason": f"model {student.model_id} is not the recorded {decision.model_id}"}
        [again] = student.classify([request.text])
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
    }


async def _request_bytes(settings: WorkerSettings, partition: int, offset: int) -> bytes:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False, **settings.kafka_security.client_options()
    )
    await consumer.start()
    try:
        tp = TopicPartition(settings.requests_topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        record = await consumer.getone(tp)
    finally:
        await consumer.stop()
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
