"""`pld`: one console entry point with subcommands."""

import argparse
import faulthandler
import sys
from collections.abc import Callable, Sequence

from pld.distill_parsers import add_distill_parser, add_eval_parser
from stream.errors import SelfTestError
from stream.settings import WorkerSettings
from stream.student.settings import StudentSettings

EXIT_SELF_TEST_FAILED = 3


def _worker(_args: argparse.Namespace) -> int:
    from stream.worker import run_worker  # noqa: PLC0415 - lazy: only `worker` needs llama.cpp loaded

    run_worker(WorkerSettings())
    return 0


def _demo(args: argparse.Namespace) -> int:
    from pld.demo import run_demo  # noqa: PLC0415 - lazy, like the worker

    return run_demo(WorkerSettings(), timeout_s=args.timeout)


def _services(args: argparse.Namespace) -> int:
    from ops.services import main as services_main  # noqa: PLC0415 - lazy, like the worker

    return services_main([args.action])


def _bench(args: argparse.Namespace) -> int:
    from pld.bench.report import run_bench  # noqa: PLC0415 - lazy, like the worker

    return run_bench(args.target, StudentSettings(), as_json=args.json)


def _distill(args: argparse.Namespace) -> int:
    from pld.distill_commands import run_distill  # noqa: PLC0415 - lazy, like the worker

    return run_distill(args)


def _eval(args: argparse.Namespace) -> int:
    from pld.distill_commands import run_evaluation  # noqa: PLC0415 - lazy, like the worker

    return run_evaluation(args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="pld", description="Prompt-Level Distillation content moderation.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("worker", help="consume moderation requests and publish decisions (settings: PLD_* env)")
    demo = commands.add_parser("demo", help="start Kafka and Redis, run a worker on sample traffic, print decisions")
    demo.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for all decisions")
    services = commands.add_parser("services", help="start, stop or check the local Kafka and Redis")
    services.add_argument("action", choices=["start", "stop", "status"])
    add_distill_parser(commands)
    add_eval_parser(commands)
    bench = commands.add_parser("bench", help="benchmarks that print their figures (never timed tests)")
    bench.add_argument("target", choices=["engine"], help="what to measure")
    bench.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    return parser


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "worker": _worker,
    "demo": _demo,
    "services": _services,
    "bench": _bench,
    "distill": _distill,
    "eval": _eval,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the subcommand named on the command line; return its exit code."""
    faulthandler.enable(all_threads=True)  # a native crash in any subcommand leaves its Python stacks on stderr
    args = build_parser().parse_args(argv)
    try:
        return HANDLERS[args.command](args)
    except SelfTestError as exc:
        sys.stderr.write(f"pld {args.command}: {exc}\n")
        return EXIT_SELF_TEST_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
