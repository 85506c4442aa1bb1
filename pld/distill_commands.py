"""`pld distill` and `pld eval`: argument handling over the offline `distiller` package."""

import argparse
import json
import sys
from pathlib import Path

from distiller.chunked_models import QWEN_CODER_0_5B, assemble
from distiller.eval_run import EvalSettings, run_eval
from distiller.evaluation import StudentSetup
from distiller.pipeline import DistillSettings, TeacherKind, distill
from schemas import ScoringMode
from stream.settings import WorkerSettings
from stream.student import ModelFile, default_model_file, model_file_at
from stream.student.llama_context import ContextSettings
from stream.student.llama_student import StudentSettings

EVAL_N_CTX = 4096
EVAL_N_SEQ_MAX = 256


def resolve_student(name: str, cache_dir: Path) -> ModelFile:
    """The student model named on the command line."""
    if name == "gemma-270m":
        return default_model_file(cache_dir)
    if name == "qwen-0.5b":
        return model_file_at(assemble(QWEN_CODER_0_5B, cache_dir), QWEN_CODER_0_5B.sha256)
    return model_file_at(Path(name))


def run_distill(args: argparse.Namespace) -> int:
    """`pld distill`."""
    worker = WorkerSettings()
    settings = DistillSettings(
        dataset=args.dataset,
        out=args.out,
        version=args.version or args.out.stem,
        cache_dir=worker.cache_dir,
        student=resolve_student(args.student, worker.cache_dir),
        teacher=TeacherKind(args.teacher),
        train_limit=args.train_limit,
        samples_per_example=args.samples,
        max_tokens=args.max_tokens,
        similarity=args.similarity,
        min_support=args.min_support,
        min_purity=args.min_purity,
        budget_tokens=args.budget_tokens,
        n_threads=worker.n_threads,
    )
    summary = distill(settings)
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    return 0


def run_evaluation(args: argparse.Namespace) -> int:
    """`pld eval`."""
    worker = WorkerSettings()
    context = ContextSettings(n_ctx=EVAL_N_CTX, n_seq_max=EVAL_N_SEQ_MAX, n_threads=worker.n_threads)
    setup = StudentSetup(
        resolve_student(args.student, worker.cache_dir), StudentSettings(context=context, mode=ScoringMode(args.mode))
    )
    settings = EvalSettings(
        dataset=args.dataset,
        prompt=args.prompt,
        out_dir=args.out,
        cache_dir=worker.cache_dir,
        setup=setup,
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
