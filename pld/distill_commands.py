"""`pld distill` and `pld eval`: argument handling over the offline `distiller` package."""

import argparse
import json
import sys
from dataclasses import asdict

from distiller.datasets import load_dataset, sample
from distiller.eval_run import EvalSettings, run_eval
from distiller.evaluation import demo_decisions
from distiller.examples import Split
from distiller.moderation_gate import demo_gate
from distiller.pipeline import DistillSettings, distill
from distiller.selection import prune_by_ablation
from distiller.teacher import TeacherKind
from schemas import ScoringMode
from stream.prompts import load_prompt_file
from stream.student import StudentSettings


def student_settings(name: str | None, mode: str | None = None) -> StudentSettings:
    """The worker's student settings (`PLD_*`), with the student and mode named on the command line."""
    settings = StudentSettings()
    update: dict[str, object] = {}
    if mode is not None:
        update["scoring_mode"] = ScoringMode(mode)
    if name is not None:
        update |= {"student": name, "model_path": None, "model_sha256": None}
    return settings.model_copy(update=update)


def run_distill(args: argparse.Namespace) -> int:
    """`pld distill`."""
    student = student_settings(args.student)
    task, descriptions = _descriptions(args)
    settings = DistillSettings(
        dataset=args.dataset,
        out=args.out,
        version=args.version or args.out.stem,
        cache_dir=student.cache_dir,
        student=student,
        teacher=TeacherKind(args.teacher),
        train_limit=args.train_limit,
        samples_per_example=args.samples,
        max_tokens=args.max_tokens,
        similarity=args.similarity,
        min_support=args.min_support,
        min_purity=args.min_purity,
        budget_tokens=args.budget_tokens,
        exemplars_per_rule=args.exemplars,
        select_dev_limit=args.select_dev_limit,
        task=task,
        label_descriptions=tuple(sorted(descriptions.items())),
    )
    summary = distill(settings)
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    return 0


def run_select(args: argparse.Namespace) -> int:
    """`pld select`: prune a prompt by ablation on dev; write the pruned version and the report beside it."""
    student = student_settings(args.student)
    dataset = load_dataset(args.dataset, student.cache_dir)
    prompt = load_prompt_file(args.prompt)
    dev = sample(dataset.split(Split.DEV), args.dev_limit)
    pruned, report = prune_by_ablation(prompt, student, dev, dataset.name, progress=_progress, objective=args.objective)
    pruned = pruned.variant(args.version or args.out.stem)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(pruned.model_dump(mode="json"), indent=2) + "\n")
    summary = {"dataset": dataset.name, "dev_examples": len(dev), "student": student.student, **asdict(report)}
    if pruned.instructions:  # the demo gate beside the selection's metrics (what a moderator would see)
        gate = demo_gate(demo_decisions(student, pruned), pruned.category_of)
        summary["demo_gate_uncalibrated"] = {"counts": gate.counts(), "labels": gate.labels}
        _progress(f"demo gate of the written prompt (uncalibrated): {gate.counts()} {gate.labels}")
    args.out.with_suffix(".selection.json").write_text(json.dumps(summary, indent=2) + "\n")
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    return 0


def _progress(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def run_evaluation(args: argparse.Namespace) -> int:
    """`pld eval`."""
    student = student_settings(args.student, args.mode)
    if args.cascade_fast is not None:
        student = student.model_copy(update={"cascade_fast_student": args.cascade_fast})
    settings = EvalSettings(
        dataset=args.dataset,
        prompt=args.prompt,
        out_dir=args.out,
        cache_dir=student.cache_dir,
        student=student,
        student_name=student.student if student.model_path is None else str(student.model_path),
        limit=args.limit,
        dev_limit=args.dev_limit,
        teacher=None if args.teacher == "none" else TeacherKind(args.teacher),
        teacher_limit=args.teacher_limit,
        with_ablation=not args.no_ablation,
        calibrate_for=args.calibrate_for,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    summary = run_eval(settings)
    if args.json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        sys.stdout.write(f"report: {args.out / 'report.md'}\n")
    return 0


def _descriptions(args: argparse.Namespace) -> tuple[str | None, dict[str, str]]:
    """The task text and label descriptions from `--describe FILE`, overridden by `--task` and `--label-description`."""
    task: str | None = None
    descriptions: dict[str, str] = {}
    if args.describe is not None:
        described = json.loads(args.describe.read_text(encoding="utf-8"))
        task = described.get("task")
        descriptions = {str(name): str(text) for name, text in described.get("labels", {}).items()}
    for pair in args.label_description:
        name, separator, text = pair.partition("=")
        if not separator or not text.strip():
            raise SystemExit(f"--label-description wants LABEL=TEXT, got {pair!r}")
        descriptions[name.strip()] = text.strip()
    return args.task or task, descriptions


def run_contrast(args: argparse.Namespace) -> int:
    """`pld contrast`: the teacher writes (or the cache replays) the contrast set's twins and seeded texts."""
    from distiller.moderation_contrast import build_generated  # noqa: PLC0415 - loads the teacher
    from distiller.pipeline import DistillSettings, make_teacher  # noqa: PLC0415
    from distiller.teacher_cache import TeacherCache  # noqa: PLC0415

    student = StudentSettings()
    settings = DistillSettings(
        dataset="moderation-contrast", out=args.cache.with_suffix("").with_suffix(".json"), version="contrast",
        cache_dir=student.cache_dir, student=student, teacher=TeacherKind(args.teacher),
    )  # fmt: skip
    teacher = make_teacher(settings, TeacherCache(args.cache))
    summary = build_generated(teacher, args.cache, student.cache_dir, also=args.also)
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    return 0
