"""The Chinese font every chart, printed map and PDF draws with, registered with matplotlib.

Noto Sans SC (SIL Open Font License 1.1) ships in the ``pylopdf-fonts-zh-cn`` dependency, so
Chinese text renders on a machine without any system CJK font and looks the same on every
machine. Used by :mod:`geoplan.maps` (printed maps) and :mod:`geoplan.report` (charts, PDF).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from matplotlib import font_manager

from geoplan.errors import OutputError

__all__ = ["CJK_FONT_FAMILY", "chinese_font_family", "chinese_rc", "packaged_font_path"]

#: The Chinese font geoplan draws with: Noto Sans SC (SIL Open Font License 1.1), shipped in
#: the ``pylopdf-fonts-zh-cn`` dependency, so charts, printed maps and the PDF report show
#: Chinese on a machine without any system CJK font, and look the same on every machine.
CJK_FONT_FAMILY = "Noto Sans SC"
_FONT_PACKAGE = "pylopdf-fonts-zh-cn"


def packaged_font_path() -> Path:
    """Return the path of the packaged Noto Sans SC font file (OpenType, CFF outlines).

    Raises
    ------
    OutputError
        If the font package is not installed or its font file is missing.
    """
    try:
        import pylopdf_fonts_zh_cn
    except ImportError as exc:
        msg = (f"the Chinese font package {_FONT_PACKAGE} is not installed "
               f"(pip install {_FONT_PACKAGE}); geoplan needs it for charts, maps and PDFs")
        raise OutputError(msg) from exc
    path = Path(pylopdf_fonts_zh_cn.sans_path())
    if not path.is_file():
        msg = (f"the Chinese font file {path} of {_FONT_PACKAGE} is missing; "
               f"reinstall it: pip install --force-reinstall {_FONT_PACKAGE}")
        raise OutputError(msg)
    return path


@cache
def _register_font(path: Path) -> str:
    """Add ``path`` to matplotlib's font manager (once per file); return its family name."""
    try:
        font_manager.fontManager.addfont(path)
    except (OSError, RuntimeError, ValueError) as exc:  # FreeType cannot read it
        msg = (f"the Chinese font file {path} cannot be read ({exc}); "
               f"reinstall it: pip install --force-reinstall {_FONT_PACKAGE}")
        raise OutputError(msg) from exc
    return font_manager.FontProperties(fname=path).get_name()


def chinese_font_family() -> str:
    """Register the packaged CJK font with matplotlib (at first use) and return its family.

    No system font is needed: the font file comes with the ``pylopdf-fonts-zh-cn``
    dependency (:func:`packaged_font_path`). Registering changes matplotlib's font list,
    not its rcParams.

    Returns
    -------
    str
        ``"Noto Sans SC"``.

    Raises
    ------
    OutputError
        If the font package is missing or its font file cannot be read; the message names
        the package to reinstall.
    """
    family = _register_font(packaged_font_path())
    if family != CJK_FONT_FAMILY:
        msg = (f"{_FONT_PACKAGE} ships the font family {family!r}, not {CJK_FONT_FAMILY!r}; "
               f"install a version that ships Noto Sans SC")
        raise OutputError(msg)
    return family


def chinese_rc() -> dict[str, object]:
    """Return matplotlib rcParams that draw Chinese text (use with ``matplotlib.rc_context``).

    Text is set in the packaged Noto Sans SC (DejaVu Sans for the few symbols it lacks). A
    saved PDF embeds the glyphs it uses (matplotlib's Type 3 fonts: the font has CFF
    outlines, which matplotlib's Type 42 output cannot embed validly) with a Unicode map, so
    its text can be searched and copied.

    Raises
    ------
    OutputError
        If the packaged CJK font cannot be loaded.
    """
    family = chinese_font_family()
    return {
        "font.family": "sans-serif",
        "font.sans-serif": [family, "DejaVu Sans"],
        "axes.unicode_minus": False,
    }
