"""Chinese text without system fonts: the packaged Noto Sans SC draws every chart and print.

The main test hides the machine's CJK fonts for real: a child process runs under
``unshare --mount`` with a tmpfs over every folder that ``fc-list`` reports for Chinese fonts
and a fresh matplotlib cache, then draws (``render_without_system_fonts.py``). CI runs as
root, so this runs there; without the right to unshare it fails, it never skips.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from matplotlib import font_manager

from geoplan import _fonts
from geoplan.errors import OutputError

HERE = Path(__file__).resolve().parent


def cjk_font_dirs() -> list[str]:
    """Folders holding a font that fontconfig says covers Chinese."""
    out = subprocess.run(["fc-list", "-f", "%{file}\n", ":lang=zh"], capture_output=True,
                         text=True, check=True).stdout
    return sorted({str(Path(line).parent) for line in out.splitlines() if line.strip()})


def run_without_system_fonts(out: Path, tmp: Path) -> dict:
    """Run the probe with the CJK font folders hidden; return what it printed."""
    hide = ('for d in "$@"; do mount -t tmpfs tmpfs "$d" || exit 97; done; '
            'exec "$PYTHON" "$PROBE" "$OUT"')
    env = os.environ | {
        "MPLCONFIGDIR": str(tmp / "mplconfig"), "XDG_CACHE_HOME": str(tmp / "cache"),
        "PYTHON": sys.executable, "PROBE": str(HERE / "render_without_system_fonts.py"),
        "OUT": str(out),
    }
    command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", hide, "hide",
               *cjk_font_dirs()]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600,
                          check=False)
    assert done.returncode == 0, f"probe failed ({done.returncode}):\n{done.stderr[-4000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_without_system_fonts_every_output_draws_chinese_from_the_packaged_font(tmp_path):
    """One probe run (a subprocess with the CJK fonts hidden) checks the chart, the map
    sheet and the PDF report; the probe builds a fresh font cache, so it runs once."""
    out = tmp_path / "out"
    out.mkdir()
    bare = run_without_system_fonts(out, tmp_path)
    # the system CJK fonts are really hidden
    assert bare["fc_list_zh"] == ""
    assert bare["system_han_fonts"] == []
    # the chart: no missing glyph, the title in the packaged font, pixels of that font
    chart = bare["chart"]
    assert chart["problems"] == []
    assert chart["title"].startswith("各镇街晋江市")
    assert chart["title_font"] == bare["packaged_font"]
    assert Path(chart["png"]).read_bytes().startswith(b"\x89PNG")
    assert bare["pixels"] == {"same_as_packaged": True, "differs_from_tofu": True,
                              "inked": True}
    # the map sheet's PDF and the PDF report: every Chinese character drawn by Noto Sans SC
    for output in ("map", "report"):
        printed = bare[output]
        assert printed["problems"] == [], output
        assert len(printed["han"]) > 10, output
        noto = [name for name in printed["drawn"] if re.search(r"Noto-?Sans-?SC", name)]
        assert noto, output
        assert sorted(printed["drawn"]) == sorted(noto), output  # no other font embedded
        drawn = set().union(*(printed["drawn"][name] for name in noto))
        assert set(printed["han"]) <= drawn, output
    assert Path(bare["map"]["png"]).read_bytes().startswith(b"\x89PNG")


def test_the_probe_sees_missing_glyphs_when_there_are_some():
    """The control: the probe's check does report the boxes of a font without Chinese."""
    import render_without_system_fonts as probe

    _, problems = probe.font_messages(
        lambda: probe.text_pixels(probe.SAMPLE, fontfamily="DejaVu Sans"))
    assert any("missing from font" in p for p in problems)


def test_packaged_font_is_noto_sans_sc_and_charts_use_it():
    assert _fonts.chinese_font_family() == "Noto Sans SC"
    path = _fonts.packaged_font_path()
    assert path.suffix == ".otf"
    assert path.stat().st_size > 5_000_000  # the full simplified-Chinese set, not a subset
    rc = _fonts.chinese_rc()
    assert rc["font.sans-serif"][0] == "Noto Sans SC"
    found = font_manager.findfont(font_manager.FontProperties(family=rc["font.sans-serif"]))
    assert Path(found) == path


def test_missing_font_package_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pylopdf_fonts_zh_cn", None)  # import fails
    with pytest.raises(OutputError, match="pip install pylopdf-fonts-zh-cn"):
        _fonts.packaged_font_path()


def test_missing_font_file_is_a_clear_error(monkeypatch, tmp_path):
    import pylopdf_fonts_zh_cn

    monkeypatch.setattr(pylopdf_fonts_zh_cn, "sans_path", lambda: tmp_path / "gone.otf")
    with pytest.raises(OutputError, match=r"gone\.otf of pylopdf-fonts-zh-cn is missing"):
        _fonts.chinese_font_family()


def test_unreadable_font_file_is_a_clear_error(monkeypatch, tmp_path):
    import pylopdf_fonts_zh_cn

    broken = tmp_path / "broken.otf"
    broken.write_bytes(b"not a font" * 100)
    monkeypatch.setattr(pylopdf_fonts_zh_cn, "sans_path", lambda: broken)
    with pytest.raises(OutputError, match=r"broken\.otf cannot be read"):
        _fonts.chinese_font_family()


def test_a_font_of_another_family_is_refused(monkeypatch):
    import pylopdf_fonts_zh_cn

    dejavu = Path(font_manager.findfont("DejaVu Sans"))
    monkeypatch.setattr(pylopdf_fonts_zh_cn, "sans_path", lambda: dejavu)
    with pytest.raises(OutputError, match="ships the font family 'DejaVu Sans'"):
        _fonts.chinese_font_family()
