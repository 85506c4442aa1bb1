"""The one llama-cpp-python build of this project: its version, CPU variants and chosen variant.

llama-cpp-python ships no wheel on PyPI, so pip compiles it, by default with ``-march=native``.
A native wheel built on one machine crashes on another (an AVX-512 build on an AVX2-only CPU:
SIGILL), and on Sapphire Rapids-class CPUs the native build turns on llama.cpp's AMX path, which
segfaults in the first decode of Gemma's repacked Q4_K weights (llama.cpp #20824). So every
install compiles with explicit CMake options, never the native set and never AMX.

Bootstrap, CI and the Dockerfile all install through this file, which runs with the bare system
Python (stdlib only: it runs before the virtual environment exists):

    python3 ops/llama_build.py install --python .venv/bin/python   # build (once) and install
    python3 ops/llama_build.py show                                 # variant, key, CMake args
    python3 ops/llama_build.py wheel --variant avx512               # build another variant's wheel

Wheels are kept under ``<cache>/llama-wheels/<version>-<variant>-<key>/``, the key being a hash of
the version and the exact CMake arguments, and pip's own cache is bypassed while building: a wheel
built with other flags is never silently reused.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

LLAMA_CPP_PYTHON_VERSION = "0.3.36"

# Options every variant shares: nothing from the build machine, no AMX, no multimodal library
# (llama_cpp imports mtmd lazily and we never use it; skipping it shortens the compile).
_COMMON = (
    "-DGGML_NATIVE=OFF",
    "-DGGML_AMX_TILE=OFF",
    "-DGGML_AMX_INT8=OFF",
    "-DGGML_AMX_BF16=OFF",
    "-DLLAVA_BUILD=OFF",
)
_AVX2 = (
    "-DGGML_SSE42=ON",
    "-DGGML_AVX=ON",
    "-DGGML_AVX2=ON",
    "-DGGML_FMA=ON",
    "-DGGML_F16C=ON",
    "-DGGML_BMI2=ON",
    "-DGGML_AVX_VNNI=OFF",
)
_NO_AVX512 = (
    "-DGGML_AVX512=OFF",
    "-DGGML_AVX512_VBMI=OFF",
    "-DGGML_AVX512_VNNI=OFF",
    "-DGGML_AVX512_BF16=OFF",
)
# AVX-512 as Ice Lake, Sapphire Rapids and Zen 4 have it (F/CD/VL/DQ/BW + VBMI + VNNI); BF16 off
# because Ice Lake lacks it. It cannot run on AVX2-only CPUs (Haswell..Comet Lake, Zen 1-3).
_AVX512 = (
    "-DGGML_AVX512=ON",
    "-DGGML_AVX512_VBMI=ON",
    "-DGGML_AVX512_VNNI=ON",
    "-DGGML_AVX512_BF16=OFF",
)

VARIANTS: dict[str, tuple[str, ...]] = {
    "avx2": _COMMON + _AVX2 + _NO_AVX512,
    "avx512": _COMMON + _AVX2 + _AVX512,
}
# The CPU flags (as /proc/cpuinfo names them) each variant needs at run time.
REQUIRED_CPU_FLAGS: dict[str, tuple[str, ...]] = {
    "avx2": ("sse4_2", "avx", "avx2", "fma", "f16c", "bmi2"),
    "avx512": ("sse4_2", "avx", "avx2", "fma", "f16c", "bmi2", "avx512f", "avx512bw", "avx512vbmi", "avx512_vnni"),
}

# The variant every install uses. Chosen from `pld bench engine` with both wheels side by side
# (README, "The llama.cpp build"): AVX-512 was not faster enough to exclude AVX2-only servers.
CHOSEN_VARIANT = "avx2"

VARIANT_ENV = "PLD_LLAMA_VARIANT"
MARKER_NAME = "pld-llama-build.json"


def cache_root() -> Path:
    """Return the project cache dir (the same rule as ``ops.paths.cache_root``, without platformdirs)."""
    override = os.environ.get("PLD_CACHE_DIR")
    if override:
        return Path(override)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "pld-moderation"


def cmake_args(variant: str) -> str:
    """Return the CMAKE_ARGS string of ``variant``."""
    return " ".join(VARIANTS[variant])


def build_key(variant: str) -> str:
    """Return a short hash of everything that makes a wheel: version, variant and CMake arguments."""
    material = json.dumps([LLAMA_CPP_PYTHON_VERSION, variant, VARIANTS[variant]])
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def wheel_dir(variant: str) -> Path:
    """Return the folder that holds the wheel of ``variant`` (empty until built)."""
    name = f"{LLAMA_CPP_PYTHON_VERSION}-{variant}-{build_key(variant)}"
    return cache_root() / "llama-wheels" / name


def built_wheel(variant: str) -> Path | None:
    """Return the wheel of ``variant`` if it was built already."""
    wheels = sorted(wheel_dir(variant).glob("llama_cpp_python-*.whl"))
    return wheels[0] if wheels else None


def build_wheel(variant: str) -> Path:
    """Compile the wheel of ``variant`` once (5-15 min on 2 cores) and return its path."""
    existing = built_wheel(variant)
    if existing:
        return existing
    target = wheel_dir(variant)
    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"compiling llama-cpp-python {LLAMA_CPP_PYTHON_VERSION} ({variant}): {cmake_args(variant)}", flush=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as staging:
        env = {**os.environ, "CMAKE_ARGS": cmake_args(variant), "FORCE_CMAKE": "1"}
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--no-deps",
                "--no-cache-dir",  # pip's wheel cache is keyed by the sdist, not by our flags
                "--no-binary=llama-cpp-python",
                f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}",
                "--wheel-dir",
                staging,
            ],
            env=env,
            check=True,
        )
        shutil.rmtree(target, ignore_errors=True)
        Path(staging).rename(target)  # whole or absent: an interrupted build leaves no half wheel dir
    wheel = built_wheel(variant)
    if wheel is None:
        raise SystemExit(f"pip produced no wheel in {target}")
    return wheel


def installed_key(python: Path) -> str | None:
    """Return the build key recorded in the virtual environment of ``python``, if any."""
    marker = python.parent.parent / MARKER_NAME
    try:
        return str(json.loads(marker.read_text(encoding="utf-8"))["key"])
    except (OSError, ValueError, KeyError):
        return None


def install(python: Path, variant: str) -> None:
    """Install the wheel of ``variant`` into the environment of ``python`` unless it is there already."""
    key = build_key(variant)
    if installed_key(python) == key:
        return
    wheel = build_wheel(variant)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", str(wheel)],
        check=True,
    )
    marker = {"version": LLAMA_CPP_PYTHON_VERSION, "variant": variant, "key": key, "cmake_args": cmake_args(variant)}
    (python.parent.parent / MARKER_NAME).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")


def missing_cpu_flags(variant: str, cpuinfo: Path = Path("/proc/cpuinfo")) -> list[str]:
    """Return the CPU flags ``variant`` needs that this machine lacks (empty where unknown)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8")
    except OSError:
        return []
    flags_line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    present = set(flags_line.partition(":")[2].split())
    return [flag for flag in REQUIRED_CPU_FLAGS[variant] if flag not in present]


def _main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["install", "wheel", "show"])
    parser.add_argument("--variant", default=os.environ.get(VARIANT_ENV, CHOSEN_VARIANT), choices=sorted(VARIANTS))
    parser.add_argument("--python", type=Path, default=Path(".venv/bin/python"))
    args = parser.parse_args()
    missing = missing_cpu_flags(args.variant)
    if missing and args.command == "install":
        print(f"warning: this CPU lacks {' '.join(missing)}, which the {args.variant} build needs", file=sys.stderr)
    if args.command == "show":
        info = {"variant": args.variant, "key": build_key(args.variant), "cmake_args": cmake_args(args.variant)}
        print(json.dumps({**info, "wheel_dir": str(wheel_dir(args.variant)), "missing_cpu_flags": missing}))
    elif args.command == "wheel":
        print(build_wheel(args.variant))
    else:
        install(args.python, args.variant)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
