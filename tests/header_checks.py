"""Find the English machine names a planner would see as headers in a run's outputs.

Reads every ``.xlsx`` (the first row of each sheet), ``.csv`` (the first line) and ``.html``
(``<th>`` cells and the field labels of map popups and tooltips) under a folder and returns
each header that is an English snake_case or lower-case identifier (``pop_before``,
``households``), with the file and sheet it was found in.
"""

from __future__ import annotations

import csv
import html
import re
from pathlib import Path

import openpyxl

#: A header a planner cannot read: a lower-case ASCII identifier (``pop``, ``site_id``).
MACHINE_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
_TH = re.compile(r"<th[^>]*>(.*?)</th>", re.S | re.I)
_TAG = re.compile(r"<[^>]+>")


def _xlsx_headers(path: Path) -> list[tuple[str, str]]:
    book = openpyxl.load_workbook(path, read_only=True)
    found = []
    for ws in book.worksheets:
        first = next(ws.iter_rows(min_row=1, max_row=1, values_only=True), ())
        found += [(ws.title, str(v)) for v in first if v is not None]
    book.close()
    return found


def _csv_headers(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        first = next(csv.reader(f), [])
    return [("", v) for v in first]


def _html_headers(path: Path) -> list[tuple[str, str]]:
    text = path.read_text(encoding="utf-8")
    pages = [text, *(html.unescape(m) for m in re.findall(r'srcdoc="([^"]*)"', text))]
    found = []
    for page in pages:
        found += [("", html.unescape(_TAG.sub("", m)).strip()) for m in _TH.findall(page)]
    return found


def machine_headers(folder: Path) -> list[str]:
    """Return ``file[sheet]: header`` for every English machine-name header under ``folder``."""
    readers = {".xlsx": _xlsx_headers, ".csv": _csv_headers, ".html": _html_headers}
    bad = []
    for path in sorted(folder.rglob("*")):
        reader = readers.get(path.suffix.lower())
        if reader is None or not path.is_file():
            continue
        for sheet, header in reader(path):
            if MACHINE_NAME.match(header.strip()):
                where = f"{path.relative_to(folder)}[{sheet}]" if sheet else \
                    str(path.relative_to(folder))
                bad.append(f"{where}: {header}")
    return bad


def headers_in(folder: Path) -> int:
    """Count the headers read under ``folder`` (so a scan that reads nothing is seen)."""
    readers = {".xlsx": _xlsx_headers, ".csv": _csv_headers, ".html": _html_headers}
    return sum(len(readers[p.suffix.lower()](p)) for p in folder.rglob("*")
               if p.suffix.lower() in readers and p.is_file())


#: A snake_case word in running text, not part of a file name (``admin_units.gpkg`` is a file).
_SNAKE_WORD = re.compile(r"(?<![\w./-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w.])")
_HIDDEN = re.compile(r'<(style|script)\b.*?</\1>|\ssrcdoc="[^"]*"', re.S | re.I)


def snake_case_words(page: Path) -> list[str]:
    """Return the snake_case words a reader sees in an HTML page (not its map, CSS or script)."""
    text = _TAG.sub(" ", _HIDDEN.sub(" ", page.read_text(encoding="utf-8")))
    return sorted(set(_SNAKE_WORD.findall(html.unescape(text))))
