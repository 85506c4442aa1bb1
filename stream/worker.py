"""`run_worker`: load the prompt and the student, then run the Faust worker until it is stopped."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import faust
import structlog

from schemas import PromptVersion
from stream.app import create_app
from stream.batch import BatchProcessor
from stream.logging import configure_logging
from stream.prompts import RedisPromptStore, load_prompt_file, starter_prompt
from stream.settings import WorkerSettings
from stream.student import ModelFile, default_model_file, model_file_at
from stream.student.llama_context import ContextSettings
from stream.student.llama_student import LlamaStudent, StudentSettings
from stream.student.prefix_cache import state_megabytes
from stream.topics import ensure_topics

log = structlog.get_logger("stream.worker")
PREFIX_CACHE_DIR = "prefix-cache"
MAX_SEQUENCES = 256  # llama.cpp's LLAMA_MAX_SEQ; with a unified KV cache, unused slots cost nothing


def resolve_model_file(settings: WorkerSettings) -> ModelFile:
    """The configured GGUF file, or the embedded default assembled into the cache dir."""
    if settings.model_path is None:
        return default_model_file(settings.cache_dir)
    return model_file_at(settings.model_path, settings.model_sha256)


def load_student(settings: WorkerSettings, prompt: PromptVersion) -> LlamaStudent:
    """The real student with the prompt's prefix already evaluated."""
    context = ContextSettings(n_ctx=settings.n_ctx, n_seq_max=MAX_SEQUENCES, n_threads=settings.n_threads)
    student_settings = StudentSettings(
        context=context,
        mode=settings.scoring_mode,
        decode=settings.decode,
        max_message_tokens=settings.max_message_tokens,
        prefix_cache_dir=settings.cache_dir / PREFIX_CACHE_DIR,
    )
    return LlamaStudent(resolve_model_file(settings), prompt, student_settings)


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
    configure_logging(settings.log_level)
    topics = [settings.requests_topic, settings.decisions_topic, settings.dlq_topic]
    asyncio.run(ensure_topics(settings.kafka_bootstrap, topics, settings.topic_partitions))
    prompt = active_prompt(settings)
    student = load_student(settings, prompt)
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
