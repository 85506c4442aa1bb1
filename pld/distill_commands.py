"""`pld distill` and `pld eval`: argument handling over the offline `distiller` package."""

import argparse
import json
import sys
from pathlib import Path

from distiller.chunked_models import QWEN_CODER_0_5B, assemble
from distiller.eval_run import EvalSettings, run_eval
from distiller.pipeline import DistillSettings, TeacherKind, distill
from schemas import ScoringMode
from stream.student.settings import StudentSettings

EMBEDDED_STUDENT = "gemma-270m"


def student_settings(name: str, mode: str | None = None) -> StudentSettings:
    """The worker's student settings (`PLD_*`), with the model named on the command line and the mode."""
    settings = StudentSettings()
    update: dict[str, object] = {}
    if mode is not None:
        update["scoring_mode"] = ScoringMode(mode)
    if name == "qwen-0.5b":
        update |= {"model_path": assemble(QWEN_CODER_0_5B, settings.cache_dir), "model_sha256": QWEN_CODER_0_5B.sha256}
    elif name != EMBEDDED_STUDENT:
        update |= {"model_path": Path(name), "model_sha256": None}
    return settings.model_copy(update=update)


def run_distill(args: argparse.Namespace) -> int:
    """`pld distill`."""
    student = student_settings(args.student)
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
    )
    summary = distill(settings)
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    return 0


def run_evaluation(args: argparse.Namespace) -> int:
    """`pld eval`."""
    student = student_settings(args.student, args.mode)
    settings = EvalSettings(
        dataset=args.dataset,
        prompt=args.prompt,
        out_dir=args.out,
        cache_dir=student.cache_dir,
        student=student,
        student_name=args.student,
        limit=args.limit,
        dev_limit=args.dev_limit,
        teacher=None if args.teacher == "none" else TeacherKind(args.teacher),
        teacher_limit=args.teacher_limit,
        with_ablation=not args.no_ablation,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    summary = run_eval(settings)
    if args.json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        sys.stdout.write(f"report: {args.out / 'report.md'}\n")
    return 0
