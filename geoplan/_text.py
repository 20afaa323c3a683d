"""Text helpers shared by the readers and the validation: normalisation and mojibake."""

from __future__ import annotations

import re
import unicodedata

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
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def id_text(value: object) -> str | None:
    """Return an id as text: 12.0 -> '12', '  A1 ' -> 'A1', missing -> None."""
    if is_missing(value) or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    text = unicodedata.normalize("NFKC", str(value)).strip()
    return text or None


def clean_number_text(value: object) -> object:
    """Normalise a number typed as text: full-width digits, spaces, thousands separators."""
    if not isinstance(value, str):
        return value
    text = unicodedata.normalize("NFKC", value).strip().replace(",", "").replace(" ", "")
    return text if text else None


