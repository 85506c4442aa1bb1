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
    "stream.errors": ("stream.errors", "stream.student"),
    "stream.student": ("schemas", "stream.student"),
    "stream": ("schemas", "stream"),
    "distiller": ("schemas", "stream", "distiller"),
    "pld": ("schemas", "stream", "distiller", "ops", "pld"),
}
# Modules every `pld` subcommand loads: they must not pull llama.cpp (and its native code) in.
LIGHT_MODULES = ("pld.cli", "stream.settings", "stream.student", "stream.student.settings", "stream.student.factory")
ENGINE = "stream.student"


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


def engine_breaches(path: Path) -> list[str]:
    """Imports of `path` (outside the engine) that reach past the engine's face, or llama.cpp itself."""
    if within(module_name(path), ENGINE):
        return []
    internals = {module_name(module) for module in (ROOT / "stream" / "student").glob("*.py")} - {ENGINE}
    return sorted(
        name
        for name in imported_modules(path)
        if within(name, "llama_cpp") or any(within(name, internal) for internal in internals)
    )


@pytest.mark.parametrize("package", ["stream", "distiller", "pld", "ops"])
def test_outside_the_engine_only_its_face_is_imported(package: str) -> None:
    """`from stream.student import X` only: no engine module (`stream.student.llama_student`, ...) and no
    `llama_cpp` outside `stream/student/`."""
    offenders = {
        str(path.relative_to(ROOT)): engine_breaches(path)
        for path in sorted((ROOT / package).rglob("*.py"))
        if engine_breaches(path)
    }
    assert offenders == {}


def test_a_reach_past_the_face_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A deep engine import and a direct llama_cpp import are both breaches; the face is not."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "stream" / "student").mkdir(parents=True)
    (tmp_path / "stream" / "student" / "scoring.py").write_text("")
    (tmp_path / "distiller").mkdir()
    deep = tmp_path / "distiller" / "deep.py"
    deep.write_text("from stream.student.scoring import build_scorer\nimport llama_cpp\nfrom stream.student import X\n")
    assert engine_breaches(deep) == ["llama_cpp", "stream.student.scoring", "stream.student.scoring.build_scorer"]


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


@pytest.mark.parametrize("package", ["schemas", "ops", "stream", "distiller", "pld"])
def test_no_product_module_imports_a_test_double(package: str) -> None:
    """`stream.student.testing` and `distiller.testing` (FakeStudent, FakeTeacher) serve the tests only."""
    doubles = ("stream.student.testing", "distiller.testing")
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name for name in imported_modules(path) if any(within(name, d) for d in doubles)
        )
        for path in sorted((ROOT / package).rglob("*.py"))
        if module_name(path) not in doubles
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_tests_share_helpers_through_helper_modules_only() -> None:
    """No test module imports another test module: what several need lives in a `helpers` module."""
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name for name in imported_modules(path) if name.startswith("tests.") and ".test_" in name
        )
        for path in sorted((ROOT / "tests").rglob("*.py"))
    }
    assert {path: names for path, names in offenders.items() if names} == {}
