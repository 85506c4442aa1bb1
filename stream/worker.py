"""`run_worker`: load the prompt and the student, then run the Faust worker until it is stopped."""

import asyncio
import faulthandler
import sys
from concurrent.futures import ThreadPoolExecutor

import faust
import structlog

from schemas import PromptVersion
from stream.app import create_app
from stream.batch import BatchProcessor
from stream.logging import configure_logging
from stream.prompts import RedisPromptStore, load_prompt_file, starter_prompt
from stream.settings import WorkerSettings
from stream.student.factory import build_student, checked_model_file
from stream.student.prefix_cache import state_megabytes
from stream.topics import ensure_topics

log = structlog.get_logger("stream.worker")


def active_prompt(settings: WorkerSettings) -> PromptVersion:
    """`PLD_PROMPT_FILE` stored and activated in Redis when given; else the active version (seeded with the starter)."""
    store = RedisPromptStore.from_url(settings.redis_url)
    if settings.prompt_file is None:
        return store.active_or_seed(starter_prompt())
    prompt = load_prompt_file(settings.prompt_file)
    store.put(prompt)
    store.activate(prompt.version)
    return prompt


def run_worker(settings: WorkerSettings) -> None:
    """Serve until SIGTERM/SIGINT; blocks."""
    faulthandler.enable(file=sys.stderr, all_threads=True)  # a native crash leaves its stacks in the log
    configure_logging(settings.log_level)
    log.info("worker_starting", worker_id=settings.worker_id, python=sys.executable)
    checked_model_file(settings)  # the self-test, before Kafka, Redis or the model are touched
    topics = [settings.requests_topic, settings.decisions_topic, settings.dlq_topic]
    asyncio.run(ensure_topics(settings.kafka_bootstrap, topics, settings.topic_partitions))
    prompt = active_prompt(settings)
    student = build_student(settings, prompt)
    log.info(
        "worker_ready",
        worker_id=settings.worker_id,
        prompt_version=prompt.version,
        prompt_sha256=prompt.sha256,
        model=student.model_id.file_name,
        scoring_mode=student.mode.value,
        decode=settings.decode.value,
        prefix_tokens=student.prefix_token_count,
        prefix_source=student.prefix_load.source,
        prefix_load_s=round(student.prefix_load.seconds, 3),
        prefix_state_mb=round(state_megabytes(student.prefix_load), 2),
    )
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="student") as executor:
        processor = BatchProcessor(student, executor, settings.worker_id, settings.max_message_bytes)
        app = create_app(settings, processor)
        worker = faust.Worker(app, loglevel="WARNING", quiet=True, redirect_stdouts=False)
        worker.spinner = None  # a terminal spinner would garble the JSON log lines
        worker.execute_from_commandline()
    student.close()
