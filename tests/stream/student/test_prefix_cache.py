"""The persisted prefix cache on the real model: restore is exact, corruption is caught, old entries go."""

import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from stream.prompts import starter_prompt
from stream.student import ContextSettings, LlamaContext, ModelFile, render_prefix
from stream.student.prefix_cache import CANARY_SUFFIX, PrefixCache, PrefixKey

pytestmark = pytest.mark.model

SETTINGS = ContextSettings(n_ctx=2048, n_seq_max=4)
SUFFIX_TEXT = "Is anyone else going to the meetup on Friday?"


@pytest.fixture(scope="module")
def context(model_file: ModelFile) -> Iterator[LlamaContext]:
    context = LlamaContext(model_file.path, SETTINGS)
    yield context
    context.close()


def prefix_of(context: LlamaContext) -> list[int]:
    return context.tokenize(render_prefix(starter_prompt()), parse_special=True, add_bos=True)


def key_for(model_file: ModelFile, tokens: list[int]) -> PrefixKey:
    return PrefixKey.of(model_file.sha256, starter_prompt().sha256, tokens, SETTINGS)


def test_cached_prefix_matches_a_fresh_context(model_file: ModelFile, context: LlamaContext) -> None:
    """A suffix decoded after a long-lived cached prefix gives exactly the logits a brand-new context gives.

    (Prefilling prefix + suffix in a single llama_decode is not bit-identical on CPU: ggml's kernels
    differ by batch shape. `pld bench engine` reports that difference as `fresh_prefill_max_logit_diff`.)
    """
    prefix = prefix_of(context)
    suffix = context.tokenize(SUFFIX_TEXT, parse_special=False)
    context.evaluate_prefix(prefix)
    context.full_logits(context.tokenize("warm-up message", parse_special=False))
    cached = context.full_logits(suffix)
    fresh_context = LlamaContext(model_file.path, SETTINGS)
    try:
        fresh_context.evaluate_prefix(prefix)
        fresh = fresh_context.full_logits(suffix)
    finally:
        fresh_context.close()
    assert np.array_equal(cached, fresh)


def test_restore_reproduces_the_computed_prefix(model_file: ModelFile, context: LlamaContext, tmp_path: Path) -> None:
    """A second load restores the saved state, and decoding after it gives the same logits as after computing."""
    prefix = prefix_of(context)
    cache = PrefixCache(tmp_path)
    first = cache.load_or_compute(context, key_for(model_file, prefix), prefix)
    suffix = context.tokenize(SUFFIX_TEXT, parse_special=False)
    computed = context.full_logits(suffix)
    second = cache.load_or_compute(context, key_for(model_file, prefix), prefix)
    assert (first.source, second.source) == ("computed", "restored")
    assert second.state_bytes > 0
    assert np.array_equal(context.full_logits(suffix), computed)


def test_failed_canary_falls_back_to_recompute(model_file: ModelFile, context: LlamaContext, tmp_path: Path) -> None:
    """When the canary logits do not reproduce (a bad restore), the prefix is recomputed and re-saved."""
    prefix = prefix_of(context)
    key = key_for(model_file, prefix)
    cache = PrefixCache(tmp_path)
    cache.load_or_compute(context, key, prefix)
    canary = tmp_path / f"{key.digest}{CANARY_SUFFIX}"
    np.save(canary, np.load(canary) + 1.0)
    assert cache.load_or_compute(context, key, prefix).source == "recomputed"
    assert cache.load_or_compute(context, key, prefix).source == "restored"


def test_garbage_collection_keeps_the_newest_and_others_fresh_files(
    model_file: ModelFile, context: LlamaContext, tmp_path: Path
) -> None:
    """Beyond `keep` entries the least recently used go, and stale debris; another worker's fresh files stay."""
    prefix = prefix_of(context)
    cache = PrefixCache(tmp_path, keep=1)
    stale = tmp_path / "deadbeef.state.tmp-0f0f"
    stale.write_bytes(b"x")
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))
    in_flight = [tmp_path / "cafe0001.state.tmp-1a2b", tmp_path / "cafe0002.state"]  # a write between rename and .json
    for path in in_flight:
        path.write_bytes(b"x")
    old = PrefixKey.of(model_file.sha256, "0" * 64, prefix, SETTINGS)
    new = key_for(model_file, prefix)
    cache.load_or_compute(context, old, prefix)
    cache.load_or_compute(context, new, prefix)
    stems = {path.name.split(".", 1)[0] for path in tmp_path.iterdir()}
    assert stems == {new.digest, "cafe0001", "cafe0002"}


@pytest.mark.parametrize("damage", [b"", b"\x93NUMPY", b"garbage that is no array"])
def test_a_damaged_canary_file_never_stops_start_up(
    model_file: ModelFile, context: LlamaContext, tmp_path: Path, damage: bytes
) -> None:
    """An empty or truncated `.canary.npy` is a cache miss, not an error."""
    prefix = prefix_of(context)
    key = key_for(model_file, prefix)
    cache = PrefixCache(tmp_path)
    cache.load_or_compute(context, key, prefix)
    (tmp_path / f"{key.digest}{CANARY_SUFFIX}").write_bytes(damage)
    assert cache.load_or_compute(context, key, prefix).source in {"recomputed", "uncached"}
    assert context.prefix_tokens == prefix


def test_an_unusable_cache_dir_still_serves_the_restored_layout(
    model_file: ModelFile, context: LlamaContext, tmp_path: Path
) -> None:
    """When the cache cannot be written (here its path is a file), the prefix is computed and round-tripped
    in memory: the logits equal those of a prefix restored from a good cache, bit for bit."""
    prefix = prefix_of(context)
    key = key_for(model_file, prefix)
    suffix = context.tokenize(SUFFIX_TEXT, parse_special=False)
    PrefixCache(tmp_path / "good").load_or_compute(context, key, prefix)
    restored = context.full_logits(suffix)
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the cache dir should be")
    load = PrefixCache(blocked / "cache").load_or_compute(context, key, prefix)
    assert load.source == "uncached"
    assert np.array_equal(context.full_logits(suffix), restored)


def test_a_cache_dir_others_can_write_is_made_private_and_one_owned_by_another_user_is_not_trusted(
    model_file: ModelFile, context: LlamaContext, tmp_path: Path
) -> None:
    """A restored state is an input to the model: a world-writable cache dir becomes 0700; a dir owned by
    another user is bypassed (the prefix is computed and kept in memory)."""
    prefix = prefix_of(context)
    key = key_for(model_file, prefix)
    open_dir = tmp_path / "open"
    open_dir.mkdir(mode=0o777)
    open_dir.chmod(0o777)
    PrefixCache(open_dir).load_or_compute(context, key, prefix)
    assert open_dir.stat().st_mode & 0o777 == 0o700
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    os.chown(foreign, os.getuid() + 4242, -1)
    assert PrefixCache(foreign).load_or_compute(context, key, prefix).source == "uncached"
