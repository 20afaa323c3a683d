"""The examples in the docstrings run, offline, on the data shipped in ``data/``.

Every example of every module of the package is run as a doctest (one test per docstring);
every name of the top-level namespace has one; and ``import geoplan`` stays light (the
names are imported on first use).
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import subprocess
import sys

import pytest

import geoplan

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _doctests() -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder(exclude_empty=True)
    found = []
    modules = ["geoplan", *(m.name for m in pkgutil.walk_packages(geoplan.__path__, "geoplan."))]
    for name in sorted(modules):
        module = importlib.import_module(name)
        found += [t for t in finder.find(module, name) if t.examples]
    return sorted(found, key=lambda t: t.name)


DOCTESTS = _doctests()


def test_there_are_examples_to_run():
    assert len(DOCTESTS) >= 20


@pytest.mark.parametrize("test", DOCTESTS, ids=[t.name for t in DOCTESTS])
def test_docstring_example(test: doctest.DocTest):
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    out: list[str] = []
    runner.run(test, out=out.append, clear_globs=True)
    assert runner.failures == 0, "".join(out)


@pytest.mark.parametrize("name", [n for n in geoplan.__all__ if n != "__version__"])
def test_every_top_level_name_has_an_example(name: str):
    function = getattr(geoplan, name)
    text = function.__doc__ or ""
    assert "\n    Examples\n    --------\n" in text, f"geoplan.{name} has no Examples section"
    assert any(t.name.endswith(f".{name}") and t.examples for t in DOCTESTS), name


def test_import_geoplan_stays_light():
    code = ("import sys, geoplan\n"
            "heavy = [m for m in ('numpy', 'pandas', 'geopandas', 'shapely', 'highspy')"
            " if m in sys.modules]\n"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""
    assert set(geoplan.__all__) <= set(dir(geoplan))
