"""Run a Redis server on loopback from the system's ``redis-server``, installing it if allowed."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis
from redis.exceptions import RedisError

from ops import ServiceStartError, paths, process
from ops.prompt_keys import ensure_local_prompt_keys

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "DEFAULT_PORT",
    "PORT_ENV",
    "WORKER_USER",
    "configured_redis_port",
    "ensure_redis",
    "local_password",
    "redis_answers",
    "redis_pid",
    "redis_url",
    "stop_redis",
]

DEFAULT_PORT = 6379
PORT_ENV = "PLD_REDIS_PORT"
PASSWORD_ENV = "PLD_REDIS_PASSWORD"  # noqa: S105 - the variable's name, not a secret
LOOPBACK = "127.0.0.1"
DATABASE = 0
START_TIMEOUT_S = 30.0
PING_TIMEOUT_S = 2.0
LAUNCH_TIMEOUT_S = 30.0
APT_TIMEOUT_S = 900.0
LOG_TAIL_LINES = 40
SERVER_BINARY = "redis-server"
APT_PACKAGE = "redis-server"
ROOT_UID = 0
SECRET_FILE_MODE = 0o600
PASSWORD_BYTES = 24
WORKER_USER = "pld-worker"  # the ACL user workers log in as: reads and subscriptions only
WORKER_COMMANDS = "+@read +@connection +subscribe +unsubscribe +psubscribe +punsubscribe -keys -scan"


@dataclass(frozen=True)
class RedisLayout:
    """Paths of one Redis server's state folder (also its working dir, where dumps go)."""

    state_dir: Path

    @property
    def pid_file(self) -> Path:
        """Written by redis-server itself once daemonized; removed on clean shutdown."""
        return self.state_dir / "redis.pid"

    @property
    def log_file(self) -> Path:
        """The server log."""
        return self.state_dir / "redis.log"

    @property
    def config_file(self) -> Path:
        """The server's config: holds its password, so only its owner may read it."""
        return self.state_dir / "redis.conf"

    @property
    def lock_file(self) -> Path:
        """Serialises concurrent ``ensure_redis``/``stop_redis`` calls for this server."""
        return self.state_dir / ".lock"


def configured_redis_port() -> int:
    """Return the Redis port: ``$PLD_REDIS_PORT`` or 6379."""
    return int(os.environ.get(PORT_ENV, DEFAULT_PORT))


def redis_url(port: int = DEFAULT_PORT) -> str:
    """Return the URL of database 0 on the loopback server at ``port``."""
    return f"redis://{LOOPBACK}:{port}/{DATABASE}"


def local_password() -> str:
    """Return the password of the Redis servers ``ops`` starts, made once and kept in the cache dir (0600).

    Workers, CLI tools and tests on this machine read the same file (`WorkerSettings.redis_password`
    falls back to it for a loopback URL), so nobody has to pass it around. `PLD_REDIS_PASSWORD`, when set,
    is the password instead, for the servers and for every client alike."""
    chosen = os.environ.get(PASSWORD_ENV)
    if chosen:
        return chosen
    path = paths.redis_password_file()
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_secret(path.with_name(f".password-{uuid.uuid4().hex}"), secrets.token_urlsafe(PASSWORD_BYTES), path)
    return path.read_text(encoding="utf-8").strip()


def _write_secret(staging: Path, secret: str, final: Path) -> None:
    """Write `secret` owner-only and link it into place; the first writer wins, readers never see half."""
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET_FILE_MODE)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    try:
        os.link(staging, final)
    except FileExistsError:
        pass  # another process made it first: use theirs
    finally:
        staging.unlink()


def redis_answers(url: str, timeout_s: float = PING_TIMEOUT_S) -> bool:
    """Return whether the server at ``url`` answers PING (authenticated with the local password)."""
    return _pings(url, local_password(), timeout_s)


def _pings(url: str, password: str | None, timeout_s: float = PING_TIMEOUT_S) -> bool:
    client = redis.Redis.from_url(url, password=password, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    try:
        return bool(client.ping())
    except RedisError:
        return False
    finally:
        client.close()


def redis_pid(port: int = DEFAULT_PORT) -> int | None:
    """Return the pid of the server ops started on ``port``, or None if none runs."""
    return process.live_pid(RedisLayout(paths.redis_state_dir(port)).pid_file, SERVER_BINARY)


def ensure_redis(port: int = DEFAULT_PORT, *, timeout_s: float = START_TIMEOUT_S) -> str:
    """Make sure a Redis server answers on ``127.0.0.1:port`` and return its URL.

    Reuses any server already answering there; otherwise starts ``redis-server``
    daemonized with its dir, pid file and log in the state folder (installing the
    package with apt first when it is missing and we are root).
    """
    url = redis_url(port)
    ensure_local_prompt_keys()  # the loopback registry is signed like production's
    if redis_answers(url):
        return url
    if _pings(url, password=None):
        msg = (
            f"a Redis without a password answers on {url} (started by an earlier version of ops?): "
            f"stop it (python -m ops.services stop) and start again, so it requires the local password"
        )
        raise ServiceStartError(msg)
    layout = RedisLayout(paths.redis_state_dir(port))
    with process.exclusive(layout.lock_file):
        if redis_answers(url):
            return url
        _launch(_server_binary(), layout, port)
        if not process.wait_for(lambda: redis_answers(url), timeout_s):
            msg = f"Redis on {url} did not answer PING within {timeout_s:.0f}s.\n"
            msg += f"--- {layout.log_file} ---\n{process.tail(layout.log_file, LOG_TAIL_LINES)}"
            raise ServiceStartError(msg)
    return url


def stop_redis(port: int = DEFAULT_PORT) -> bool:
    """Stop the server ops started on ``port`` (never a foreign one); return whether one ran."""
    layout = RedisLayout(paths.redis_state_dir(port))
    if not layout.state_dir.is_dir():
        return False
    with process.exclusive(layout.lock_file):
        pid = redis_pid(port)
        if pid is not None:
            process.terminate(pid)
        layout.pid_file.unlink(missing_ok=True)
    return pid is not None


def _server_binary() -> str:
    """Return the path of ``redis-server``, installing it with apt when missing and root."""
    found = shutil.which(SERVER_BINARY)
    if found is not None:
        return found
    if os.geteuid() != ROOT_UID:
        msg = f"{SERVER_BINARY} is not on PATH; install it (e.g. sudo apt-get install -y {APT_PACKAGE})"
        raise ServiceStartError(msg)
    _apt_install(APT_PACKAGE)
    found = shutil.which(SERVER_BINARY)
    if found is None:
        msg = f"apt installed {APT_PACKAGE} but {SERVER_BINARY} is still not on PATH"
        raise ServiceStartError(msg)
    return found


def _apt_install(package: str) -> None:
    """Install one Debian package non-interactively."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update"], ["apt-get", "install", "-y", package]):
        try:
            subprocess.run(argv, check=True, capture_output=True, text=True, env=env, timeout=APT_TIMEOUT_S)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            msg = f"Installing {package} failed at {' '.join(argv)!r}: {exc}"
            raise ServiceStartError(msg) from exc


def server_config(password: str) -> str:
    """The config of a loopback server: the default user (ops, tests, `pld prompt`) needs the password, and
    `WORKER_USER` may only read and subscribe (ACL), so a worker's credentials cannot steer the registry."""
    worker = f"user {WORKER_USER} on >{password} resetkeys ~pld:* resetchannels &pld:* -@all {WORKER_COMMANDS}"
    return f"requirepass {password}\n{worker}"


def _launch(binary: str, layout: RedisLayout, port: int) -> None:
    """Start ``redis-server`` daemonized on loopback with its files in the state folder, password required
    (from a config file, so the password never shows in the process list)."""
    layout.state_dir.mkdir(parents=True, exist_ok=True)
    layout.config_file.unlink(missing_ok=True)
    staging = layout.state_dir / f".redis-conf-{uuid.uuid4().hex}"
    _write_secret(staging, server_config(local_password()), layout.config_file)
    argv = [
        binary, str(layout.config_file), "--bind", LOOPBACK, "--port", str(port), "--daemonize", "yes",
        "--dir", str(layout.state_dir), "--pidfile", str(layout.pid_file),
        "--logfile", str(layout.log_file),
    ]  # fmt: skip
    try:
        subprocess.run(argv, check=True, capture_output=True, text=True, timeout=LAUNCH_TIMEOUT_S)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        msg = f"{binary} refused to start on port {port}: {exc}\n{process.tail(layout.log_file)}"
        raise ServiceStartError(msg) from exc
