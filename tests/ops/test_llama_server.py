"""The peer server is built like our wheel: the same CPU options, nothing fetched from a model hub."""

from ops.llama_build import VARIANTS
from ops.llama_server import server_args, server_dir


def test_the_server_build_has_the_wheels_cpu_options_and_no_downloads() -> None:
    for variant, options in VARIANTS.items():
        args = server_args(variant)
        assert args[: len(options)] == options
        assert "-DLLAMA_USE_PREBUILT_UI=OFF" in args
        assert "-DLLAMA_CURL=OFF" in args
        assert not any("NATIVE=ON" in arg or "AMX_INT8=ON" in arg for arg in args)


def test_each_variant_has_its_own_build_folder() -> None:
    assert server_dir("avx2") != server_dir("avx512")
    assert server_dir("avx2") == server_dir("avx2")
