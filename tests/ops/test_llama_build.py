"""The one llama-cpp-python build: explicit flags, never native, never AMX, wheels keyed by their flags."""

import tomllib
from pathlib import Path

import llama_cpp
import pytest

from ops import llama_build

ROOT = Path(__file__).resolve().parents[2]
AMX_OPTIONS = ("-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF")


@pytest.mark.parametrize("variant", sorted(llama_build.VARIANTS))
def test_every_variant_is_portable_and_amx_free(variant: str) -> None:
    """No variant lets CMake pick the build machine's instruction set or AMX."""
    args = llama_build.VARIANTS[variant]
    assert "-DGGML_NATIVE=OFF" in args
    assert all(option in args for option in AMX_OPTIONS)
    assert not any("AMX" in arg and arg.endswith("=ON") for arg in args)


def test_the_wheel_key_follows_the_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wheel built with other flags lands in another folder, so it is never reused by mistake."""
    before = llama_build.build_key("avx2")
    assert before != llama_build.build_key("avx512")
    changed = {**llama_build.VARIANTS, "avx2": (*llama_build.VARIANTS["avx2"], "-DGGML_LLAMAFILE=OFF")}
    monkeypatch.setattr(llama_build, "VARIANTS", changed)
    assert llama_build.build_key("avx2") != before
    assert llama_build.build_key("avx2") in llama_build.wheel_dir("avx2").name


def test_the_project_pins_the_version_the_build_compiles() -> None:
    """pyproject's llama-cpp-python pin is the version ops/llama_build.py compiles (pip must not build another)."""
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"llama-cpp-python=={llama_build.LLAMA_CPP_PYTHON_VERSION}" in dependencies


def test_missing_cpu_flags_are_named(tmp_path: Path) -> None:
    """On an AVX2-only CPU the AVX-512 variant's missing flags are listed; the AVX2 variant needs nothing more."""
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse4_2 avx avx2 fma f16c bmi2\n")
    assert llama_build.missing_cpu_flags("avx2", cpuinfo) == []
    assert "avx512f" in llama_build.missing_cpu_flags("avx512", cpuinfo)


def test_the_installed_llama_cpp_has_no_amx() -> None:
    """The llama.cpp this environment runs was compiled without AMX and with the chosen variant's features."""
    info = llama_cpp.llama_print_system_info().decode()
    assert "AMX" not in info
    assert "AVX2 = 1" in info
