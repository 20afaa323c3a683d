"""Read a PDF the way the tests check it: its text, where its content lies on each page, and
which Chinese characters each embedded font really draws (an outline, not the missing-glyph
box).

For each font the ToUnicode map says which character a glyph stands for. In a Type 0 font
the glyph is looked up in the embedded font program (through CIDToGIDMap) and counts as
drawn when it is not glyph 0 (.notdef, the box) and has an outline; in a Type 3 font
(matplotlib's default) when it is not .notdef and its glyph procedure draws a path.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from fontTools.pens.boundsPen import BoundsPen
from fontTools.ttLib import TTFont
from pdfminer.high_level import extract_pages
from pdfminer.layout import LTChar, LTContainer, LTCurve, LTImage, LTItem
from pypdf import PdfReader
from pypdf.generic import DictionaryObject

_HEX = r"<([0-9a-fA-F]+)>"


def pdf_text(path: Path) -> str:
    """All text of the PDF, pages joined by newlines (as a reader would copy it)."""
    return "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)


def han_characters(text: str) -> set[str]:
    """The distinct Chinese characters (CJK unified ideographs, with extension A) in ``text``."""
    return {ch for ch in text if "\u3400" <= ch <= "\u9fff"}


def _utf16(hex_text: str) -> str:
    return bytes.fromhex(hex_text).decode("utf-16-be")


def to_unicode(cmap: str) -> dict[int, str]:
    """Parse a ToUnicode CMap: character code -> text."""
    out: dict[int, str] = {}
    for block in re.findall(r"beginbfchar(.*?)endbfchar", cmap, re.S):
        for src, dst in re.findall(rf"{_HEX}\s*{_HEX}", block):
            out[int(src, 16)] = _utf16(dst)
    for block in re.findall(r"beginbfrange(.*?)endbfrange", cmap, re.S):
        for lo, hi, rest in re.findall(rf"{_HEX}\s*{_HEX}\s*(\[[^\]]*\]|<[0-9a-fA-F]+>)", block):
            lo_i, hi_i = int(lo, 16), int(hi, 16)
            if rest.startswith("["):
                for k, dst in enumerate(re.findall(_HEX, rest)):
                    out[lo_i + k] = _utf16(dst)
            else:
                start = int(rest[1:-1], 16)
                for k in range(hi_i - lo_i + 1):
                    out[lo_i + k] = chr(start + k)
    return out


def _program(descriptor: DictionaryObject) -> TTFont | None:
    for key in ("/FontFile2", "/FontFile3"):
        if key in descriptor:
            return TTFont(io.BytesIO(descriptor[key].get_object().get_data()))
    return None


_PATH_OPERATOR = re.compile(rb"\s(m|l|c|re)\s")
_NOTDEF = re.compile(r"/?(\.notdef|uni0+|cid0+|glyph0+|g0)")


def _drawn_han_type3(font: DictionaryObject) -> set[str]:
    """Chinese characters of a Type 3 font whose glyph procedure draws a path."""
    names, code = {}, 0
    for item in font["/Encoding"].get_object().get("/Differences", []):
        if isinstance(item, int):
            code = item
        else:
            names[code] = str(item)
            code += 1
    procs = font["/CharProcs"].get_object()
    drawn = set()
    cmap = font["/ToUnicode"].get_object().get_data().decode("latin-1")
    for char_code, text in to_unicode(cmap).items():
        name = names.get(char_code)
        if not han_characters(text) or name is None or _NOTDEF.fullmatch(name):
            continue
        if name in procs and _PATH_OPERATOR.search(procs[name].get_object().get_data()):
            drawn |= han_characters(text)
    return drawn


def _drawn_han(font: DictionaryObject) -> set[str]:
    """Chinese characters that a font maps to a glyph with an outline (not .notdef)."""
    if "/ToUnicode" not in font:
        return set()
    if font.get("/Subtype") == "/Type3":
        return _drawn_han_type3(font)
    if "/DescendantFonts" not in font:
        return set()
    descendant = font["/DescendantFonts"][0].get_object()
    program = _program(descendant["/FontDescriptor"].get_object())
    if program is None:
        return set()
    cid_to_gid = descendant.get("/CIDToGIDMap")
    table = None if cid_to_gid in (None, "/Identity") else cid_to_gid.get_object().get_data()
    order, glyphs = program.getGlyphOrder(), program.getGlyphSet()
    drawn = set()
    cmap = font["/ToUnicode"].get_object().get_data().decode("latin-1")
    for cid, text in to_unicode(cmap).items():
        if not han_characters(text):
            continue
        gid = cid if table is None else int.from_bytes(table[2 * cid: 2 * cid + 2], "big")
        if gid == 0 or gid >= len(order):
            continue
        pen = BoundsPen(glyphs)
        glyphs[order[gid]].draw(pen)
        if pen.bounds is not None:
            drawn |= han_characters(text)
    return drawn


def _walk(resources: DictionaryObject, found: dict[str, set[str]]) -> None:
    for font in (resources.get("/Font") or {}).values():
        font = font.get_object()
        name = str(font.get("/BaseFont", "?"))
        found[name] = found.get(name, set()) | _drawn_han(font)
    for xobject in (resources.get("/XObject") or {}).values():
        xobject = xobject.get_object()
        if xobject.get("/Subtype") == "/Form" and "/Resources" in xobject:
            _walk(xobject["/Resources"].get_object(), found)


def drawn_han_by_font(path: Path) -> dict[str, set[str]]:
    """``{embedded font name: Chinese characters it draws}`` over all pages.

    Font names keep their subset prefix (``ABCDEF+NotoSansSC-Regular``).
    """
    found: dict[str, set[str]] = {}
    for page in PdfReader(path).pages:
        if "/Resources" in page:
            _walk(page["/Resources"].get_object(), found)
    return found


def _extent(item: LTItem, box: list[float]) -> None:
    if isinstance(item, LTChar | LTCurve | LTImage):  # glyphs, rules and borders, pictures
        box[0], box[1] = min(box[0], item.x0), max(box[1], item.x1)
    if isinstance(item, LTContainer):
        for child in item:
            _extent(child, box)


def page_extents(path: Path) -> list[dict[str, float]]:
    """Per page: its width and height and the leftmost and rightmost ink (points)."""
    pages = []
    for page in extract_pages(path):
        box = [float("inf"), float("-inf")]
        for item in page:
            _extent(item, box)
        pages.append({"width": page.width, "height": page.height, "left": box[0],
                      "right": box[1]})
    return pages
