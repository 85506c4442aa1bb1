"""`pld`: one console entry point with subcommands."""

import argparse
import faulthandler
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from pld.distill_parsers import STUDENTS, add_contrast_parser, add_distill_parser, add_eval_parser, add_select_parser
from pld.prompt_commands import add_prompt_parser
from schemas import DeadLetterReason
from stream.errors import SelfTestError
from stream.logging import configure_logging
from stream.settings import WorkerSettings

EXIT_SELF_TEST_FAILED = 3


def _worker(_args: argparse.Namespace) -> int:
    from stream.worker import run_worker  # noqa: PLC0415 - lazy: only `worker` needs llama.cpp loaded

    return run_worker(WorkerSettings())


def _demo(args: argparse.Namespace) -> int:
    from pld.demo import run_demo  # noqa: PLC0415 - lazy, like the worker

    settings = WorkerSettings()
    if args.student is not None:
        settings = settings.model_copy(update={"student": args.student, "model_path": None, "model_sha256": None})
    if args.cascade_fast is not None:
        settings = settings.model_copy(update={"cascade_fast_student": args.cascade_fast})
    return run_demo(settings, timeout_s=args.timeout)


def _services(args: argparse.Namespace) -> int:
    from ops.services import main as services_main  # noqa: PLC0415 - lazy, like the worker

    return services_main([args.action])


def _health(args: argparse.Namespace) -> int:
    from pld.health import run_health  # noqa: PLC0415 - lazy, like the worker

    return run_health(WorkerSettings(), args.file)


def _dlq(args: argparse.Namespace) -> int:
    import asyncio  # noqa: PLC0415 - lazy, like the worker
    import json  # noqa: PLC0415

    from pld.dlq import ReplayFilter, replay  # noqa: PLC0415

    chosen = ReplayFilter(
        reasons=frozenset(args.reason),
        since=args.since,
        until=args.until,
        keys=frozenset(key.encode() for key in args.key),
    )
    report = asyncio.run(replay(WorkerSettings(), chosen, dry_run=args.dry_run))
    sys.stdout.write(json.dumps({**vars(report), "dry_run": args.dry_run}, default=dict) + "\n")
    return 0


def _prompt(args: argparse.Namespace) -> int:
    from pld.prompt_commands import run_prompt  # noqa: PLC0415 - lazy, like the worker

    configure_logging(to_stderr=True)  # stdout carries the command's JSON only
    return run_prompt(args)


def _audit(args: argparse.Namespace) -> int:
    from pld.audit import AuditQuery, dump, run_audit  # noqa: PLC0415 - lazy, like the worker

    configure_logging(to_stderr=True)  # stdout carries the audit record only
    record, code = run_audit(WorkerSettings(), AuditQuery(args.request_id, args.since, args.replay, args.tenant))
    sys.stdout.write(dump(record) + "\n")
    return code


def _bench(args: argparse.Namespace) -> int:
    from pld.bench.report import run_bench  # noqa: PLC0415 - lazy, like the worker

    signal.signal(signal.SIGTERM, _exit_on_signal)  # so the benches' `finally` stops their workers and servers
    return run_bench(args.target, WorkerSettings(), as_json=args.json, requests=args.requests, processes=args.processes)


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _distill(args: argparse.Namespace) -> int:
    from pld.distill_commands import run_distill  # noqa: PLC0415 - lazy, like the worker

    configure_logging(to_stderr=True)  # stdout carries the summary JSON only
    return run_distill(args)


def _contrast(args: argparse.Namespace) -> int:
    from pld.distill_commands import run_contrast  # noqa: PLC0415 - lazy, like the worker

    configure_logging(to_stderr=True)  # stdout carries the summary JSON only
    return run_contrast(args)


def _eval(args: argparse.Namespace) -> int:
    from pld.distill_commands import run_evaluation  # noqa: PLC0415 - lazy, like the worker

    configure_logging(to_stderr=True)  # stdout carries the summary JSON only
    return run_evaluation(args)


def _select(args: argparse.Namespace) -> int:
    from pld.distill_commands import run_select  # noqa: PLC0415 - lazy, like the worker

    configure_logging(to_stderr=True)  # stdout carries the report JSON only
    return run_select(args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="pld", description="Prompt-Level Distillation content moderation.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("worker", help="consume moderation requests and publish decisions (settings: PLD_* env)")
    demo = commands.add_parser("demo", help="start Kafka and Redis, run a worker on sample traffic, print decisions")
    demo.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for all decisions")
    demo.add_argument("--student", choices=list(STUDENTS), help="the student to run (default: PLD_STUDENT, qwen-1.5b)")
    demo.add_argument(
        "--cascade-fast", choices=list(STUDENTS), help="a faster student in front (PLD_CASCADE_FAST_STUDENT)"
    )
    services = commands.add_parser("services", help="start, stop or check the local Kafka and Redis")
    services.add_argument("action", choices=["start", "stop", "status"])
    add_distill_parser(commands)
    add_eval_parser(commands)
    add_select_parser(commands)
    add_contrast_parser(commands)
    health = commands.add_parser("health", help="workers' health from their health files; exit 1 when unhealthy")
    health.add_argument("--file", type=Path, help="one worker's health file (PLD_HEALTH_FILE); default: all")
    dlq = commands.add_parser("dlq", help="dead-letter queue tools")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True)
    replay = dlq_commands.add_parser("replay", help="re-send chosen dead letters' originals to the requests topic")
    replay.add_argument("--reason", action="append", default=[], choices=[r.value for r in DeadLetterReason])
    replay.add_argument("--since", type=_timestamp, help="ISO time; earlier letters are neither read nor sent")
    replay.add_argument("--until", type=_timestamp, help="ISO time; later letters are not sent")
    replay.add_argument("--key", action="append", default=[], help="original Kafka key (repeatable)")
    replay.add_argument("--dry-run", action="store_true", help="count what would be sent, send nothing")
    add_prompt_parser(commands)
    audit = commands.add_parser("audit", help="a decision, its instructions and provenance; --replay re-decides it")
    audit.add_argument("request_id")
    audit.add_argument("--since", type=_timestamp, help="ISO time to search from (default: 7 days ago)")
    audit.add_argument("--replay", action="store_true", help="re-decide the request and compare bit for bit")
    audit.add_argument("--tenant", help="the request's tenant (decisions are keyed tenant:request_id)")
    bench = commands.add_parser("bench", help="benchmarks that print their figures (never timed tests)")
    targets = ["engine", "policy", "reload", "injection", "stream", "peers"]
    bench.add_argument("target", choices=targets, help="what to measure")
    bench.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    bench.add_argument("--requests", type=int, default=5000, help="stream: requests produced up front")
    bench.add_argument(
        "--processes", type=int, default=0, help="stream: the worker's decoding processes (default 0: its own plan)"
    )
    return parser


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "worker": _worker,
    "demo": _demo,
    "services": _services,
    "bench": _bench,
    "distill": _distill,
    "contrast": _contrast,
    "eval": _eval,
    "select": _select,
    "health": _health,
    "dlq": _dlq,
    "prompt": _prompt,
    "audit": _audit,
}


def _timestamp(text: str) -> datetime:
    """An ISO-8601 time; without a zone it is UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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
