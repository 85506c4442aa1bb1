"""The chain-of-thought step: a teacher labels training examples step by step; correct rationales are kept.

Sample 0 of every example is greedy (temperature 0) so a rerun reproduces it; later samples are drawn at
`temperature` with `seed = sample_index`. When no sample reaches the gold label, the teacher may be told the
answer and asked to explain it (STaR-style rationalization, `sample_index = 100`); such rationales are
flagged `rationalized=True`. Every call goes through a `TeacherCache`, so reruns only ask what is missing.
"""

import hashlib
import json
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

import structlog
from tqdm import tqdm  # type: ignore[import-untyped]

from distiller.examples import Dataset, Example
from distiller.teacher import ChatMessage, Teacher
from distiller.teacher_cache import CachedMessage, CacheKey, CacheRecord, TeacherCache
from schemas import Category, LabelDefinition

SYSTEM_TEMPLATE = (
    "You are a concise expert annotator. You read a text, reason briefly and carefully about the label "
    "definitions, and pick exactly one label."
)
USER_TEMPLATE = 'Task: {task}\n\nLabels:\n{labels}\n\nText:\n"""\n{text}\n"""\n\n{instruction}'
LABEL_LINE_TEMPLATE = "- {name}: {description}"
INSTRUCTION_TEMPLATE = (
    "Think step by step in 3-6 short numbered steps, then end with a line `Answer: <label>` "
    "where <label> is one of: {names}."
)
HINT_TEMPLATE = (
    "The correct label is {gold}. Explain step by step why, in 3-6 short numbered steps, "
    "then end with a line `Answer: {gold}`."
)
# Only for a dataset with a taxonomy: the categories sit after the labels, and the steps must name the
# concrete thing in the text that puts it in a category (what the rule miner later generalises).
CATEGORIES_TEMPLATE = "\n\nCategories (each gives its label):\n{categories}\n- none ({default}): none of the above."
CATEGORY_LINE_TEMPLATE = "- {name} ({action}): {description}"
CATEGORY_STEPS_TEMPLATE = (
    " In your steps, quote or name the concrete words or request in the text that decide it, and say which "
    "category they fall in (or none)."
)

GREEDY_TEMPERATURE = 0.0
RATIONALIZATION_SAMPLE_INDEX = 100
DEFAULT_MAX_TOKENS = 384
DEFAULT_SAMPLES_PER_EXAMPLE = 2
DEFAULT_TEMPERATURE = 0.7

_ANSWER = re.compile(r"\banswer\b[\s*_`]*[:\uff1a][ \t*_`]*(?P<value>[^\n]*)", re.IGNORECASE)
_STEP = re.compile(r"^\s*(?:[*_]{1,2})?(?:step\s*)?\d{1,2}\s*[.):]\s*(?P<text>.+)$", re.IGNORECASE)
_NON_WORD = re.compile(r"[\W_]+")
_SENTENCE_ENDINGS = (".", "!", "?", ":", ";", ",")

log = structlog.get_logger(__name__)


@cache
def template_sha256(*, categories: bool = False) -> str:
    """sha256 of every template string: changes whenever the prompt wording does.

    The category templates count only for a dataset with categories, so other datasets' caches stay valid."""
    templates = [SYSTEM_TEMPLATE, USER_TEMPLATE, LABEL_LINE_TEMPLATE, INSTRUCTION_TEMPLATE, HINT_TEMPLATE]
    if categories:
        templates += [CATEGORIES_TEMPLATE, CATEGORY_LINE_TEMPLATE, CATEGORY_STEPS_TEMPLATE]
    return hashlib.sha256(json.dumps(templates).encode("utf-8")).hexdigest()


def rationale_prompt(
    dataset_task: str,
    labels: list[LabelDefinition],
    example: Example,
    hint: str | None = None,
    *,
    categories: Sequence[Category] = (),
    default_label: str = "",
) -> list[ChatMessage]:
    """The system and user turns asking the teacher to label `example` step by step (or to justify `hint`)."""
    names = ", ".join(label.name for label in labels)
    instruction = INSTRUCTION_TEMPLATE.format(names=names)
    if hint is not None:
        instruction = HINT_TEMPLATE.format(gold=hint)
    definitions = "\n".join(LABEL_LINE_TEMPLATE.format(name=x.name, description=x.description) for x in labels)
    if categories:
        lines = "\n".join(
            CATEGORY_LINE_TEMPLATE.format(name=c.name, action=c.action, description=c.description) for c in categories
        )
        definitions += CATEGORIES_TEMPLATE.format(categories=lines, default=default_label)
        instruction += CATEGORY_STEPS_TEMPLATE
    user = USER_TEMPLATE.format(task=dataset_task, labels=definitions, text=example.text, instruction=instruction)
    return [ChatMessage("system", SYSTEM_TEMPLATE), ChatMessage("user", user)]


def _normalize(text: str) -> str:
    """Lower case, punctuation/underscores/hyphens as single spaces: `Anti_Stereotype.` -> `anti stereotype`."""
    return _NON_WORD.sub(" ", text.lower()).strip()


def _answer_value(reply: str) -> str | None:
    """The text after the last `Answer:` (or the next non-empty line when the colon ends its line)."""
    matches = list(_ANSWER.finditer(reply))
    if not matches:
        return None
    last = matches[-1]
    value = last.group("value").strip()
    if value:
        return value
    following = [line for line in reply[last.end() :].splitlines() if line.strip()]
    return following[0] if following else None


def parse_answer(reply: str, label_names: Sequence[str]) -> str | None:
    """The label named on the reply's last `Answer:` line, tolerant of case, quotes, markup and separators.

    An exact (normalized) match wins; otherwise the one label mentioned as whole words (a label contained
    in a longer mentioned label, like `stereotype` in `anti-stereotype`, does not count). None if unclear.
    """
    value = _answer_value(reply)
    if value is None:
        return None
    wanted = _normalize(value)
    by_form = {_normalize(name): name for name in label_names}
    if wanted in by_form:
        return by_form[wanted]
    padded = f" {wanted} "
    mentioned = [form for form in by_form if f" {form} " in padded]
    outermost = [form for form in mentioned if not any(form != other and form in other for other in mentioned)]
    return by_form[outermost[0]] if len(outermost) == 1 else None


def answered_label(reply: str, dataset: Dataset) -> str | None:
    """The label a reply answers; with a taxonomy, an answer naming a category ("Answer: none") means its action."""
    label = parse_answer(reply, dataset.label_names)
    if label is not None or not dataset.categories:
        return label
    actions = {category.name: category.action for category in dataset.categories} | {"none": dataset.default_label}
    category = parse_answer(reply, list(actions))
    return actions[category] if category is not None else None


def parse_steps(reply: str) -> list[str]:
    """The numbered reasoning steps (`1.`, `2)`, `Step 3:`); unnumbered lines continue the previous step.

    A step line without closing punctuation followed by a paragraph is a heading (`Step 1: Analyze the
    context`): the two are joined as `heading: paragraph`.
    """
    steps: list[str] = []
    heading = False
    for line in reply.splitlines():
        stripped = line.strip()
        if not stripped or _ANSWER.search(stripped):
            continue
        numbered = _STEP.match(stripped)
        if numbered:
            steps.append(numbered.group("text").strip(" *_"))
            heading = not steps[-1].endswith(_SENTENCE_ENDINGS)
        elif steps:
            steps[-1] = f"{steps[-1]}{': ' if heading else ' '}{stripped.strip('*_ ')}"
            heading = False
    return steps


@dataclass(frozen=True)
class Rationale:
    """One teacher reply for one example: its reasoning steps and the label it concluded."""

    example_id: str
    gold: str
    predicted: str | None
    reply: str
    steps: list[str]
    sample_index: int
    rationalized: bool
    teacher_id: str

    @property
    def correct(self) -> bool:
        """Whether the teacher concluded the gold label."""
        return self.predicted == self.gold


@dataclass(frozen=True)
class SampleSpec:
    """How one sample is drawn: its index (cache key part), temperature, seed, and optional gold hint."""

    sample_index: int
    temperature: float
    seed: int
    hint: str | None = None

    @classmethod
    def nth(cls, sample_index: int, temperature: float) -> "SampleSpec":
        """Sample 0 is greedy; sample n > 0 uses `temperature` and seed n."""
        if sample_index == 0:
            return cls(0, GREEDY_TEMPERATURE, 0)
        return cls(sample_index, temperature, sample_index)

    @classmethod
    def rationalization(cls, gold: str) -> "SampleSpec":
        """The greedy, gold-hinted retry."""
        return cls(RATIONALIZATION_SAMPLE_INDEX, GREEDY_TEMPERATURE, RATIONALIZATION_SAMPLE_INDEX, gold)


@dataclass
class CollectionStats:
    """Counts for the one log line a collection run writes."""

    examples: int = 0
    samples: int = 0
    correct: int = 0
    rationalized: int = 0
    rationalization_failed: int = 0
    teacher_calls: int = 0
    cache_hits: int = 0
    started: float = field(default_factory=time.perf_counter)


def sample_rationale(
    teacher: Teacher,
    dataset: Dataset,
    example: Example,
    cache: TeacherCache,
    spec: SampleSpec,
    *,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    stats: CollectionStats | None = None,
) -> Rationale:
    """One rationale for `example` (correct or not), from the cache when this exact prompt was asked before."""
    messages = rationale_prompt(
        dataset.task,
        dataset.labels,
        example,
        spec.hint,
        categories=dataset.categories,
        default_label=dataset.default_label,
    )
    key = CacheKey(teacher.id, example.id, template_sha256(categories=bool(dataset.categories)), spec.sample_index)
    reply = cached_or_asked(
        teacher, cache, key, messages, spec, max_tokens=max_tokens, stats=stats or CollectionStats()
    )
    return Rationale(
        example_id=example.id,
        gold=example.label,
        predicted=answered_label(reply, dataset),
        reply=reply,
        steps=parse_steps(reply),
        sample_index=spec.sample_index,
        rationalized=spec.hint is not None,
        teacher_id=teacher.id,
    )


def cached_or_asked(
    teacher: Teacher,
    cache: TeacherCache,
    key: CacheKey,
    messages: list[ChatMessage],
    spec: SampleSpec,
    *,
    max_tokens: int,
    stats: CollectionStats,
) -> str:
    """The cached reply when it answered this very prompt (dataset text and labels included), else a fresh one.

    Every teacher call of the distiller goes through here, rationales and rule abstraction alike."""
    stored = [CachedMessage.of(message) for message in messages]
    record = cache.get_record(key)
    if record is not None and record.prompt_messages == stored:
        stats.cache_hits += 1
        return record.reply
    reply = teacher.complete(messages, max_tokens=max_tokens, temperature=spec.temperature, seed=spec.seed)
    stats.teacher_calls += 1
    fresh = CacheRecord(
        teacher_id=key.teacher_id,
        example_id=key.example_id,
        template_sha256=key.template_sha256,
        sample_index=key.sample_index,
        prompt_messages=stored,
        reply=reply,
        rationalized=spec.hint is not None,
        temperature=spec.temperature,
        seed=spec.seed,
    )
    cache.put(key, fresh)
    return reply


def collect_rationales(
    teacher: Teacher,
    dataset: Dataset,
    examples: Sequence[Example],
    cache: TeacherCache,
    *,
    samples_per_example: int = DEFAULT_SAMPLES_PER_EXAMPLE,
    temperature: float = DEFAULT_TEMPERATURE,
    rationalize_misses: bool = True,
    progress: bool = True,
    max_tokens: int = DEFAULT_MAX_TOKENS,
) -> list[Rationale]:
    """The correct rationales for `examples`: all `samples_per_example` samples each, plus rationalized misses."""
    plan = CollectionPlan(samples_per_example, temperature, rationalize_misses, max_tokens)
    collector = _Collector(teacher, dataset, cache, plan)
    kept: list[Rationale] = []
    for example in tqdm(examples, desc="rationales", unit="example", file=sys.stderr, disable=not progress):
        kept.extend(collector.rationales_for(example))
    _log_stats(teacher, collector.stats, kept)
    return kept


@dataclass(frozen=True)
class CollectionPlan:
    """How many samples per example, how hot, whether to rationalize misses, and the reply length cap."""

    samples_per_example: int = DEFAULT_SAMPLES_PER_EXAMPLE
    temperature: float = DEFAULT_TEMPERATURE
    rationalize_misses: bool = True
    max_tokens: int = DEFAULT_MAX_TOKENS

    def __post_init__(self) -> None:
        """Sample indexes must stay below the one reserved for rationalization."""
        if not 1 <= self.samples_per_example <= RATIONALIZATION_SAMPLE_INDEX:
            raise ValueError(f"samples_per_example must be in 1..{RATIONALIZATION_SAMPLE_INDEX}")


@dataclass
class _Collector:
    """One collection run: its collaborators, its plan and its running counts."""

    teacher: Teacher
    dataset: Dataset
    cache: TeacherCache
    plan: CollectionPlan
    stats: CollectionStats = field(default_factory=CollectionStats)

    def rationales_for(self, example: Example) -> list[Rationale]:
        """The correct samples of one example, or its rationalization when none is correct."""
        self.stats.examples += 1
        drawn = [
            self._sample(example, SampleSpec.nth(n, self.plan.temperature))
            for n in range(self.plan.samples_per_example)
        ]
        correct = [rationale for rationale in drawn if rationale.correct]
        self.stats.samples += len(drawn)
        self.stats.correct += len(correct)
        if correct or not self.plan.rationalize_misses:
            return correct
        hinted = self._sample(example, SampleSpec.rationalization(example.label))
        if not hinted.correct:  # told the answer and still concluded otherwise: no usable evidence
            self.stats.rationalization_failed += 1
            return []
        self.stats.rationalized += 1
        return [hinted]

    def _sample(self, example: Example, spec: SampleSpec) -> Rationale:
        return sample_rationale(
            self.teacher, self.dataset, example, self.cache, spec, max_tokens=self.plan.max_tokens, stats=self.stats
        )


def _log_stats(teacher: Teacher, stats: CollectionStats, kept: list[Rationale]) -> None:
    log.info(
        "rationales_collected",
        teacher=teacher.id,
        examples=stats.examples,
        samples=stats.samples,
        correct_samples=stats.correct,
        rationalized=stats.rationalized,
        rationalization_failed=stats.rationalization_failed,
        kept=len(kept),
        teacher_calls=stats.teacher_calls,
        cache_hits=stats.cache_hits,
        seconds=round(time.perf_counter() - stats.started, 3),
    )
