"""llama.cpp's own HTTP server, built from the llama.cpp our wheel vendors, for `pld bench peers`.

The pinned llama-cpp-python sdist carries llama.cpp (``vendor/llama.cpp``, ``tools/server``): the same
commit as our wheel. This compiles its ``llama-server`` target with the same CPU options as the wheel
(``ops/llama_build.py``: no native flags, no AMX), no Web UI download, no curl, no OpenSSL, so the peer
benchmark compares servers, not builds. Stdlib only, like ``llama_build.py``:

    python3 ops/llama_server.py build     # compile once (~10 min on 2 cores), print the binary's path
    python3 ops/llama_server.py show      # where it is (or would be) and the CMake arguments
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

if __package__ in {None, ""}:  # run as a script: python3 ops/llama_server.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ops.llama_build import CHOSEN_VARIANT, LLAMA_CPP_PYTHON_VERSION, VARIANT_ENV, VARIANTS, cache_root

DEFAULT_INDEX = "https://pypi.org/simple"
INDEX_TIMEOUT_S = 120

SERVER_OPTIONS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",  # it would fetch the Web UI from a model hub at build time
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_OPENSSL=OFF",
)
BINARY = "llama-server"


def server_args(variant: str) -> tuple[str, ...]:
    """Every CMake argument of the server build of ``variant``: the wheel's CPU options, then the server's."""
    return (*VARIANTS[variant], *SERVER_OPTIONS)


def server_dir(variant: str) -> Path:
    """The folder of the built server of ``variant`` (absent until built)."""
    material = json.dumps([LLAMA_CPP_PYTHON_VERSION, variant, server_args(variant)])
    key = hashlib.sha256(material.encode()).hexdigest()[:16]
    return cache_root() / "llama-server" / f"{LLAMA_CPP_PYTHON_VERSION}-{variant}-{key}"


def built_server(variant: str) -> Path | None:
    """The server binary of ``variant`` if it was built already."""
    binary = server_dir(variant) / BINARY
    return binary if binary.is_file() else None


def build_server(variant: str, jobs: int | None = None) -> Path:
    """Compile ``llama-server`` of ``variant`` once and return its path."""
    existing = built_server(variant)
    if existing:
        return existing
    target = server_dir(variant)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as staging:
        source = _vendored_llama_cpp(Path(staging))
        build = Path(staging) / "build"
        print(f"compiling llama-server ({variant}): {' '.join(server_args(variant))}", flush=True)
        subprocess.run(["cmake", "-S", str(source), "-B", str(build), *server_args(variant)], check=True)
        parallel = str(jobs or os.cpu_count() or 1)
        subprocess.run(["cmake", "--build", str(build), "--target", BINARY, "-j", parallel], check=True)
        done = Path(staging) / "done"
        done.mkdir()
        shutil.copy2(build / "bin" / BINARY, done / BINARY)
        shutil.rmtree(target, ignore_errors=True)
        done.rename(target)  # whole or absent: an interrupted build leaves no half binary
    return target / BINARY


def _vendored_llama_cpp(staging: Path) -> Path:
    """The llama.cpp sources inside the pinned llama-cpp-python sdist (fetched from the package index into
    ``staging``, its sha256 checked against the index's)."""
    name = f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}.tar.gz"
    url, sha256 = _sdist_location(name)
    archive = staging / name
    with urllib.request.urlopen(url, timeout=INDEX_TIMEOUT_S) as reply, archive.open("wb") as out:  # noqa: S310 - the index's https URL
        shutil.copyfileobj(reply, out)
    if hashlib.sha256(archive.read_bytes()).hexdigest() != sha256:
        raise RuntimeError(f"{name}: sha256 differs from the index's {sha256}")
    with tarfile.open(archive) as sdist:
        sdist.extractall(staging, filter="data")
    return staging / f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}" / "vendor" / "llama.cpp"


def _sdist_location(name: str) -> tuple[str, str]:
    """The sdist's URL and sha256 from the simple index's JSON page (PEP 691), `PIP_INDEX_URL` or PyPI.

    Not `pip download`: it would prepare the sdist's metadata, building its build dependencies (CMake
    among them) from source first, which takes longer than compiling the server."""
    index = os.environ.get("PIP_INDEX_URL", DEFAULT_INDEX).rstrip("/")
    request = urllib.request.Request(  # noqa: S310 - an https index URL
        f"{index}/llama-cpp-python/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(request, timeout=INDEX_TIMEOUT_S) as reply:  # noqa: S310
        files = json.load(reply)["files"]
    for entry in files:
        if entry["filename"] == name:
            return urllib.parse.urljoin(f"{index}/llama-cpp-python/", entry["url"]), entry["hashes"]["sha256"]
    raise RuntimeError(f"{name} is not on {index}")


def _main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["build", "show"])
    parser.add_argument("--variant", default=os.environ.get(VARIANT_ENV, CHOSEN_VARIANT), choices=sorted(VARIANTS))
    args = parser.parse_args()
    if args.command == "show":
        built = built_server(args.variant) is not None
        info = {"variant": args.variant, "dir": str(server_dir(args.variant)), "built": built}
        print(json.dumps({**info, "cmake_args": list(server_args(args.variant))}))
    else:
        print(build_server(args.variant))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
