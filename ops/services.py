"""Command line: ``python -m ops.services start|stop|status`` for Kafka and Redis on loopback."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from ops import ServiceStartError, kafka, redis

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

EXIT_OK = 0
EXIT_FAILURE = 1


class Command(StrEnum):
    """What the command line can do."""

    START = "start"
    STOP = "stop"
    STATUS = "status"


@dataclass(frozen=True)
class Service:
    """One managed service bound to a port, and the ops functions that handle it."""

    name: str
    port: int
    ensure: Callable[[int], str]
    stop: Callable[[int], bool]
    address: Callable[[int], str]
    answers: Callable[[str], bool]
    pid: Callable[[int], int | None]

    def describe(self) -> str:
        """Return ``address`` plus who runs it: our pid, or someone else."""
        pid = self.pid(self.port)
        owner = f"pid {pid}" if pid is not None else "not started by ops"
        return f"{self.address(self.port)} ({owner})"


def build_services(kafka_port: int, redis_port: int) -> tuple[Service, ...]:
    """Return the managed services, in start order."""
    return (
        Service(
            "kafka", kafka_port, kafka.ensure_kafka, kafka.stop_kafka,
            kafka.kafka_bootstrap, kafka.kafka_answers, kafka.kafka_pid,
        ),
        Service(
            "redis", redis_port, redis.ensure_redis, redis.stop_redis,
            redis.redis_url, redis.redis_answers, redis.redis_pid,
        ),
    )  # fmt: skip


def start(service: Service) -> bool:
    """Start (or reuse) ``service``; print one line; return whether it is up."""
    try:
        service.ensure(service.port)
    except ServiceStartError as exc:
        print(f"{service.name:<6} FAILED  {service.address(service.port)}", flush=True)
        print(exc, file=sys.stderr)
        return False
    print(f"{service.name:<6} up      {service.describe()}")
    return True


def stop(service: Service) -> bool:
    """Stop ``service`` if ops started it; print one line; return True (stopping cannot fail)."""
    if service.stop(service.port):
        print(f"{service.name:<6} stopped {service.address(service.port)}")
    else:
        print(f"{service.name:<6} not running under ops on port {service.port}")
    return True


def status(service: Service) -> bool:
    """Print whether ``service`` answers; return that."""
    if service.answers(service.address(service.port)):
        print(f"{service.name:<6} up      {service.describe()}")
        return True
    print(f"{service.name:<6} down    {service.address(service.port)}")
    return False


ACTIONS: dict[Command, Callable[[Service], bool]] = {
    Command.START: start,
    Command.STOP: stop,
    Command.STATUS: status,
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line; ports default to ``$PLD_KAFKA_PORT``/``$PLD_REDIS_PORT``."""
    parser = argparse.ArgumentParser(prog="python -m ops.services", description=__doc__)
    parser.add_argument("command", type=Command, choices=list(Command))
    parser.add_argument("--kafka-port", type=int, default=kafka.configured_kafka_port())
    parser.add_argument("--redis-port", type=int, default=redis.configured_redis_port())
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command on every service; exit non-zero if any of them failed or is down."""
    args = parse_args(argv)
    services = build_services(args.kafka_port, args.redis_port)
    action = ACTIONS[args.command]
    outcomes = [action(service) for service in services]
    return EXIT_OK if all(outcomes) else EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
