"""Boundary-marker numbering conventions (界桩编号规则): GB/T 17796-2009 and a register's own.

GB/T 17796-2009 numbers a marker with eight characters: the 4-character line code, a
3-digit serial running 001, 002, … along the line, and a type code: ``Q`` for a single marker
(单立), ``A``/``B`` for the two markers of one serial (同号双立; A stands on the side of the
smaller admin code), ``C``/``D``/``E`` for the three markers of one serial (同号三立). It is
the default (:data:`GBT_17796_2009`). Registers numbered otherwise (older registers, a
bureau's own scheme) declare their convention as a :class:`MarkerNumbering`: a regular
expression with named groups ``line`` (optional; the line code column is used without it),
``serial`` and ``type`` (optional when single markers carry no type code), and the type
codes of a single marker, a pair and a triple, the first code of a pair standing on the
smaller code's side.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Names of the three marker types (界桩类型).
SINGLE, PAIR, TRIPLE = "单立", "同号双立", "同号三立"


@dataclass(frozen=True)
class MarkerNumbering:
    """How a register numbers its markers.

    Parameters
    ----------
    name
        How the convention is called in findings (e.g. ``"GB/T 17796-2009"``).
    pattern
        Regular expression a whole marker number must match, with named groups ``serial``
        (digits), ``type`` (the type code; optional) and ``line`` (the line code; optional).
    single, pair, triple
        Type codes of a single marker, of the two markers of a pair (the first on the side of
        the smaller admin code) and of the three markers of a triple; ``""`` is a number
        without a type code. Leave a kind empty if the register does not use it.
    serial_pattern
        Optional expression matched at the start of a malformed number to still read its line
        and serial (so a typo in the type code does not also open a gap in the sequence).

    Raises
    ------
    ValueError
        If the pattern does not compile or lacks a ``serial`` group, a pair does not have two
        codes or a triple three, or a code is used by two kinds.
    """

    name: str = "GB/T 17796-2009"
    pattern: str = r"(?P<line>[0-9A-Za-z]{4})(?P<serial>[0-9]{3})(?P<type>[QABCDE])"
    single: tuple[str, ...] = ("Q",)
    pair: tuple[str, ...] = ("A", "B")
    triple: tuple[str, ...] = ("C", "D", "E")
    serial_pattern: str | None = r"(?P<line>[0-9A-Za-z]{4})(?P<serial>[0-9]{3})(?![0-9])"
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("single", "pair", "triple"):
            object.__setattr__(self, name, tuple(str(c) for c in getattr(self, name)))
        try:
            regex = re.compile(self.pattern)
            if self.serial_pattern is not None:
                re.compile(self.serial_pattern)
        except re.error as exc:
            raise ValueError(f"marker numbering {self.name!r}: bad pattern: {exc}") from None
        if "serial" not in regex.groupindex:
            raise ValueError(f"marker numbering {self.name!r}: the pattern needs a (?P<serial>…) "
                             "group")
        if len(self.single) > 1 or len(self.pair) not in (0, 2) or len(self.triple) not in (0, 3):
            raise ValueError(f"marker numbering {self.name!r}: give one code for a single "
                             "marker, two for a pair and three for a triple (or none)")
        codes = [*self.single, *self.pair, *self.triple]
        if len(set(codes)) != len(codes):
            raise ValueError(f"marker numbering {self.name!r}: type codes {codes} repeat; "
                             "each code must name one kind of marker")
        object.__setattr__(self, "_regex", regex)

    @property
    def groups(self) -> dict[str, tuple[str, ...]]:
        """Marker type -> the type codes of one serial's complete group (used kinds only)."""
        out = {SINGLE: self.single, PAIR: self.pair, TRIPLE: self.triple}
        return {kind: codes for kind, codes in out.items() if codes}

    def kind_of(self, code: str) -> str:
        """Return the marker type (单立/同号双立/同号三立) of a type code."""
        return next(kind for kind, codes in self.groups.items() if code in codes)

    def codes_text(self) -> str:
        """Return the type codes in words: ``Q（单立）、A/B（同号双立）、C/D/E（同号三立）``."""
        return "、".join(f"{'/'.join(c or '无' for c in codes)}（{kind}）"
                        for kind, codes in self.groups.items())


#: The default convention.
GBT_17796_2009 = MarkerNumbering()


def numbering_from(value: MarkerNumbering | Mapping[str, Any] | str | None) -> MarkerNumbering:
    """Return a :class:`MarkerNumbering` from ``None`` (GB/T 17796-2009), a name or a mapping.

    Raises
    ------
    ValueError
        For an unknown name or a mapping that does not make a valid convention.
    """
    if value is None or isinstance(value, MarkerNumbering):
        return value or GBT_17796_2009
    if isinstance(value, str):
        key = re.sub(r"[\s/_.-]", "", value).lower()
        if key in ("gbt177962009", "gb177962009", "gbt17796"):
            return GBT_17796_2009
        raise ValueError(f"unknown marker numbering {value!r}; use 'GB/T 17796-2009' or give "
                         "pattern, single, pair and triple")
    known = set(MarkerNumbering.__dataclass_fields__) - {"_regex"}
    unknown = sorted(set(value) - known)
    if unknown:
        raise ValueError(f"unknown marker numbering key(s) {unknown}; known: {sorted(known)}")
    return MarkerNumbering(**{"name": "成果表编号规则", **value})


def parse_number(value: object, numbering: MarkerNumbering = GBT_17796_2009
                 ) -> dict[str, Any] | None:
    """Split a well-formed marker number into line code, serial and type code.

    Returns ``{"line": str | None, "serial": int, "type": str}`` or ``None`` for a number
    that does not follow the convention (a serial of 0 included).

    Examples
    --------
    >>> parse_number("0003012B")
    {'line': '0003', 'serial': 12, 'type': 'B'}
    >>> parse_number("000312Q") is None
    True
    """
    if not isinstance(value, str):
        return None
    match = numbering._regex.fullmatch(value.strip())
    if match is None:
        return None
    parts = match.groupdict()
    code = parts.get("type") or ""
    if not parts["serial"] or not parts["serial"].isascii() or not parts["serial"].isdigit():
        return None
    if int(parts["serial"]) == 0 or code not in (*numbering.single, *numbering.pair,
                                                 *numbering.triple):
        return None
    return {"line": parts.get("line"), "serial": int(parts["serial"]), "type": code}


def serial_of(value: str, numbering: MarkerNumbering = GBT_17796_2009
              ) -> tuple[str | None, int] | None:
    """Line code and serial of a number, read even when its type code is wrong; else None."""
    parsed = parse_number(value, numbering)
    if parsed is not None:
        return parsed["line"], parsed["serial"]
    if numbering.serial_pattern is None:
        return None
    match = re.match(numbering.serial_pattern, value.strip())
    if match is None or not match["serial"].isascii() or int(match["serial"]) == 0:
        return None
    return match.groupdict().get("line"), int(match["serial"])


def malformed_reason(number: str, numbering: MarkerNumbering = GBT_17796_2009) -> str:
    """Say why a marker number does not follow the convention."""
    if not number:
        return "缺少界桩编号"
    head = f"编号“{number}”"
    if unicodedata.normalize("NFKC", number) != number:
        return f"{head}含全角字符，应为半角数字和大写字母"
    if numbering != GBT_17796_2009:
        return f"{head}不符合成果表的编号规则（{numbering.name}：{numbering.codes_text()}）"
    if len(number) != 8:
        return f"{head}应为 8 位（4 位界线编码 + 3 位序号 + 类型码），实为 {len(number)} 位"
    if not re.fullmatch(r"[0-9A-Za-z]{4}", number[:4]):
        return f"{head}的界线编码“{number[:4]}”应为 4 位数字或字母"
    if not re.fullmatch(r"[0-9]{3}", number[4:7]):
        return f"{head}的序号“{number[4:7]}”应为 3 位数字"
    if number[4:7] == "000":
        return f"{head}的序号应从 001 起"
    letter = number[7]
    known = (*numbering.single, *numbering.pair, *numbering.triple)
    case = "（类型码须大写）" if letter.upper() in known else ""
    return f"{head}的类型码“{letter}”不是 {numbering.codes_text()} 之一{case}"
