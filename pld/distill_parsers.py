"""Argument parsers of `pld distill` and `pld eval` (kept light: nothing heavy is imported here)."""

import argparse
from pathlib import Path

from distiller.calibration import ABLATION_OBJECTIVES, MACRO_F1, OBJECTIVES
from distiller.teacher import TeacherKind
from schemas import ScoringMode
from stream.student import StudentName

STUDENTS = tuple(name.value for name in StudentName)
TEACHERS = tuple(kind.value for kind in TeacherKind)
MODES = tuple(mode.value for mode in ScoringMode)


def add_distill_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `pld distill`."""
    parser = commands.add_parser("distill", help="distil a teacher's rationales into a versioned prompt")
    parser.add_argument("--dataset", required=True, help="stereoset, redditbias, or a CSV/JSONL file (text, label)")
    parser.add_argument("--teacher", choices=list(TEACHERS), default="local")
    parser.add_argument("--out", type=Path, required=True, help="prompt file to write, e.g. prompts/stereoset.json")
    parser.add_argument("--version", help="prompt version name (default: the output file's stem)")
    parser.add_argument("--student", help=f"{' | '.join(STUDENTS)} | a GGUF path (default: PLD_STUDENT)")
    parser.add_argument("--train-limit", type=int, default=60, help="train examples sent to the teacher")
    parser.add_argument("--samples", type=int, default=1, help="teacher samples per example")
    parser.add_argument("--max-tokens", type=int, default=256, help="longest teacher rationale")
    parser.add_argument("--similarity", type=float, default=0.5, help="step grouping threshold (centred cosine)")
    parser.add_argument("--min-support", type=int, default=3, help="fewest supporting examples per pattern")
    parser.add_argument("--min-purity", type=float, default=0.5, help="lowest label purity per pattern")
    parser.add_argument("--budget-tokens", type=int, default=1500, help="largest prompt prefix, in student tokens")
    parser.add_argument("--exemplars", type=int, default=1, choices=[0, 1, 2], help="demonstrations per rule")
    parser.add_argument(
        "--select-dev-limit", type=int, default=150, help="dev examples to select instructions on (0: no selection)"
    )
    parser.add_argument("--task", help="the task text the teacher and the student read (default: the dataset's)")
    parser.add_argument(
        "--label-description",
        action="append",
        default=[],
        metavar="LABEL=TEXT",
        help="what a label means, e.g. 'spam=Unsolicited advertising or scams.' (repeatable)",
    )
    parser.add_argument(
        "--describe", type=Path, help='a JSON file {"task": "...", "labels": {"label": "description"}} (flags win)'
    )


def add_eval_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `pld eval`."""
    parser = commands.add_parser("eval", help="baseline vs PLD prompt vs teacher on the held-out test split")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--prompt", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="report directory")
    parser.add_argument("--student", help=f"{' | '.join(STUDENTS)} | a GGUF path (default: PLD_STUDENT)")
    parser.add_argument("--limit", type=int, default=300, help="test examples (deterministic sample)")
    parser.add_argument("--dev-limit", type=int, default=150, help="dev examples for fitting label biases")
    parser.add_argument("--teacher", choices=[*list(TEACHERS), "none"], default="local")
    parser.add_argument("--teacher-limit", type=int, default=40, help="test examples the teacher answers")
    parser.add_argument(
        "--mode", choices=list(MODES), help="scoring mode (default: PLD_SCORING_MODE, else single_pass)"
    )
    parser.add_argument("--no-ablation", action="store_true", help="skip the per-instruction ablation")
    parser.add_argument(
        "--calibrate-for",
        choices=list(OBJECTIVES),
        default=MACRO_F1,
        help="the dev objective the label biases are fitted for (hold-balance: the smaller of harmful held "
        "and benign allowed, for moderation)",
    )
    parser.add_argument(
        "--cascade-fast",
        help="also fit and evaluate a cascade: this faster student decides where it is confident "
        "(default: PLD_CASCADE_FAST_STUDENT)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def add_select_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `pld select`."""
    parser = commands.add_parser(
        "select", help="keep the rules of a prompt whose removal costs the student on dev (ablation)"
    )
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--prompt", type=Path, required=True, help="the prompt version to prune")
    parser.add_argument("--out", type=Path, required=True, help="the pruned version (a report lands beside it)")
    parser.add_argument("--student", help=f"{' | '.join(STUDENTS)} | a GGUF path (default: PLD_STUDENT)")
    parser.add_argument("--dev-limit", type=int, default=150, help="dev examples scored per trial")
    parser.add_argument("--version", help="the pruned version's name (default: the output file's stem)")
    parser.add_argument(
        "--objective",
        choices=list(ABLATION_OBJECTIVES),
        default=MACRO_F1,
        help="the dev score a rule must raise to be kept (both are reported; hold-auc: ROC AUC of "
        "P(review) + P(block) against harmful, what moderation's targets rank by)",
    )


def add_contrast_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `pld contrast`."""
    parser = commands.add_parser(
        "contrast", help="have the teacher write the moderation-contrast set's twins, spam and abuse (cached)"
    )
    parser.add_argument("--teacher", choices=list(TEACHERS), default="local")
    parser.add_argument(
        "--cache", type=Path, default=Path("prompts/moderation-contrast.data.teacher.jsonl"), help="teacher cache"
    )
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        choices=["abuse", "heated"],
        help="also write these seeded kinds (direct abuse; heated talk that attacks no one): a stronger teacher's job",
    )
