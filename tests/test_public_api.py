"""The package's public faces: every exported name imports, and the layers stay one-way."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import geoplan

PACKAGE = Path(geoplan.__file__).parent
FACES = sorted(
    f"geoplan.{info.name}" for info in pkgutil.iter_modules(geoplan.__path__)
    if not info.name.startswith("_")
)


@pytest.mark.parametrize("face", ["geoplan", *FACES])
def test_every_exported_name_imports(face: str) -> None:
    module = importlib.import_module(face)
    names = getattr(module, "__all__", None)
    assert names, f"{face} has no __all__"
    assert len(set(names)) == len(names), f"{face}.__all__ repeats a name"
    for name in names:
        assert getattr(module, name) is not None, f"{face}.{name}"


def test_every_subpackage_is_a_face_with_all() -> None:
    subpackages = [p.parent.name for p in PACKAGE.glob("*/__init__.py")]
    assert sorted(subpackages) == sorted(
        ["access", "boundary", "crs", "datasets", "indicators", "io", "maps", "network",
         "report", "schema", "siting", "standards", "study"])
    for name in subpackages:
        assert f"geoplan.{name}" in FACES


def _source_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_dynamic_imports_hide_an_arrow_from_the_layer_check() -> None:
    """``lint-imports`` reads import statements; importlib or __import__ would hide one."""
    offenders = []
    for path in _source_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = getattr(func, "attr", getattr(func, "id", ""))
                if name in {"import_module", "__import__"}:
                    offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []


def test_no_shim_modules_of_the_old_flat_layout() -> None:
    flat = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert flat == ["__init__", "_fonts", "_text", "cli", "errors", "population"]


def test_import_geoplan_study_stays_light() -> None:
    code = (
        "import sys, geoplan.study\n"
        "heavy = [m for m in ('folium', 'openpyxl', 'matplotlib') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""


def test_layer_contracts_hold() -> None:
    """The same check ``make lint`` runs: layers, computation without I/O, no circles."""
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(lint)], capture_output=True, text=True,
                         cwd=PACKAGE.parent, check=False)
    assert out.returncode == 0, out.stdout[-2000:]
    assert "0 broken" in out.stdout
