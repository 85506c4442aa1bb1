"""`WorkerSettings`: the one frozen settings object of a worker process, read from `PLD_*` variables."""

import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, PositiveFloat, PositiveInt, SecretStr

from stream.kafka_security import KafkaSecurity, SaslMechanism, SecurityProtocol
from stream.prompts.gate import GatePolicy
from stream.prompts.registry import Trust
from stream.prompts.signing import PromptSigner, PromptVerifier
from stream.student import APP_NAME, ENV_PREFIX, StudentSettings

__all__ = ["APP_NAME", "ENV_PREFIX", "HEALTH_DIR", "WorkerSettings"]
HEALTH_DIR = "health"
LOCAL_REDIS_PASSWORD_FILE = ("redis", "password")  # under the cache dir; written by `ops` when it starts Redis
LOCAL_PROMPT_KEYS_DIR = ("prompt-keys",)  # under the cache dir; `ops` writes a key pair there for loopback use
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _local_redis_password(fields: dict[str, Any]) -> SecretStr | None:
    """For a loopback Redis, the password `ops` gave the servers it starts (if it started one)."""
    if urlsplit(fields["redis_url"]).hostname not in LOOPBACK_HOSTS:
        return None
    path = Path(fields["cache_dir"]).joinpath(*LOCAL_REDIS_PASSWORD_FILE)
    try:
        return SecretStr(path.read_text(encoding="utf-8").strip())
    except OSError:
        return None


def _local_key(name: str) -> Callable[[dict[str, Any]], Path | None]:
    """For a loopback Redis, the prompt key `ops` made for the servers it starts (if it made one)."""

    def default(fields: dict[str, Any]) -> Path | None:
        if urlsplit(fields["redis_url"]).hostname not in LOOPBACK_HOSTS:
            return None
        path = Path(fields["cache_dir"]).joinpath(*LOCAL_PROMPT_KEYS_DIR, name)
        return path if path.exists() else None

    return default


def _default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class WorkerSettings(StudentSettings):
    """Everything a worker needs to know (the student's settings and the streaming ones); each field is
    also the env var `PLD_<NAME>`."""

    kafka_bootstrap: str = "127.0.0.1:9092"
    """Kafka bootstrap servers, `host:port[,host:port...]`."""
    kafka_security_protocol: SecurityProtocol = SecurityProtocol.PLAINTEXT
    """`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`."""
    kafka_sasl_mechanism: SaslMechanism = SaslMechanism.PLAIN
    """`PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`."""
    kafka_sasl_username: str | None = None
    """The SASL login."""
    kafka_sasl_password: SecretStr | None = None
    """The SASL password (a secret: also read from the file `pld_kafka_sasl_password` in PLD_SECRETS_DIR)."""
    kafka_ssl_cafile: Path | None = None
    """CA bundle that signs the brokers' certificates."""
    kafka_ssl_certfile: Path | None = None
    """A client certificate, for mutual TLS."""
    kafka_ssl_keyfile: Path | None = None
    """The client certificate's private key, for mutual TLS."""
    kafka_replication_factor: PositiveInt = 1
    """Replication of the topics the worker creates; 3 on a real cluster."""
    redis_url: str = "redis://127.0.0.1:6379/0"
    """The prompt registry's Redis (`rediss://` for TLS); never in the decision path."""
    redis_password: SecretStr | None = Field(default_factory=_local_redis_password)
    """Kept out of the URL, so it never shows in a log line (a secret); unset on loopback: the one `ops` made."""
    redis_username: str | None = None
    """A Redis ACL user; workers need only read and subscribe (`ops` and compose: `pld-worker`)."""
    redis_ssl_ca_file: Path | None = None
    """CA bundle for a `rediss://` Redis."""
    app_id: str = APP_NAME
    """The consumer group and the registry namespace: workers with one app id share the load and the policy."""
    requests_topic: str = "moderation.requests"
    """Where moderation requests are read from."""
    decisions_topic: str = "moderation.decisions"
    """Where decisions are published."""
    dlq_topic: str = "moderation.dlq"
    """Where dead letters (a rejected record, its reason and its original bytes) are published."""
    shadow_topic: str = "moderation.shadow"
    """Where the shadow version's disagreements with production are published."""
    topic_partitions: PositiveInt = 4
    """Partitions of the topics the worker creates: up to this many workers of one group share the requests."""
    max_batch: PositiveInt = Field(default=16, le=64)
    """Most requests decided in one batch (at most 64)."""
    batch_within_s: PositiveFloat = 0.5
    """Longest wait to fill a batch before deciding what has arrived."""
    worker_id: str = Field(default_factory=_default_worker_id)
    """This worker's name in decisions, logs and its health file (default: host-pid; with several processes,
    `<id>-<n>` each)."""
    worker_processes: int = Field(default=0, ge=0, le=256)
    """Decoding processes `pld worker` runs on this machine, one consumer each; 0: one per core, at most one per
    partition and as many as memory holds. Their threads are the cores shared out, unless PLD_N_THREADS is set."""
    prompt_file: Path | None = None
    """Pin this worker to one prompt version file, outside the registry."""
    prompt_public_key: Path | None = Field(default_factory=_local_key("public.pem"))
    """Ed25519 public key (PEM) that verifies prompt versions and deployments; on loopback: the one `ops` made."""
    prompt_private_key: Path | None = Field(default_factory=_local_key("private.pem"))
    """Ed25519 private key (PEM) that `pld prompt` signs with; workers never load it."""
    allow_unsigned_prompts: bool = False
    """Accept unsigned versions and deployments (experiments only)."""
    prompt_poll_s: PositiveFloat = 5.0
    """How often the registry is polled, besides its pub/sub notices."""
    redis_timeout_s: PositiveFloat = 2.0
    """Connect and read timeout of every Redis call."""
    max_message_bytes: PositiveInt = 64 * 1024
    """Largest request accepted; a bigger record is dead-lettered (`too_large`)."""
    log_level: str = "INFO"
    """Log level: DEBUG, INFO, WARNING, ERROR."""
    breaker_threshold: PositiveInt = 20
    """Consecutive inference failures that open the circuit breaker."""
    breaker_cooldown_s: PositiveFloat = 30.0
    """How long an open breaker holds its batch before it probes the model again."""
    stop_deadline_s: PositiveFloat = 25.0
    """After SIGTERM, exit by force when a clean stop takes longer."""
    health_file: Path | None = None
    """Where the worker writes its health (default: `<cache_dir>/health/<app_id>.<worker_id>.json`)."""
    metrics_port: int = Field(default=9464, ge=0, le=65535)
    """Port of `/metrics`, `/health`, `/livez` and `/readyz`; 0 turns them off."""
    metrics_host: str = "127.0.0.1"
    """Address the metrics server binds; `0.0.0.0` to be scraped from outside the host (a container)."""
    progress_timeout_s: PositiveFloat = 120.0
    """A batch held this long (or requests waiting while none completes) turns health red."""
    model_timeout_s: PositiveFloat = 60.0
    """A model call longer than this counts as an inference failure."""
    publish_timeout_s: PositiveFloat = 30.0
    """The broker must acknowledge a batch's outputs within this."""
    retries_before_unhealthy: PositiveInt = 5
    """Failed attempts of one batch after which health turns red."""
    shadow_sample_percent: float = Field(default=100.0, ge=0.0, le=100.0)
    """Share of decisions the shadow re-scores (by request-id hash)."""
    shadow_budget_s: PositiveFloat = 10.0
    """Longest shadow comparison of one batch; past it the comparison is skipped (production never waits)."""
    promotion_dataset: str | None = None
    """The promotion gate's reference set (`pld prompt promote`); unset: every dataset both were evaluated on."""
    promotion_margin: float = Field(default=0.02, ge=0.0, le=1.0)
    """How far a canary's macro-F1 may fall below production's before `pld prompt promote` refuses it."""
    promotion_recall_drops: dict[str, float] = Field(default_factory=dict)
    """Per label, how far its recall may fall at a promotion, as JSON: `{"block": 0.0}` (block may not drop)."""
    canary_min_decisions: PositiveInt = 50
    """`pld prompt guard`: canary (and production) decisions it counts before it may take the canary down."""
    canary_max_label_shift: float = Field(default=0.2, gt=0.0, le=1.0)
    """`pld prompt guard`: largest difference of a label's share, canary against production, it tolerates."""

    @property
    def kafka_security(self) -> KafkaSecurity:
        """The Kafka connection security these settings describe."""
        return KafkaSecurity(
            protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            sasl_username=self.kafka_sasl_username,
            sasl_password=self.kafka_sasl_password,
            ssl_cafile=self.kafka_ssl_cafile,
            ssl_certfile=self.kafka_ssl_certfile,
            ssl_keyfile=self.kafka_ssl_keyfile,
        )

    @property
    def resolved_health_file(self) -> Path:
        """Where this worker writes its health (`pld health` reads it)."""
        return self.health_file or self.cache_dir / HEALTH_DIR / f"{self.app_id}.{self.worker_id}.json"

    @property
    def promotion_gate(self) -> GatePolicy:
        """What `pld prompt promote` must not make worse."""
        return GatePolicy(self.promotion_dataset, self.promotion_margin, dict(self.promotion_recall_drops))

    @property
    def trust(self) -> Trust:
        """What a worker believes: the public key only (it never loads the private one, so it cannot sign).
        A key file that is set but unreadable, empty or not Ed25519 is a PromptStoreError."""
        verifier = PromptVerifier.from_file(self.prompt_public_key) if self.prompt_public_key else None
        return Trust(None, verifier, self.allow_unsigned_prompts)

    @property
    def publisher_trust(self) -> Trust:
        """What `pld prompt` signs with: the private key (it verifies with the key's own public half)."""
        if self.prompt_private_key is None:
            return self.trust  # reads still work; a write says which key is missing
        signer = PromptSigner.from_file(self.prompt_private_key)
        return Trust(signer, signer.verifier, self.allow_unsigned_prompts)
