"""Text helpers of the readers and the validation: normalisation, mojibake, text numbers.

Also coordinates typed as text (DMS, full-width digits) and CSV decoding (UTF-8 or GBK).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
import unicodedata
from typing import Any

import numpy as np
import pandas as pd


def norm_key(value: object) -> str:
    text = unicodedata.normalize("NFKC", str(value)).strip().lower()
    return re.sub(r"\s+", "", text)


# --------------------------------------------------------------------------- mojibake
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_ALLOWED_DECODED = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
                              r"\u00b7\u2014\u2018-\u201d\u2026\u2160-\u216b\u2460-\u2473]")


def mojibake_encoding(text: object) -> str | None:
    """Tell whether a text is Chinese read with the wrong (Latin-1) encoding.

    A GBK (or UTF-8) file read as ISO-8859-1 gives strings such as ``'Ãû³Æ'``; their
    Latin-1 bytes decode as Chinese. Genuine Latin text (``'café'``) does not.

    Parameters
    ----------
    text
        Any value; only strings with characters in U+0080–U+00FF are examined.

    Returns
    -------
    str or None
        ``"utf-8"`` or ``"gbk"``: the encoding under which the bytes are Chinese text, or
        ``None`` if the text does not look like mojibake.
    """
    if not isinstance(text, str) or not any("\x80" <= c <= "\xff" for c in text):
        return None
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        return None
    for encoding in ("utf-8", "gbk"):
        try:
            fixed = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        non_ascii = _NON_ASCII.findall(fixed)
        if not _CJK.search(fixed) or not all(_ALLOWED_DECODED.match(c) for c in non_ascii):
            continue
        if encoding == "gbk" and not _mostly_gb2312(non_ascii):
            continue  # e.g. 'Zürich' decodes to one rare GBK-extension character
        return encoding
    return None


def _mostly_gb2312(chars: list[str]) -> bool:
    common = 0
    for c in chars:
        try:
            c.encode("gb2312")
            common += 1
        except UnicodeEncodeError:
            pass
    return common >= 0.8 * len(chars)


def is_missing(value: object) -> bool:
    """Return True for ``None``, NaN, NaT and ``pd.NA`` (not for empty text)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


# --------------------------------------------------------------------------- text leaving geoplan
#: First characters that make a spreadsheet read a cell as a formula (or run it).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def safe_text(text: str) -> str:
    """Return ``text`` safe for every output a planner opens: Excel, CSV, HTML, map popups.

    Control characters (other than tab, line feed and carriage return inside the text) are
    removed, and text that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
    gets a leading apostrophe, so no spreadsheet reads it as a formula. Every writer applies
    this one rule (OWASP's CSV-injection advice).

    Examples
    --------
    >>> print(safe_text('=HYPERLINK("http://x","青阳")'))
    '=HYPERLINK("http://x","青阳")
    >>> safe_text("青阳" + chr(11) + "街道")
    '青阳街道'
    """
    text = _CONTROL.sub("", text)
    return "'" + text if text.startswith(FORMULA_START) else text


def safe_cell(value: object) -> object:
    """Return a cell value with :func:`safe_text` applied to text; other values unchanged."""
    return safe_text(value) if isinstance(value, str) else value


def id_text(value: object) -> str | None:
    """Return an id as text: 12.0 -> '12', '  A1 ' -> 'A1', missing -> None."""
    if is_missing(value) or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    text = unicodedata.normalize("NFKC", str(value)).strip()
    return text or None


def code_text(value: object) -> str | None:
    """Return an admin or line code as text: ``350582001.0`` read from Excel -> ``"350582001"``.

    Full-width digits are normalised and surrounding blanks dropped; ``None`` when missing.
    """
    if is_missing(value):
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return str(int(value)) if float(value).is_integer() else str(value)
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if re.fullmatch(r"\d+\.0+", text):
        text = text.split(".")[0]
    return text or None


def codes_text(values: pd.Series | pd.Index) -> pd.Series:
    """Return :func:`code_text` of every value as an object Series (an Index gets a range)."""
    series = values.to_series(index=range(len(values))) if isinstance(values, pd.Index) else values
    return pd.Series([code_text(v) for v in series.to_numpy(dtype=object)], index=series.index,
                     dtype=object)


#: Level of an administrative code by the length of its significant part.
CODE_LEVELS = {2: "province", 4: "city", 6: "county", 9: "town", 12: "village"}
_PADDED = ((12, 9), (9, 6), (6, 4), (4, 2))


def admin_code_key(code: str) -> str:
    """Return the significant part of an administrative code: its level's digits.

    Codes are written at several lengths (GB/T 2260 six digits, 统计用区划代码 nine or
    twelve), a higher unit padded with zeros: ``"350000"`` (福建省) -> ``"35"``,
    ``"350200"`` (厦门市) -> ``"3502"``, ``"350203000000"`` (思明区) -> ``"350203"``,
    ``"350203001000"`` (a street) -> ``"350203001"``. A unit contains another when the
    other's key starts with its key. Text that is not a 2/4/6/9/12-digit code is returned
    as it is.

    Examples
    --------
    >>> admin_code_key("350200"), admin_code_key("350203001"), admin_code_key("350203001002")
    ('3502', '350203001', '350203001002')
    """
    text = code.strip()
    if not text.isdigit() or len(text) not in CODE_LEVELS:
        return text
    for full, short in _PADDED:
        if len(text) == full and text.endswith("0" * (full - short)):
            text = text[:short]
    return text


def admin_code_level(code: str) -> str | None:
    """``"province"``, ``"city"``, ``"county"``, ``"town"`` or ``"village"`` of a code, or None."""
    key = admin_code_key(code)
    return CODE_LEVELS.get(len(key)) if key.isdigit() else None


_NUMBER_UNIT = re.compile(r"^([-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)"
                          r"(?:m2|m²|平方米|平米|张|床|个|位|座|间|处|人次|人|户|份|格)$",
                          re.IGNORECASE)


def clean_number_text(value: object) -> object:
    """Normalise a number typed as text: full-width digits, spaces, thousands separators, units.

    ``"１，２００"`` -> ``"1200"``, ``"350㎡"``/``"350 平方米"`` -> ``"350"``, ``"30张"`` ->
    ``"30"``; anything else that is not a number (``"约30"``, ``"20-30"``) is left for the
    caller to report.
    """
    if not isinstance(value, str):
        return value
    text = unicodedata.normalize("NFKC", value).strip().replace(",", "").replace(" ", "")
    if match := _NUMBER_UNIT.match(text):
        return match.group(1)
    return text if text else None


# --------------------------------------------------------------------------- coordinates
_HEMI = r"[NSEWnsew东西南北]|东经|北纬|西经|南纬"
_DMS = re.compile(
    rf"^(?P<h1>{_HEMI})?(?P<d>\d+(?:\.\d+)?)(?:°|度|:)"
    r"(?:(?P<m>\d+(?:\.\d+)?)(?:′|'|’|分|:))?"
    r"(?:(?P<s>\d+(?:\.\d+)?)(?:″|\"|”|′′|''|’’|秒)?)?"
    rf"(?P<h2>{_HEMI})?$")
_DECIMAL_HEMI = re.compile(rf"^(?P<h1>{_HEMI})?(?P<d>\d+(?:\.\d+)?)(?P<h2>{_HEMI})?$")


def parse_coordinate(value: object) -> float:
    r"""Parse one coordinate: a number, text number, or degrees-minutes-seconds.

    Accepts ``118.09``, ``"118.09"``, ``"１１８．０９"``, ``"118°05′24″"``, ``"118°5'24\\"E"``,
    ``"118:05:24"``, ``"118.09E"``, ``"东经118度05分24秒"``, ``"24°47.5′N"``; S/W/南/西 give a
    negative value.

    Returns
    -------
    float
        Decimal degrees (or metres for projected numbers); NaN for an empty cell.

    Raises
    ------
    ValueError
        If the text is not a number or valid DMS (minutes or seconds >= 60).
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(value))).replace(",", "")
    if not text:
        return math.nan
    try:
        return float(text)
    except ValueError:
        pass
    match = _DMS.match(text) or _DECIMAL_HEMI.match(text)
    if not match:
        msg = f"not a coordinate: {value!r}"
        raise ValueError(msg)
    minutes = float(match.groupdict().get("m") or 0)
    seconds = float(match.groupdict().get("s") or 0)
    if minutes >= 60 or seconds >= 60:
        msg = f"minutes/seconds must be < 60: {value!r}"
        raise ValueError(msg)
    result = float(match["d"]) + minutes / 60 + seconds / 3600
    hemis = (match["h1"] or "") + (match["h2"] or "")
    if any(h in hemis for h in ("S", "s", "W", "w", "南", "西")):
        result = -result
    return result


# --------------------------------------------------------------------------- CSV
def decode_csv(data: bytes, encoding: str | None) -> tuple[str, str]:
    """Decode CSV bytes: the given encoding, else UTF-8 (with or without BOM), else GBK."""
    if encoding:
        return data.decode(encoding), encoding
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        name = "gbk" if enc == "gb18030" else ("utf-8-sig" if data[:3] == b"\xef\xbb\xbf"
                                                else "utf-8")
        return text, name
    msg = "neither UTF-8 nor GBK"
    raise UnicodeDecodeError("utf-8", data[:1], 0, 1, msg)


def csv_frame(text: str, **kwargs: Any) -> pd.DataFrame:
    """Parse CSV text, sniffing the delimiter (comma, tab, semicolon or bar)."""
    sample = "\n".join(text.splitlines()[:20])
    try:
        sep = csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
    except csv.Error:
        sep = ","
    return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, **kwargs)


_EXCEL_EPOCH = pd.Timestamp("1899-12-30")


def parse_date(value: object) -> pd.Timestamp:
    """Return a cell as a date (midnight), or ``NaT`` when it is missing or not a date.

    Accepts dates and timestamps, Excel serial day numbers (``44197`` = 2021-01-01), compact
    ``20210101``, and text such as ``2021-01-01``, ``2021/1/1``, ``2021.1.1`` or
    ``2021年1月1日``. A bare year (``2021``, 1900–2100) or year and month (``2021.5``,
    ``2021年5月``) means its first day; a fractional number in that range is ambiguous (NaT).
    """
    if is_missing(value) or isinstance(value, bool):
        return pd.NaT
    if isinstance(value, dt.date | np.datetime64 | pd.Timestamp):
        stamp = pd.Timestamp(value)
        return pd.NaT if pd.isna(stamp) else stamp.tz_localize(None).normalize()
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
        if not math.isfinite(number):
            return pd.NaT
        if 19000101 <= number <= 21001231 and number.is_integer():
            return parse_date(str(int(number)))
        if 1900 <= number <= 2100:  # a year, not Excel day 1900 (= 1905-03-14)
            return pd.Timestamp(int(number), 1, 1) if number.is_integer() else pd.NaT
        if 1 <= number < 120_000:  # Excel serial day number (to about year 2228)
            return (_EXCEL_EPOCH + pd.Timedelta(days=int(number))).normalize()
        return pd.NaT
    text = unicodedata.normalize("NFKC", str(value)).strip()
    text = re.sub(r"\s*([年月日./-])\s*", r"\1", text)
    if not text:
        return pd.NaT
    month = re.fullmatch(r"((?:19|20)\d\d)\.(\d{1,2})", text)
    if month and 1 <= int(month[2]) <= 12:  # 2021.5 = May 2021
        return pd.Timestamp(int(month[1]), int(month[2]), 1)
    if re.fullmatch(r"\d+(\.\d+)?", text) and not re.fullmatch(r"\d{8}", text):
        return parse_date(float(text))
    if re.fullmatch(r"\d{8}", text):
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    text = re.sub(r"[年月./]", "-", text).replace("日", "").rstrip("-")
    try:
        stamp = pd.to_datetime(text, errors="coerce", format="mixed")
    except (ValueError, OverflowError):
        return pd.NaT
    return pd.NaT if pd.isna(stamp) else stamp.tz_localize(None).normalize()
