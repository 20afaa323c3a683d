"""Faults of the machine, not of the data: a full disk, a read-only folder, a killed run.

Each run of ``geoplan run`` starts from the outputs of an earlier good run and must leave them
byte for byte as they were; the message must name the cause and the exit code is 4 (an output
cannot be written). The disk and the read-only folder are real: a small tmpfs mounted in a
private mount namespace (``unshare --mount``), which needs root, as CI has. They are not
skipped: without root they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import small_study as ss
from test_fault_catalogue import STUDY, digest

GEOPLAN = [sys.executable, "-m", "geoplan.cli"]


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("root_study")
    ss.build_study_files(folder)
    ss.build_grid_network(folder)
    (folder / "study.toml").write_text(STUDY, encoding="utf-8")
    return folder / "study.toml"


@pytest.fixture(scope="module")
def previous(study, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("root_previous") / "out"
    done = subprocess.run([*GEOPLAN, "run", str(study), "--out", str(out)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return out


def _in_private_mount(tmp_path: Path, study: Path, previous: Path, *, size_k: int,
                      read_only: bool) -> dict:
    """Run geoplan on a tmpfs holding the previous outputs; return what happened inside."""
    assert os.geteuid() == 0, "these faults need root (CI runs as root)"
    mount = tmp_path / "disk"
    mount.mkdir()
    script = tmp_path / "inside.py"
    script.write_text(textwrap.dedent(f"""
        import hashlib, json, shutil, subprocess, sys
        from pathlib import Path
        mount, out = Path({str(mount)!r}), Path({str(mount)!r}) / "out"
        shutil.copytree({str(previous)!r}, out)
        def digest(folder):
            return {{str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
                    for p in sorted(folder.rglob("*")) if p.is_file()}}
        before = digest(out)
        if {read_only!r}:
            subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        done = subprocess.run([sys.executable, "-m", "geoplan.cli", "run", {str(study)!r},
                               "--out", str(out)], capture_output=True, text=True)
        print(json.dumps({{"code": done.returncode, "stderr": done.stderr,
                          "unchanged": digest(out) == before,
                          "left": sorted(p.name for p in mount.iterdir())}}))
    """), encoding="utf-8")
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         f'mount -t tmpfs -o size={size_k}k tmpfs "{mount}" && exec "{sys.executable}" '
         f'"{script}"'], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _size_k(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) // 1024


def test_a_full_disk_is_exit_4_and_leaves_the_previous_outputs(tmp_path, study, previous):
    # room for the previous outputs and a little more, not for a second set
    result = _in_private_mount(tmp_path, study, previous, size_k=_size_k(previous) + 256,
                               read_only=False)
    assert result["code"] == 4, result["stderr"]
    assert "No space left on device" in result["stderr"]
    assert "Traceback" not in result["stderr"]
    assert result["unchanged"]


def test_a_read_only_folder_is_exit_4_and_leaves_the_previous_outputs(tmp_path, study,
                                                                      previous):
    result = _in_private_mount(tmp_path, study, previous, size_k=_size_k(previous) * 4,
                               read_only=True)
    assert result["code"] == 4, result["stderr"]
    assert "Read-only file system" in result["stderr"]
    assert "Traceback" not in result["stderr"]
    assert result["unchanged"]
    assert result["left"] == ["out"]


def test_a_run_killed_midway_leaves_the_previous_outputs_and_the_next_run_cleans_up(
        tmp_path, study, previous):
    out = tmp_path / "out"
    shutil.copytree(previous, out)
    before = digest(out)
    run = subprocess.Popen([*GEOPLAN, "run", str(study), "--out", str(out)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".out.staging-*")) and run.poll() is None:
        assert time.monotonic() < deadline, "the run never started writing"
        time.sleep(0.01)
    time.sleep(0.5)  # inside the steps, some files written
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert run.returncode == -signal.SIGKILL
    assert digest(out) == before
    staged = list(tmp_path.glob(".out.staging-*"))
    assert staged, "the killed run's partial outputs should be where it said"
    again = subprocess.run([*GEOPLAN, "run", str(study), "--out", str(out)],
                           capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stderr
    assert not any(p.exists() for p in staged), "the stale staging folder was not removed"
    manifest = json.loads((out / "geoplan-manifest.json").read_text(encoding="utf-8"))
    for entry in manifest["files"]:
        assert (out / entry["path"]).stat().st_size == entry["bytes"]


def test_out_that_is_a_file_is_exit_4(tmp_path, study):
    target = tmp_path / "out.txt"
    target.write_text("a planner's file", encoding="utf-8")
    done = subprocess.run([*GEOPLAN, "run", str(study), "--out", str(target)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 4, done.stderr
    assert "it is a file, not a folder" in done.stderr
    assert target.read_text(encoding="utf-8") == "a planner's file"
