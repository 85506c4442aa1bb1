"""`pld distill`: teacher rationales -> mined patterns -> abstracted rules -> a versioned PromptVersion.

The teacher cache (JSONL) sits beside the output prompt, so a rerun with a complete cache needs no
teacher at all (`--teacher replay`) and anyone can rerun the mining from the recorded rationales.
"""

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from distiller.abstraction import abstract, merge
from distiller.assembly import AssemblySettings, assemble
from distiller.datasets import load_dataset, sample
from distiller.embedding_cache import CachedEmbedder
from distiller.errors import TeacherError
from distiller.evaluation import demo_decisions
from distiller.examples import Dataset, Split
from distiller.mining import Step, mine_patterns, normalise_step
from distiller.moderation_gate import demo_gate
from distiller.rationales import Rationale, collect_rationales
from distiller.selection import select_on_dev
from distiller.teacher import ChatMessage, Teacher, TeacherKind
from distiller.teacher_cache import TeacherCache
from distiller.teachers.local_llama import local_teacher
from distiller.teachers.openai_compat import OpenAICompatibleTeacher, OpenAITeacherSettings
from distiller.verification import verify
from stream.student import ModelFile, StudentEmbedder, StudentSettings, checked_model_file, prefix_token_counter


@dataclass(frozen=True)
class DistillSettings:
    """One distillation run."""

    dataset: str
    out: Path
    version: str
    cache_dir: Path
    student: StudentSettings
    teacher: TeacherKind = TeacherKind.LOCAL
    replay_teacher_id: str | None = None
    train_limit: int = 60
    samples_per_example: int = 1
    max_tokens: int = 256
    similarity: float = 0.5
    min_support: int = 3
    min_purity: float = 0.5
    budget_tokens: int = 1500
    exemplars_per_rule: int = 1
    select_dev_limit: int = 150  # dev examples for instruction selection; 0 skips selection
    task: str | None = None  # replaces the dataset's task text (a user's CSV has only a generic one)
    label_descriptions: tuple[tuple[str, str], ...] = ()  # (label, description) replacing the generic ones

    @property
    def teacher_cache_path(self) -> Path:
        """The JSONL teacher cache, committed next to the prompt."""
        return self.out.with_suffix(".teacher.jsonl")


class ReplayTeacher:
    """Answers only from the recorded cache: the id of the teacher that recorded it, and no new calls."""

    def __init__(self, teacher_id: str) -> None:
        self._id = teacher_id

    @property
    def id(self) -> str:
        """The recorded teacher's id."""
        return self._id

    def complete(self, messages: list[ChatMessage], *, max_tokens: int, temperature: float, seed: int) -> str:
        """Always fails: a replay has no teacher to ask."""
        raise TeacherError(f"the recorded cache has no reply for this prompt ({self._id}); rerun with a teacher")


def make_teacher(settings: DistillSettings, cache: TeacherCache) -> Teacher:
    """The configured teacher backend."""
    if settings.teacher is TeacherKind.LOCAL:
        return local_teacher(settings.cache_dir, n_threads=settings.student.n_threads)
    if settings.teacher is TeacherKind.OPENAI:
        return OpenAICompatibleTeacher(OpenAITeacherSettings())
    teacher_id = settings.replay_teacher_id or next((r.teacher_id for r in cache.records()), None)
    if teacher_id is None:
        raise TeacherError(f"nothing recorded in {settings.teacher_cache_path} to replay")
    return ReplayTeacher(teacher_id)


def distill(settings: DistillSettings, teacher: Teacher | None = None) -> dict[str, Any]:
    """Run the pipeline, write the prompt (and a summary beside it); return the summary.

    `teacher` overrides the configured backend (tests pass a fake)."""
    dataset = described(load_dataset(settings.dataset, settings.cache_dir), settings)
    train = sample(dataset.split(Split.TRAIN), settings.train_limit)
    cache = TeacherCache(settings.teacher_cache_path)
    teacher = teacher or make_teacher(settings, cache)
    rationales = collect_rationales(
        teacher, dataset, train, cache, samples_per_example=settings.samples_per_example, max_tokens=settings.max_tokens
    )
    steps = steps_of(rationales, {example.id: example.category for example in train} if dataset.categories else {})
    student = checked_model_file(settings.student)
    embedder = CachedEmbedder(StudentEmbedder(student, settings.student.n_threads), embeddings_dir(settings, student))
    try:
        patterns = mine_patterns(steps, embedder, settings.similarity, settings.min_support, settings.min_purity)
        candidates = abstract(patterns, dataset, teacher, cache)
        verified, verify_notes = verify(candidates, dataset, teacher, cache)
        merged, merge_notes = merge(verified, embedder)
    finally:
        embedder.close()
    count = prefix_token_counter(student)
    assembly = AssemblySettings(
        version=settings.version,
        teacher_id=teacher.id,
        count_tokens=count,
        budget_tokens=settings.budget_tokens,
        examples={example.id: example for example in train},
        exemplars_per_rule=settings.exemplars_per_rule,
    )
    prompt, budget_notes = assemble(dataset, merged, assembly)
    selection_notes: list[str] = []
    dev = sample(dataset.split(Split.DEV), settings.select_dev_limit)
    if settings.select_dev_limit and dev and prompt.instructions:
        prompt, report = select_on_dev(prompt, settings.student, dev, dataset.name, progress=_progress)
        selection_notes = [
            f"selected on {len(dev)} dev examples: macro-F1 {report.start_score:.3f} -> {report.final_score:.3f}, "
            f"dropped {report.dropped or 'nothing'} in {report.trials} trials",
            *report.notes,
        ]
    if prompt.instructions:  # the demo gate beside the selection's metrics (what a moderator would see)
        gate = demo_gate(demo_decisions(settings.student, prompt), prompt.category_of)
        selection_notes.append(f"demo gate of the written prompt (uncalibrated): {gate.counts()} {gate.labels}")
        _progress(selection_notes[-1])
    settings.out.parent.mkdir(parents=True, exist_ok=True)
    settings.out.write_text(json.dumps(prompt.model_dump(mode="json"), indent=2) + "\n")
    summary = _summary(settings, dataset, train_size=len(train), rationales=rationales, steps=len(steps))
    summary |= {"patterns": len(patterns), "instructions": len(prompt.instructions), "prompt_tokens": count(prompt)}
    summary["notes"] = verify_notes + merge_notes + budget_notes + selection_notes
    settings.out.with_suffix(".summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def embeddings_dir(settings: DistillSettings, student: ModelFile) -> Path:
    """Where the student's step embeddings are kept between runs (under the user's cache directory)."""
    return settings.cache_dir / "embeddings" / student.sha256


def described(dataset: Dataset, settings: DistillSettings) -> Dataset:
    """The dataset with the task text and label descriptions given on the command line, if any."""
    descriptions = dict(settings.label_descriptions)
    unknown = set(descriptions) - set(dataset.label_names)
    if unknown:
        raise ValueError(f"descriptions given for labels the data does not have: {sorted(unknown)}")
    labels = [
        label.model_copy(update={"description": descriptions[label.name]}) if label.name in descriptions else label
        for label in dataset.labels
    ]
    return replace(dataset, task=settings.task or dataset.task, labels=labels)


def _progress(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def steps_of(rationales: list[Rationale], categories: Mapping[str, str] | None = None) -> list[Step]:
    """Every reusable reasoning step of the kept rationales, with its example's gold label (and category, by
    example id, when the dataset has a taxonomy)."""
    categories = categories or {}
    steps = []
    for rationale in rationales:
        category = categories.get(rationale.example_id, "")
        for raw in rationale.steps:
            text = normalise_step(raw)
            if text is not None:
                steps.append(Step(text, rationale.example_id, rationale.gold, rationale.rationalized, category))
    return steps


def _summary(
    settings: DistillSettings, dataset: Dataset, *, train_size: int, rationales: list[Rationale], steps: int
) -> dict[str, Any]:
    rationalized = sum(r.rationalized for r in rationales)
    return {
        "dataset": dataset.name,
        "version": settings.version,
        "teacher": settings.teacher.value,
        "train_examples": train_size,
        "rationales_kept": len(rationales),
        "rationales_rationalized": rationalized,
        "examples_with_rationale": len({r.example_id for r in rationales}),
        "steps": steps,
        "similarity": settings.similarity,
        "min_support": settings.min_support,
        "min_purity": settings.min_purity,
        "budget_tokens": settings.budget_tokens,
    }
