"""Imports flow one way, module by module: schemas <- stream.student <- stream <- distiller <- pld; ops beside.

Every import counts, lazy ones inside functions included. A second check imports the light modules
for real and proves that llama.cpp stays unloaded until a command actually needs the model.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OUR_PACKAGES = ("schemas", "ops", "stream", "distiller", "pld")
# What each layer may import of ours; a module belongs to the longest layer name that prefixes it.
ALLOWED: dict[str, tuple[str, ...]] = {
    "schemas": ("schemas",),
    "ops": ("ops",),
    "stream.errors": ("stream.errors",),
    "stream.student": ("schemas", "stream.errors", "stream.student"),
    "stream": ("schemas", "stream"),
    "distiller": ("schemas", "stream", "distiller"),
    "pld": ("schemas", "stream", "distiller", "ops", "pld"),
}
# Modules every `pld` subcommand loads: they must not pull llama.cpp (and its native code) in.
LIGHT_MODULES = ("pld.cli", "stream.settings", "stream.student.settings", "stream.student.factory")


def within(module: str, prefix: str) -> bool:
    """Whether `module` is `prefix` or lies inside it."""
    return module == prefix or module.startswith(prefix + ".")


def layer_of(module: str) -> str:
    """The layer a module of ours belongs to."""
    return max((name for name in ALLOWED if within(module, name)), key=len)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, relative imports resolved, `from x import y` counted as `x.y` and `x`."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def ours(module: str) -> bool:
    return module.split(".", maxsplit=1)[0] in OUR_PACKAGES


def offending_imports(path: Path) -> list[str]:
    """Imports of `path` that reach a layer above its own."""
    allowed = ALLOWED[layer_of(module_name(path))]
    modules = {name for name in imported_modules(path) if ours(name)}
    # `from stream import errors` names `stream.errors`; judge the most specific name that is a module.
    return sorted(
        name
        for name in modules
        if not any(within(name, prefix) for prefix in allowed)
        and not any(within(other, name) and other != name for other in modules)
    )


@pytest.mark.parametrize("package", ["schemas", "ops", "stream", "distiller", "pld"])
def test_every_module_imports_only_its_own_layer_or_below(package: str) -> None:
    """No module imports a module of a layer above it (e.g. stream.student importing stream.settings)."""
    offenders = {
        str(path.relative_to(ROOT)): offending_imports(path)
        for path in sorted((ROOT / package).rglob("*.py"))
        if offending_imports(path)
    }
    assert offenders == {}


def test_a_module_level_breach_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check sees one module of the engine importing the worker's settings, not just package-level ones."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    engine = tmp_path / "stream" / "student"
    engine.mkdir(parents=True)
    (engine / "scorer.py").write_text("from stream.settings import WorkerSettings\nfrom . import protocol\n")
    (engine / "lazy.py").write_text("def f():\n    from ..worker import run_worker\n")
    assert offending_imports(engine / "scorer.py") == ["stream.settings.WorkerSettings"]
    assert offending_imports(engine / "lazy.py") == ["stream.worker.run_worker"]


def test_light_modules_do_not_load_llama_cpp() -> None:
    """Parsing arguments and reading settings never loads llama.cpp's native libraries."""
    probe = f"import sys\nfor m in {LIGHT_MODULES!r}: __import__(m)\nprint('llama_cpp' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout.strip() == "False"
