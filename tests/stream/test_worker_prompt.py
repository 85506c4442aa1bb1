"""Which prompt version a starting worker runs."""

import uuid
from pathlib import Path

import pytest
import redis

from stream.prompts import RedisPromptStore, default_prompt
from stream.settings import WorkerSettings
from stream.worker import active_prompt
from tests.schemas.test_prompts import make_prompt

pytestmark = pytest.mark.integration
SCRATCH_DB = 3  # not the database the end-to-end workers use


@pytest.fixture
def scratch_url(redis_url: str) -> str:
    url = redis_url.rsplit("/", 1)[0] + f"/{SCRATCH_DB}"
    redis.Redis.from_url(url).flushdb()
    return url


def test_prompt_file_is_stored_and_activated(scratch_url: str, tmp_path: Path) -> None:
    """PLD_PROMPT_FILE wins at start: the version is stored in Redis and becomes the active one."""
    prompt = make_prompt(version=f"file-{uuid.uuid4().hex[:6]}")
    path = tmp_path / "prompt.json"
    path.write_text(prompt.model_dump_json())
    chosen = active_prompt(WorkerSettings(redis_url=scratch_url, prompt_file=path))
    assert chosen == prompt
    assert RedisPromptStore.from_url(scratch_url).active() == prompt


def test_without_a_file_the_default_policy_seeds_an_empty_store(scratch_url: str) -> None:
    """On a fresh Redis the worker runs (and records) the shipped default policy."""
    assert active_prompt(WorkerSettings(redis_url=scratch_url)) == default_prompt()
