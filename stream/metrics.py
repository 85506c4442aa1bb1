"""Prometheus metrics of a worker, and the HTTP endpoint that serves them with a health check.

`GET /metrics` is the Prometheus text format. Three JSON checks answer 200 or 503:
- `/livez` (liveness, for a restart policy): the process and its agent are alive and the stream is
  not stuck (the progress watchdog is not red). A Redis or Kafka outage does not fail it.
- `/readyz` (readiness, for a load balancer or a rollout): Kafka, Redis and the student answer.
- `/health`: both together, the worker's own state included (breaker open, retries exhausted).
Kafka is probed with an ApiVersions request to the bootstrap brokers (`stream.kafka_probe`), Redis with
PING, every `PROBE_S`. The server binds to `PLD_METRICS_HOST` (loopback unless told otherwise).
Grafana: `ops/grafana/pld-moderation.json`.
"""

import json
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from stream.health import HEALTHY, Component, HealthFile, HealthStatus
from stream.kafka_probe import broker_answers

PROBE_S = 10.0
PROBE_TIMEOUT_S = 2.0
HTTP_TIMEOUT_S = 5.0
HTTP_OK = 200
HTTP_UNAVAILABLE = 503
HTTP_NOT_FOUND = 404
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


class WorkerMetrics:
    """Every metric a worker exports, on a registry of its own (tests make as many as they like)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("pld_requests", "Records consumed from the requests topic", registry=r)
        self.decisions = Counter(
            "pld_decisions",
            "Decisions published",
            ["label", "category", "prompt_version", "served_as"],
            registry=r,
        )
        self.decisions_by_model = Counter(
            "pld_decisions_by_model",
            "Decisions per model file that made them (a cascade's fast or strong)",
            ["model"],
            registry=r,
        )
        self.dead_letters = Counter("pld_dead_letters", "Dead letters published", ["reason"], registry=r)
        self.shadow_disagreements = Counter(
            "pld_shadow_disagreements", "Requests on which the shadow version disagreed", registry=r
        )
        self.instruction_fires = Counter(
            "pld_instruction_fires", "Decisions citing an instruction", ["instruction_id", "prompt_version"], registry=r
        )
        self.batch_size = Histogram("pld_batch_size", "Records per batch", buckets=BATCH_BUCKETS, registry=r)
        self.stage_seconds = Histogram(
            "pld_stage_seconds", "Time per batch stage", ["stage"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.end_to_end_seconds = Histogram(
            "pld_request_latency_seconds", "From a request's created_at to its decision", buckets=LATENCY_BUCKETS,
            registry=r,
        )  # fmt: skip
        self.consumer_lag = Gauge("pld_consumer_lag", "Records behind the partition's end", ["partition"], registry=r)
        self.prompt_info = Gauge(
            "pld_prompt_version_info", "The versions serving now (1)", ["role", "version", "sha256"], registry=r
        )
        self.batch_retries = Counter("pld_batch_retries", "Batches retried after a failure", registry=r)
        self.inference_failures = Counter(
            "pld_inference_failures", "Messages the model failed on, by the role that failed", ["role"], registry=r
        )
        self.shadow_skipped = Counter("pld_shadow_skipped", "Shadow comparisons skipped (over budget)", registry=r)
        self.model_timeouts = Counter("pld_model_timeouts", "Model calls past PLD_MODEL_TIMEOUT_S", registry=r)
        self.metrics_errors = Counter("pld_metrics_errors", "Published batches whose metrics failed", registry=r)
        self.circuit_open = Gauge("pld_circuit_open", "1 while the circuit breaker holds a batch", registry=r)
        self.registry_errors = Counter("pld_registry_errors", "Registry reads that failed or held garbage", registry=r)
        self.prompt_refused = Counter("pld_prompt_versions_refused", "Versions refused (signature)", registry=r)

    def set_prompts(self, versions: dict[str, tuple[str, str]]) -> None:
        """The serving versions by role (role -> (version, sha256)), replacing the previous ones."""
        self.prompt_info.clear()
        for role, (version, sha256) in versions.items():
            self.prompt_info.labels(role=role, version=version, sha256=sha256[:12]).set(1)

    def exposition(self) -> bytes:
        """The Prometheus text format."""
        return generate_latest(self.registry)


class Probes:
    """Whether Kafka and Redis answered the last probe; probed in a background thread."""

    def __init__(
        self, kafka_bootstrap: str, redis_ping: Callable[[], object], kafka_tls: ssl.SSLContext | None = None
    ) -> None:
        self._kafka = kafka_bootstrap
        self._kafka_tls = kafka_tls
        self._redis_ping = redis_ping
        self.kafka_ok = True
        self.redis_ok = True
        self._stop = threading.Event()

    def start(self) -> None:
        """Probe now and then every PROBE_S."""
        threading.Thread(target=self._loop, name="health-probes", daemon=True).start()

    def stop(self) -> None:
        """Stop probing."""
        self._stop.set()

    def probe(self) -> None:
        """Probe Kafka (a broker of the bootstrap list answers ApiVersions) and Redis (PING) once."""
        self.kafka_ok = broker_answers(self._kafka, PROBE_TIMEOUT_S, self._kafka_tls)
        try:
            self._redis_ping()
            self.redis_ok = True
        except Exception:
            self.redis_ok = False

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.probe()
            self._stop.wait(PROBE_S)


def health_report(health: HealthFile, probes: Probes, model_loaded: Callable[[], bool]) -> tuple[int, dict[str, Any]]:
    """`/health`: the worker's own state and every dependency together (503 when any is wrong)."""
    checks = {"model": model_loaded(), "kafka": probes.kafka_ok, "redis": probes.redis_ok}
    healthy = health.status in HEALTHY and all(checks.values())
    body = {"healthy": healthy, "status": health.status.value, "reason": health.reason, "checks": checks}
    return (HTTP_OK if healthy else HTTP_UNAVAILABLE), body


def liveness_report(health: HealthFile) -> tuple[int, dict[str, Any]]:
    """`/livez`: the process and its agent are alive and the stream moves (or has nothing to do). A
    dependency's outage is not a reason to restart: it would restart the whole fleet at once."""
    status = health.status
    alive = status is not HealthStatus.STOPPED and health.state_of(Component.PROGRESS) is not HealthStatus.UNHEALTHY
    body = {"alive": alive, "status": status.value, "reason": health.reason}
    return (HTTP_OK if alive else HTTP_UNAVAILABLE), body


def readiness_report(
    health: HealthFile, probes: Probes, model_loaded: Callable[[], bool]
) -> tuple[int, dict[str, Any]]:
    """`/readyz`: Kafka, Redis and the student answer, and the worker is neither starting nor stopped."""
    checks = {"model": model_loaded(), "kafka": probes.kafka_ok, "redis": probes.redis_ok}
    ready = health.status not in {HealthStatus.STARTING, HealthStatus.STOPPED} and all(checks.values())
    body = {"ready": ready, "status": health.status.value, "checks": checks}
    return (HTTP_OK if ready else HTTP_UNAVAILABLE), body


Report = Callable[[], tuple[int, dict[str, Any]]]


def serve(host: str, port: int, metrics: WorkerMetrics, reports: dict[str, Report]) -> ThreadingHTTPServer:
    """Serve `/metrics` and each report's path (`/health`, `/livez`, `/readyz`) on `host:port` in a daemon
    thread, with socket timeouts so a slow client cannot hold a handler; return the server."""

    class Handler(BaseHTTPRequestHandler):
        timeout = HTTP_TIMEOUT_S

        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._send(HTTP_OK, metrics.exposition(), CONTENT_TYPE_LATEST)
            elif self.path in reports:
                status, body = reports[self.path]()
                self._send(status, json.dumps(body).encode(), "application/json")
            else:
                self._send(HTTP_NOT_FOUND, b"not found\n", "text/plain")

        def _send(self, status: int, payload: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_args: object) -> None:  # scrapes every 15 s would flood the JSON log
            return

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server
