"""Every documented exit code, through the installed ``geoplan`` command in a subprocess.

The codes of ``docs/cli.md``: 0 done, 1 internal error, 2 usage error, 3 bad input, 4 an
output that cannot be written. Each case runs the real entry point on the examples in
``data/byod`` (or a broken copy of them) and checks the code, what the message says, and
that no traceback reaches the planner. An internal error cannot be provoked by any input
(that would be the bug), so that case plants one: a ``sitecustomize`` on ``PYTHONPATH``
makes the preflight raise, as a bug inside geoplan would.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import geoplan
from geoplan.cli import EXIT_CODES

REPO = Path(__file__).resolve().parents[1]
BYOD = REPO / "data" / "byod"
GEOPLAN = str(Path(sys.executable).with_name("geoplan"))


def geoplan_cli(*args: str, env: dict[str, str] | None = None, timeout: int = 600,
                ) -> subprocess.CompletedProcess:
    return subprocess.run([GEOPLAN, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, check=False)


@pytest.fixture
def study(tmp_path: Path) -> Path:
    """A copy of the example study, to break."""
    folder = tmp_path / "byod"
    shutil.copytree(BYOD, folder)
    return folder / "study.toml"


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_documented_codes_are_the_cli_codes():
    assert {0, 1, 2, 3, 4} <= set(EXIT_CODES)
    text = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    for code in EXIT_CODES:
        assert f"| `{code}` |" in text


def test_0_version_and_a_valid_study():
    done = geoplan_cli("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"geoplan {geoplan.__version__}"
    done = geoplan_cli("validate", str(BYOD / "study.toml"))
    assert done.returncode == 0, done.stderr
    assert "校验通过 valid" in done.stdout
    assert "GBK" in done.stdout  # the shapefile without .cpg is noted


@pytest.mark.parametrize(("args", "says"), [
    (["frobnicate"], "No such command"),
    (["run"], "Missing argument"),
    (["validate", "a.toml", "--fast"], "No such option"),
    (["run", "STUDY", "--curve", "many"], "--curve 'many'"),
], ids=["unknown command", "missing argument", "unknown option", "bad --curve"])
def test_2_usage_error(args, says):
    args = [str(BYOD / "study.toml") if a == "STUDY" else a for a in args]
    done = geoplan_cli(*args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert says in done.stderr
    assert "Traceback" not in done.stderr


def test_3_bad_study_file_names_the_key_and_the_page(study):
    text = study.read_text(encoding="utf-8")
    study.write_text(text.replace('coords = "gcj02"\n', ""), encoding="utf-8")
    before = _digest(study.parent)
    done = geoplan_cli("validate", str(study))
    assert done.returncode == 3, done.stdout + done.stderr
    assert "layers.facilities.coords: coords is required" in done.stderr
    assert "see docs/study-file.md#layers" in done.stderr
    assert "Traceback" not in done.stderr
    assert _digest(study.parent) == before


def test_3_bad_layer_names_the_row_and_the_page(study):
    text = study.read_text(encoding="utf-8")
    study.write_text(text.replace('"颐养之家" = "elderly_station"\n', ""), encoding="utf-8")
    out = study.parent / "out"
    done = geoplan_cli("run", str(study), "--out", str(out))
    assert done.returncode == 3, done.stdout + done.stderr
    assert "row '8', column 'facility_type': unknown facility type '颐养之家'" in done.stderr
    assert "see docs/layers.md#facilities" in done.stderr
    assert not out.exists()


def test_4_output_cannot_be_written(study, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    done = geoplan_cli("run", str(study), "--out", str(blocker / "out"))
    assert done.returncode == 4, done.stdout + done.stderr
    assert "cannot write" in done.stderr
    assert "Traceback" not in done.stderr
    assert blocker.read_text(encoding="utf-8") == "not a folder"


PLANTED = """
import os
import geoplan.study.preflight as preflight

def _planted(*args, **kwargs):
    kind = os.environ["GEOPLAN_PLANTED_ERROR"]
    if kind == "ArgumentError":
        from geoplan.errors import ArgumentError
        raise ArgumentError("coverage_by_unit: tiers_min must be a number of minutes")
    raise RuntimeError("planted bug")

preflight.prepare_run = _planted
"""


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    folder = tmp_path / "planted"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(textwrap.dedent(PLANTED), encoding="utf-8")
    return folder


def test_1_internal_error_is_one_line_and_a_hint_or_the_traceback_with_debug(planted):
    env = {"PYTHONPATH": str(planted), "GEOPLAN_PLANTED_ERROR": "RuntimeError"}
    done = geoplan_cli("validate", str(BYOD / "study.toml"), env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "内部错误 internal error: RuntimeError: planted bug" in done.stderr
    assert "rerun with --debug" in done.stderr
    assert "Traceback" not in done.stderr
    debug = geoplan_cli("--debug", "validate", str(BYOD / "study.toml"), env=env)
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr
    assert "RuntimeError: planted bug" in debug.stderr


def test_2_an_argument_error_from_inside_is_a_usage_error(planted):
    env = {"PYTHONPATH": str(planted), "GEOPLAN_PLANTED_ERROR": "ArgumentError"}
    done = geoplan_cli("validate", str(BYOD / "study.toml"), env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "用法有误 usage error: coverage_by_unit: tiers_min" in done.stderr
    assert "Traceback" not in done.stderr
