"""docker-compose.yml, checked without Docker: its broker speaks the SASL/SCRAM the loopback broker is tested
with (`tests/integration/test_kafka_sasl.py`), and its workers are configured to use it and to read their secrets."""

from pathlib import Path

import yaml

from ops.kafka_config import SCRAM_MECHANISM, SCRAM_USER, BrokerLayout, server_properties
from stream.settings import WorkerSettings

COMPOSE = Path(__file__).parents[2] / "docker-compose.yml"


def compose() -> dict[str, dict]:  # type: ignore[type-arg]
    loaded: dict[str, dict] = yaml.safe_load(COMPOSE.read_text())  # type: ignore[type-arg]
    return loaded


def broker_properties() -> dict[str, str]:
    """The server.properties the compose broker's start script writes (its heredoc)."""
    script = compose()["services"]["kafka"]["command"][-1]
    body = script.split("<<'EOF'\n", 1)[1].split("\nEOF\n", 1)[0]
    return dict(line.strip().split("=", 1) for line in body.splitlines() if line.strip())


def test_the_compose_broker_authenticates_clients_as_the_tested_loopback_broker_does(tmp_path: Path) -> None:
    """Clients reach only the SASL_PLAINTEXT listener, with the same mechanism and login module; the
    plaintext listeners are bound to the container's loopback."""
    properties = broker_properties()
    loopback = server_properties(BrokerLayout(tmp_path), 9092, 1)
    jaas = f"listener.name.sasl_plaintext.{SCRAM_MECHANISM.lower()}.sasl.jaas.config"
    assert properties["sasl.enabled.mechanisms"] == loopback["sasl.enabled.mechanisms"] == SCRAM_MECHANISM
    assert properties[jaas] == loopback[jaas]
    listeners = dict(item.split("://", 1) for item in properties["listeners"].split(","))
    protocols = dict(item.split(":", 1) for item in properties["listener.security.protocol.map"].split(","))
    exposed = [name for name, address in listeners.items() if not address.startswith("localhost:")]
    assert exposed == ["SASL_PLAINTEXT"]
    assert protocols["SASL_PLAINTEXT"] == "SASL_PLAINTEXT"
    script = compose()["services"]["kafka"]["command"][-1]
    assert f'--add-scram "{SCRAM_MECHANISM}=[name={SCRAM_USER},password=$$(cat /run/secrets/' in script


def test_compose_workers_log_in_with_scram_and_read_every_password_from_a_secret() -> None:
    """The worker's settings, read from the compose environment, name the broker's mechanism and user; its
    passwords come from secret files named after the settings' fields, never from the environment."""
    services = compose()["services"]
    env = services["worker"]["environment"]
    assert env["PLD_KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
    assert env["PLD_KAFKA_SASL_MECHANISM"] == SCRAM_MECHANISM
    assert env["PLD_KAFKA_SASL_USERNAME"] == SCRAM_USER
    assert not [name for name in env if "PASSWORD" in name]
    secrets = compose()["secrets"]
    assert secrets["pld_kafka_sasl_password"]["file"] == secrets["kafka_worker_password"]["file"]
    for secret in ("pld_kafka_sasl_password", "pld_redis_password"):
        assert secret in services["worker"]["secrets"]
        assert secret.removeprefix("pld_") in WorkerSettings.model_fields  # the secrets-dir file name
