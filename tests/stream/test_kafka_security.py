"""Kafka SASL/TLS settings reach every client, and secrets never show in a repr or a log line."""

from pathlib import Path

import faust
import pytest
from pydantic import SecretStr

from ops.prompt_keys import ensure_local_prompt_keys
from stream.errors import PromptStoreError
from stream.kafka_security import KafkaSecurity, SaslMechanism, SecurityProtocol
from stream.settings import WorkerSettings

PASSWORD = "s3cret-kafka-password"


def test_sasl_scram_settings_become_client_options_and_faust_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """PLD_KAFKA_* variables give aiokafka's options and faust's credentials the same SCRAM login."""
    monkeypatch.setenv("PLD_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("PLD_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("PLD_KAFKA_SASL_USERNAME", "moderator")
    monkeypatch.setenv("PLD_KAFKA_SASL_PASSWORD", PASSWORD)
    monkeypatch.setenv("PLD_KAFKA_REPLICATION_FACTOR", "3")
    settings = WorkerSettings()
    options = settings.kafka_security.client_options()
    assert options == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "moderator",
        "sasl_plain_password": PASSWORD,
    }
    credentials = settings.kafka_security.faust_credentials()
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.username, credentials.mechanism.value) == ("moderator", "SCRAM-SHA-512")
    assert settings.kafka_replication_factor == 3
    assert PASSWORD not in repr(settings)
    assert PASSWORD not in settings.model_dump_json()


def test_tls_gives_an_ssl_context_and_plaintext_gives_none() -> None:
    """SSL/SASL_SSL build a verifying TLS context; PLAINTEXT needs no credentials."""
    secured = KafkaSecurity(
        protocol=SecurityProtocol.SASL_SSL,
        sasl_mechanism=SaslMechanism.PLAIN,
        sasl_username="u",
        sasl_password=SecretStr("p"),
    )
    context = secured.client_options()["ssl_context"]
    assert context.check_hostname
    assert isinstance(secured.faust_credentials(), faust.SASLCredentials)
    assert isinstance(KafkaSecurity(protocol=SecurityProtocol.SSL).faust_credentials(), faust.SSLCredentials)
    assert KafkaSecurity().faust_credentials() is None
    assert KafkaSecurity().client_options() == {"security_protocol": "PLAINTEXT"}


def test_redis_and_signing_secrets_stay_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The Redis password is a SecretStr and the signing key a file: neither shows wherever settings are shown."""
    private, _public = ensure_local_prompt_keys(tmp_path / "keys")
    monkeypatch.setenv("PLD_REDIS_PASSWORD", "redis-pass-123")
    monkeypatch.setenv("PLD_PROMPT_PRIVATE_KEY", str(private))
    settings = WorkerSettings()
    shown = repr(settings) + settings.model_dump_json() + repr(settings.publisher_trust)
    assert "redis-pass-123" not in shown
    assert "PRIVATE KEY" not in shown
    assert settings.publisher_trust.signer is not None
    assert settings.trust.signer is None  # a worker's trust never holds the private key


def test_an_empty_or_foreign_key_file_is_a_start_up_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A public key that is set but empty (or not Ed25519) stops the worker with a clear error."""
    empty = tmp_path / "empty.pem"
    empty.write_text("", encoding="utf-8")
    monkeypatch.setenv("PLD_PROMPT_PUBLIC_KEY", str(empty))
    with pytest.raises(PromptStoreError, match="cannot read the prompt public key"):
        _ = WorkerSettings().trust
