"""Run a single-node KRaft Kafka broker on loopback from jars Maven fetches into the cache."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import shutil
import socket
import subprocess
import uuid
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError

from ops import ServiceStartError, paths, process
from ops.blocking import run_coroutine
from ops.kafka_config import LOOPBACK, SCRAM_MECHANISM, SCRAM_USER, BrokerLayout, write_config
from ops.maven import ensure_runtime_jars, pom_property
from ops.redis import local_password

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "DEFAULT_PORT",
    "PORT_ENV",
    "configured_kafka_port",
    "ensure_kafka",
    "ensure_kafka_jars",
    "kafka_answers",
    "kafka_bootstrap",
    "kafka_pid",
    "kafka_version",
    "stop_kafka",
]

DEFAULT_PORT = 9092
PORT_ENV = "PLD_KAFKA_PORT"
DEFAULT_PARTITIONS = 1
START_TIMEOUT_S = 180.0
ANSWER_TIMEOUT_S = 5.0
FORMAT_TIMEOUT_S = 120.0
LOG_TAIL_LINES = 40
ERROR_LINES_SHOWN = 12
# Log4j levels that mean trouble, and the exception lines that say why (e.g. a BindException).
ERROR_LINE = re.compile(r"\] (ERROR|FATAL) |^(Caused by: )?[\w.$]+(Exception|Error): ")
BROKER_MAIN = "kafka.Kafka"
STORAGE_TOOL_MAIN = "kafka.tools.StorageTool"
# Modest heap: a dev/test broker on a 2-core box shares it with the worker and the model.
BROKER_JVM_OPTIONS = ("-Xms128m", "-Xmx512m", "-XX:+UseG1GC", "-Djava.awt.headless=true")
TOOL_JVM_OPTIONS = ("-Xmx256m", "-Djava.awt.headless=true")


def configured_kafka_port() -> int:
    """Return the broker port: ``$PLD_KAFKA_PORT`` or 9092."""
    return int(os.environ.get(PORT_ENV, DEFAULT_PORT))


def kafka_version() -> str:
    """Return the Kafka version pinned in the shipped pom."""
    with _pom() as pom:
        return pom_property(pom, "kafka.version")


def ensure_kafka_jars() -> Path:
    """Return the folder of broker jars, resolving them with Maven into the cache the first time."""
    with _pom() as pom:
        return ensure_runtime_jars(pom, paths.kafka_libs_dir(pom_property(pom, "kafka.version")))


def kafka_bootstrap(port: int = DEFAULT_PORT) -> str:
    """Return the bootstrap address (``host:port``) of the loopback broker on ``port``."""
    return f"{LOOPBACK}:{port}"


def kafka_answers(bootstrap: str, timeout_s: float = ANSWER_TIMEOUT_S) -> bool:
    """Return whether a broker at ``bootstrap`` (``host:port``) answers a metadata request."""
    host, _, port = bootstrap.rpartition(":")
    if not _port_open(host, int(port), timeout_s):
        return False
    return run_coroutine(_metadata_answers(bootstrap, timeout_s))


def kafka_pid(port: int = DEFAULT_PORT) -> int | None:
    """Return the pid of the broker ops started on ``port``, or None if none runs."""
    layout = BrokerLayout(paths.kafka_state_dir(port))
    return process.live_pid(layout.pid_file, str(layout.config_file))


def ensure_kafka(
    port: int = DEFAULT_PORT,
    *,
    partitions: int = DEFAULT_PARTITIONS,
    timeout_s: float = START_TIMEOUT_S,
) -> str:
    """Make sure a broker answers on ``127.0.0.1:port`` and return that bootstrap address.

    Reuses any broker already answering there. Otherwise fetches the jars (first time
    only), writes the config, formats the storage (first time only), starts the broker
    detached and waits until it answers. ``partitions`` is ``num.partitions`` for
    auto-created topics. Raises ServiceStartError, with the broker log's tail, on failure.
    """
    bootstrap = kafka_bootstrap(port)
    if kafka_answers(bootstrap):
        return bootstrap
    layout = BrokerLayout(paths.kafka_state_dir(port))
    with process.exclusive(layout.lock_file):
        if kafka_answers(bootstrap):
            return bootstrap
        libs = ensure_kafka_jars()
        write_config(layout, port, partitions)
        _format_storage_once(libs, layout)
        pid = kafka_pid(port) or _spawn_broker(libs, layout)
        _await_broker(bootstrap, pid, layout, timeout_s)
    return bootstrap


def stop_kafka(port: int = DEFAULT_PORT) -> bool:
    """Stop the broker ops started on ``port`` (SIGTERM, then SIGKILL); return whether one ran."""
    layout = BrokerLayout(paths.kafka_state_dir(port))
    if not layout.state_dir.is_dir():
        return False
    with process.exclusive(layout.lock_file):
        pid = kafka_pid(port)
        if pid is not None:
            process.terminate(pid)
        layout.pid_file.unlink(missing_ok=True)
    return pid is not None


@contextlib.contextmanager
def _pom() -> Iterator[Path]:
    """Yield a filesystem path to the pom shipped as package data."""
    with resources.as_file(resources.files("ops") / "kafka_broker" / "pom.xml") as pom:
        yield pom


def _java() -> str:
    """Return the java executable: ``$JAVA_HOME/bin/java`` or the one on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if candidate is None or not Path(candidate).is_file():
        msg = "No Java runtime found (set JAVA_HOME or put java 17+ on PATH)"
        raise ServiceStartError(msg)
    return candidate


def _java_argv(libs: Path, layout: BrokerLayout, jvm_options: tuple[str, ...]) -> list[str]:
    """Return ``java`` plus JVM options, log4j2 config and the classpath of all jars."""
    return [
        _java(),
        *jvm_options,
        f"-Dlog4j2.configurationFile={layout.log4j2_file}",
        f"-Dkafka.logs.dir={layout.log_dir}",
        "-cp",
        str(libs / "*"),
    ]


def _new_cluster_id() -> str:
    """Return a random cluster id the way Kafka's ``Uuid.randomUuid`` renders one."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not cluster_id.startswith("-"):  # Kafka rejects ids that look like flags
            return cluster_id


def _format_storage_once(libs: Path, layout: BrokerLayout) -> None:
    """Format the KRaft storage as a standalone (single-voter) quorum unless done before."""
    if layout.formatted_marker.is_file():
        return
    argv = [
        *_java_argv(libs, layout, TOOL_JVM_OPTIONS),
        STORAGE_TOOL_MAIN, "format", "--standalone",
        "--cluster-id", _new_cluster_id(), "--config", str(layout.config_file),
        # the SCRAM user of the SASL listener (KRaft keeps credentials in its metadata, written at format)
        "--add-scram", f"{SCRAM_MECHANISM}=[name={SCRAM_USER},password={local_password()}]",
    ]  # fmt: skip
    try:
        subprocess.run(argv, check=True, capture_output=True, text=True, timeout=FORMAT_TIMEOUT_S)
    except subprocess.CalledProcessError as exc:
        msg = f"Formatting Kafka storage in {layout.data_dir} failed:\n{exc.stdout}{exc.stderr}"
        raise ServiceStartError(msg) from exc
    except subprocess.TimeoutExpired as exc:
        msg = f"Formatting Kafka storage did not finish within {FORMAT_TIMEOUT_S:.0f}s"
        raise ServiceStartError(msg) from exc


def _spawn_broker(libs: Path, layout: BrokerLayout) -> int:
    """Start the broker detached and return its pid."""
    argv = [*_java_argv(libs, layout, BROKER_JVM_OPTIONS), BROKER_MAIN, str(layout.config_file)]
    return process.spawn_detached(argv, layout.console_log, layout.pid_file)


def _await_broker(bootstrap: str, pid: int, layout: BrokerLayout, timeout_s: float) -> None:
    """Wait until the broker answers; on failure stop it and raise with the log's tail."""
    answered = process.wait_for(
        lambda: kafka_answers(bootstrap),
        timeout_s,
        give_up=lambda: not process.is_alive(pid),
    )
    if answered:
        return
    outcome = "exited" if not process.is_alive(pid) else f"did not answer within {timeout_s:.0f}s"
    process.terminate(pid)
    layout.pid_file.unlink(missing_ok=True)
    msg = (
        f"Kafka broker (pid {pid}) on {bootstrap} {outcome}.\n"
        f"--- errors in {layout.server_log} ---\n"
        f"{process.matching_lines(layout.server_log, ERROR_LINE, ERROR_LINES_SHOWN)}\n"
        f"--- {layout.server_log} ---\n{process.tail(layout.server_log, LOG_TAIL_LINES)}\n"
        f"--- {layout.console_log} ---\n{process.tail(layout.console_log, LOG_TAIL_LINES)}"
    )
    raise ServiceStartError(msg)


def _port_open(host: str, port: int, timeout_s: float) -> bool:
    """Return whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


async def _metadata_answers(bootstrap: str, timeout_s: float) -> bool:
    """Return whether a metadata request to ``bootstrap`` lists at least one broker."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(client.bootstrap(), timeout_s)
        return bool(client.cluster.brokers())
    except (TimeoutError, KafkaError, OSError):
        return False
    finally:
        await client.close()
