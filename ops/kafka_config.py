"""The single-node KRaft broker's on-disk layout and the config files ops writes for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

LOOPBACK = "127.0.0.1"
NODE_ID = 1
# Internal topics default to 50 partitions; one broker gains nothing from them and
# creating them slows the first consumer-group join noticeably on a small box.
INTERNAL_TOPIC_PARTITIONS = 1
SINGLE_REPLICA = 1
LOG_FILE_MAX_SIZE = "20MB"
LOG_FILES_KEPT = 3


@dataclass(frozen=True)
class BrokerLayout:
    """Paths of one broker's state folder."""

    state_dir: Path

    @property
    def config_file(self) -> Path:
        """The broker's ``server.properties``."""
        return self.state_dir / "server.properties"

    @property
    def log4j2_file(self) -> Path:
        """The log4j2 configuration: everything to a rolling file in ``log_dir``."""
        return self.state_dir / "log4j2.properties"

    @property
    def data_dir(self) -> Path:
        """``log.dirs``: partitions and the KRaft metadata log."""
        return self.state_dir / "data"

    @property
    def formatted_marker(self) -> Path:
        """Written by the storage tool; its presence means the storage is formatted."""
        return self.data_dir / "meta.properties"

    @property
    def log_dir(self) -> Path:
        """Broker logs (``server.log``) and the JVM's console output."""
        return self.state_dir / "logs"

    @property
    def server_log(self) -> Path:
        """What log4j2 writes."""
        return self.log_dir / "server.log"

    @property
    def console_log(self) -> Path:
        """The JVM's stdout and stderr (crashes before logging starts end up here)."""
        return self.log_dir / "console.log"

    @property
    def pid_file(self) -> Path:
        """Pid of the broker ops started."""
        return self.state_dir / "kafka.pid"

    @property
    def lock_file(self) -> Path:
        """Serialises concurrent ``ensure_kafka``/``stop_kafka`` calls for this broker."""
        return self.state_dir / ".lock"


SCRAM_MECHANISM = "SCRAM-SHA-512"
SCRAM_USER = "pld-worker"  # its password is the loopback services' one (ops.redis.local_password)


def controller_port(port: int) -> int:
    """Return the controller listener's port: the one after the client port."""
    return port + 1


def sasl_port(port: int) -> int:
    """Return the SASL/SCRAM client listener's port: two after the plaintext one."""
    return port + 2


def server_properties(layout: BrokerLayout, port: int, partitions: int) -> dict[str, str]:
    """Return the broker settings: combined broker+controller, loopback only, one replica; clients connect
    in plaintext on `port` or with SASL/SCRAM-SHA-512 on `sasl_port(port)` (user `SCRAM_USER`)."""
    client = f"{LOOPBACK}:{port}"
    sasl = f"{LOOPBACK}:{sasl_port(port)}"
    controller = f"{LOOPBACK}:{controller_port(port)}"
    internal = str(INTERNAL_TOPIC_PARTITIONS)
    one = str(SINGLE_REPLICA)
    return {
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        "controller.quorum.bootstrap.servers": controller,
        "listeners": f"PLAINTEXT://{client},SASL_PLAINTEXT://{sasl},CONTROLLER://{controller}",
        "advertised.listeners": f"PLAINTEXT://{client},SASL_PLAINTEXT://{sasl},CONTROLLER://{controller}",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": SCRAM_MECHANISM,
        f"listener.name.sasl_plaintext.{SCRAM_MECHANISM.lower()}.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        ),
        "log.dirs": str(layout.data_dir),
        "num.partitions": str(partitions),
        "auto.create.topics.enable": "true",
        "group.initial.rebalance.delay.ms": "0",
        "offsets.topic.replication.factor": one,
        "offsets.topic.num.partitions": internal,
        "transaction.state.log.replication.factor": one,
        "transaction.state.log.min.isr": one,
        "transaction.state.log.num.partitions": internal,
        "share.coordinator.state.topic.replication.factor": one,
        "share.coordinator.state.topic.min.isr": one,
        "min.insync.replicas": one,
    }


def log4j2_properties(layout: BrokerLayout) -> dict[str, str]:
    """Return a log4j2 config sending every logger to a size-rolled ``server.log``."""
    return {
        "status": "warn",
        "appender.file.type": "RollingFile",
        "appender.file.name": "file",
        "appender.file.fileName": str(layout.server_log),
        "appender.file.filePattern": f"{layout.server_log}.%i",
        "appender.file.layout.type": "PatternLayout",
        "appender.file.layout.pattern": "[%d] %p %m (%c)%n",
        "appender.file.policies.type": "Policies",
        "appender.file.policies.size.type": "SizeBasedTriggeringPolicy",
        "appender.file.policies.size.size": LOG_FILE_MAX_SIZE,
        "appender.file.strategy.type": "DefaultRolloverStrategy",
        "appender.file.strategy.max": str(LOG_FILES_KEPT),
        "rootLogger.level": "INFO",
        "rootLogger.appenderRef.file.ref": "file",
        "logger.requests.name": "kafka.request.logger",
        "logger.requests.level": "WARN",
    }


def write_properties(path: Path, settings: dict[str, str]) -> None:
    """Write ``settings`` as a Java properties file (``key=value`` lines)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{key}={value}" for key, value in settings.items()]
    path.write_text("# Written by ops; edits are overwritten on start.\n" + "\n".join(lines) + "\n", encoding="utf-8")


def write_config(layout: BrokerLayout, port: int, partitions: int) -> None:
    """(Re)write ``server.properties`` and the log4j2 config into the state folder."""
    write_properties(layout.config_file, server_properties(layout, port, partitions))
    write_properties(layout.log4j2_file, log4j2_properties(layout))
