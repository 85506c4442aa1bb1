"""`PolicyWatcher`: follows the registry's pointers and prepares the next `ServingPolicy` off the hot path.

Change notices arrive by Redis pub/sub; a poll of the deployment every `poll_s` is the safety net
(pub/sub drops notices while disconnected; the listener resubscribes after a reconnect). On a new
generation (never one lower than it applied: a replayed old deployment is refused) the watcher fetches
and verifies the deployment and its versions (sha256 and Ed25519 signatures), builds a student for each
new version in its own thread (restoring the prefix from the cache when it can), and stages the complete
policy; the agent takes it between two batches. Anything that fails leaves the serving policy intact: a
refused version is logged, counted and shown as `degraded`, and never built again.

The last good deployment and its versions are kept on disk as stored (signatures included) and verified
again on load, so a worker restarted while Redis is down still serves what it served before; with
neither, it serves the shipped default policy.
"""

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path

import structlog
from redis.exceptions import RedisError

from schemas import PromptVersion
from stream.errors import (
    EngineError,
    InferenceError,
    ModelFileError,
    ModelLoadError,
    PromptError,
    PromptSignatureError,
    PromptStoreError,
    StreamError,
)
from stream.health import Component, HealthFile, HealthStatus
from stream.metrics import WorkerMetrics
from stream.policy import Role, ServingPolicy
from stream.prompts.registry import Deployment, PromptRegistry, Snapshot
from stream.student import StudentModel

log = structlog.get_logger("stream.policy_watcher")
LISTEN_TIMEOUT_S = 1.0
RECONNECT_PAUSE_S = 1.0
BuildStudent = Callable[[PromptVersion], StudentModel]
REGISTRY = Component.REGISTRY


class BuildRefusedError(StreamError):
    """A deployed version this worker cannot build (its labels, its context size, its student): refused."""


class PolicyWatcher:
    """Holds the serving policy and the next one; watches the registry in a background thread."""

    def __init__(
        self,
        registry: PromptRegistry,
        build: BuildStudent,
        *,
        last_good_file: Path,
        default: PromptVersion,
        health: HealthFile,
        poll_s: float,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self._registry = registry
        self._build = build
        self._last_good_file = last_good_file
        self._default = default
        self._health = health
        self._poll_s = poll_s
        self._metrics = metrics or WorkerMetrics()
        self._closed = False
        self._lock = threading.Lock()
        self._pending: ServingPolicy | None = None
        self._retired: list[StudentModel] = []
        self._students: dict[str, StudentModel] = {}  # by prompt sha256, reused across generations
        self._refused: dict[str, str] = {}  # prompt sha256 -> why it cannot be built here: never rebuilt
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self.refused_versions = 0
        self._seen: Deployment | None = None  # the last deployment staged or refused: never tried twice
        self._refused_deployment: Deployment | None = None
        self._applied_generation = 0  # the highest generation served: an older signed one is never applied again
        self.current = self._initial()
        self._metrics.set_prompts(self.current.roles())

    def start(self) -> None:
        """Start listening for change notices and polling."""
        for target, name in ((self._listen, "policy-listen"), (self._poll, "policy-poll")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop the background threads (they are daemons: a stuck Redis call cannot hold the exit)."""
        self._stop.set()
        self._wake.set()

    def take(self) -> ServingPolicy:
        """The policy for the next batch: a staged one becomes current now, between two batches."""
        with self._lock:
            staged, self._pending = self._pending, None
        if staged is not None:
            # Between two batches (the agent calls this), so no batch is using a retired student.
            retired, self.current = self.current, staged
            self._metrics.set_prompts(staged.roles())
            self._close_unused(retired.students(), keep=staged.students())
            log.info("policy_swapped", generation=staged.generation, **_versions(staged))
        return self.current

    def refresh(self) -> None:
        """Read the deployment; when its generation is new, prepare and stage the policy it describes."""
        try:
            deployment = self._registry.deployment()
        except PromptStoreError as exc:
            self._metrics.registry_errors.inc()
            log.error("prompt_registry_unusable", error=str(exc))  # noqa: TRY400 - the reason is the message
            self._health.set(HealthStatus.DEGRADED, f"prompt registry unusable, serving last good: {exc}", REGISTRY)
            return
        if deployment == self._seen or deployment.production is None:
            self._registry_ok()
            return
        if deployment.generation <= self._applied_generation:
            self._refuse(
                deployment,
                PromptSignatureError(
                    f"generation {deployment.generation} is not newer than "
                    f"{self._applied_generation}: an old deployment replayed"
                ),
            )
            return
        try:
            versions = {name: self._registry.get(name) for name in deployment.versions()}
            policy = self._policy(deployment, versions)
        except (PromptSignatureError, BuildRefusedError) as exc:
            self._refuse(deployment, exc)
            return
        except (StreamError, EngineError, RedisError) as exc:  # the registry failed us: try again at the next poll
            self._metrics.registry_errors.inc()
            log.exception("policy_build_failed", generation=deployment.generation, error=repr(exc))
            self._health.set(HealthStatus.DEGRADED, f"prompt registry unusable, serving last good: {exc}", REGISTRY)
            return
        self._stage(policy)
        self._seen = deployment
        self._applied_generation = deployment.generation
        self._save_last_good(deployment)
        self._registry_ok()
        log.info("policy_staged", generation=deployment.generation, **_versions(policy))

    def _refuse(self, deployment: Deployment, exc: Exception) -> None:
        """A deployment this worker will not serve: remembered, so it is never fetched or built again."""
        self._seen = self._refused_deployment = deployment
        self.refused_versions += 1
        self._metrics.prompt_refused.inc()
        log.error("prompt_version_refused", error=str(exc), refused_total=self.refused_versions)
        self._health.set(HealthStatus.DEGRADED, f"deployment {deployment.generation} refused: {exc}", REGISTRY)

    def _stage(self, policy: ServingPolicy) -> None:
        """Stage `policy` for the next batch; a staged policy it replaces is closed where nothing else uses it."""
        with self._lock:
            replaced, self._pending = self._pending, policy
        if replaced is not None:
            self._close_unused(replaced.students(), keep=[*policy.students(), *self.current.students()])

    def _close_unused(self, students: list[StudentModel], keep: list[StudentModel]) -> None:
        unused = [s for s in students if all(s is not kept for kept in keep)]
        with self._lock:
            self._students = {sha: s for sha, s in self._students.items() if all(s is not u for u in unused)}
        for student in unused:
            student.close()

    def model_loaded(self) -> bool:
        """Whether the serving students are there to decide."""
        return not self._closed

    def close(self) -> None:
        """Close every student this watcher built."""
        self._closed = True
        self.stop()
        for student in self._students.values():
            student.close()
        self._students.clear()

    def _initial(self) -> ServingPolicy:
        """The deployment's policy; if the registry is unreachable, damaged or deploys what this worker cannot
        build, the last good policy from disk; failing that, the shipped default."""
        try:
            deployment = self._registry.deployment()
            if deployment.production is not None:
                versions = {name: self._registry.get(name) for name in deployment.versions()}
                policy = self._policy(deployment, versions)
                self._seen = deployment
                self._applied_generation = deployment.generation
                self._save_last_good(deployment)
                return policy
        except (PromptStoreError, BuildRefusedError) as exc:
            log.warning("prompt_registry_unusable_at_start", error=str(exc))
            saved = self._load_last_good()
            if saved is not None:
                with contextlib.suppress(BuildRefusedError):
                    policy = self._policy(*saved)
                    self._seen = saved[0]
                    self._applied_generation = saved[0].generation
                    self._health.set(HealthStatus.DEGRADED, f"serving last good from disk: {exc}", REGISTRY)
                    return policy
            self._health.set(HealthStatus.DEGRADED, f"serving the default policy: {exc}", REGISTRY)
        log.info("prompt_registry_empty_serving_default", version=self._default.version)
        return ServingPolicy(production=self._student(self._default), role=Role.DEFAULT, generation=0)

    def _policy(self, deployment: Deployment, versions: dict[str, PromptVersion]) -> ServingPolicy:
        assert deployment.production is not None
        return ServingPolicy(
            production=self._student(versions[deployment.production]),
            canary=self._student(versions[deployment.canary]) if deployment.canary else None,
            canary_share=deployment.canary_share,
            shadow=self._student(versions[deployment.shadow]) if deployment.shadow else None,
            generation=deployment.generation,
        )

    def _student(self, prompt: PromptVersion) -> StudentModel:
        with self._lock:
            existing = self._students.get(prompt.sha256)
        if existing is not None:
            return existing
        if prompt.sha256 in self._refused:
            raise BuildRefusedError(self._refused[prompt.sha256])
        try:
            student = self._build(prompt)  # slow: outside the lock, in the watcher's thread
        except (PromptError, ModelLoadError, ModelFileError, InferenceError) as exc:
            reason = f"version {prompt.version} cannot be built here: {exc}"
            self._refused[prompt.sha256] = reason
            raise BuildRefusedError(reason) from exc
        with self._lock:
            self._students[prompt.sha256] = student
        return student

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                pubsub = self._registry.client.pubsub()  # type: ignore[no-untyped-call,unused-ignore]  # typed from redis 8.2
                pubsub.subscribe(self._registry.keys.changes())
                self._wake.set()  # (re)subscribed: look once, notices may have been missed meanwhile
                while not self._stop.is_set():
                    if pubsub.get_message(ignore_subscribe_messages=True, timeout=LISTEN_TIMEOUT_S):
                        self._wake.set()
            except (RedisError, OSError) as exc:
                log.warning("policy_listener_reconnecting", error=repr(exc))
                self._stop.wait(RECONNECT_PAUSE_S)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._poll_s)
            self._wake.clear()
            if not self._stop.is_set():
                self.refresh()

    def _registry_ok(self) -> None:
        if self._seen is None or self._seen != self._refused_deployment:  # a refusal stays visible until replaced
            self._health.set(HealthStatus.OK, component=REGISTRY)

    def _save_last_good(self, deployment: Deployment) -> None:
        """Keep the deployment and its versions as stored, signatures included, for a start without Redis."""
        with contextlib.suppress(OSError, PromptStoreError):  # a fallback: failing to write it is not fatal
            text = self._registry.snapshot(deployment).to_json()
            self._last_good_file.parent.mkdir(parents=True, exist_ok=True)
            staging = self._last_good_file.with_suffix(f".tmp-{time.monotonic_ns()}")
            staging.write_text(text, encoding="utf-8")
            staging.replace(self._last_good_file)

    def _load_last_good(self) -> tuple[Deployment, dict[str, PromptVersion]] | None:
        """The saved deployment, verified exactly like one read from Redis (a tampered file is not served)."""
        try:
            return self._registry.restore(Snapshot.from_json(self._last_good_file.read_text(encoding="utf-8")))
        except OSError:
            return None
        except PromptStoreError as exc:
            log.error("last_good_refused", path=str(self._last_good_file), error=str(exc))  # noqa: TRY400
            return None


def _versions(policy: ServingPolicy) -> dict[str, object]:
    return {
        "production": policy.production.prompt.version,
        "canary": policy.canary.prompt.version if policy.canary else None,
        "canary_share": policy.canary_share,
        "shadow": policy.shadow.prompt.version if policy.shadow else None,
    }
