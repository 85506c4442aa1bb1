"""Resolve the runtime jars of a pom into a folder with Maven, once per pom content."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from ops import ServiceStartError

if TYPE_CHECKING:
    from pathlib import Path

MAVEN_TIMEOUT_S = 1800.0
COMPLETE_MARKER = ".complete"
PARTIAL_SUFFIX = ".partial"
OUTPUT_TAIL_CHARS = 4000
POM_NAMESPACE = {"m": "http://maven.apache.org/POM/4.0.0"}


def pom_property(pom: Path, name: str) -> str:
    """Return the value of ``<properties><name>`` in ``pom``."""
    node = ET.parse(pom).find(f"m:properties/m:{name}", POM_NAMESPACE)  # noqa: S314 - our own pom
    if node is None or not node.text:
        msg = f"{pom} defines no property {name!r}"
        raise ServiceStartError(msg)
    return node.text.strip()


def ensure_runtime_jars(pom: Path, target: Path) -> Path:
    """Copy the runtime dependencies of ``pom`` into ``target`` unless already done.

    Resolves into a sibling staging folder and swaps it in only on success, so an
    interrupted download never leaves a half-filled ``target``. The marker holds a hash
    of the pom: editing the pom triggers a fresh resolution.
    """
    fingerprint = hashlib.sha256(pom.read_bytes()).hexdigest()
    marker = target / COMPLETE_MARKER
    if marker.is_file() and marker.read_text(encoding="ascii").strip() == fingerprint:
        return target
    staging = target.with_name(target.name + PARTIAL_SUFFIX)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    _copy_dependencies(pom, staging)
    (staging / COMPLETE_MARKER).write_text(f"{fingerprint}\n", encoding="ascii")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def _copy_dependencies(pom: Path, output_dir: Path) -> None:
    """Run ``mvn dependency:copy-dependencies`` for the runtime scope into ``output_dir``."""
    mvn = shutil.which("mvn")
    if mvn is None:
        msg = "Maven (mvn) is not on PATH; install it (e.g. apt-get install maven) to fetch Kafka"
        raise ServiceStartError(msg)
    argv = [
        mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
        f"-DoutputDirectory={output_dir}", "-DincludeScope=runtime",
    ]  # fmt: skip
    try:
        subprocess.run(argv, check=True, capture_output=True, text=True, timeout=MAVEN_TIMEOUT_S)
    except subprocess.CalledProcessError as exc:
        output = (exc.stdout or "") + (exc.stderr or "")
        msg = f"Maven could not resolve {pom}:\n{output[-OUTPUT_TAIL_CHARS:]}"
        raise ServiceStartError(msg) from exc
    except subprocess.TimeoutExpired as exc:
        msg = f"Maven did not finish resolving {pom} within {MAVEN_TIMEOUT_S:.0f}s"
        raise ServiceStartError(msg) from exc
