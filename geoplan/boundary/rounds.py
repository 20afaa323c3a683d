"""The joint-inspection round schedule (联检周期): last and next round of every line, the plan.

Every administrative boundary line is inspected jointly by both sides every five years (the
cycle is a setting). From the rounds recorded (联检记录) this module gives each line's last
round and next due date, the year's plan (联检计划) and the findings of overdue lines and of
round records that cannot be used (unknown line, unreadable date).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geoplan._text import is_missing, parse_date
from geoplan.boundary.findings import finding, findings_frame, normalize_code
from geoplan.errors import require_columns

#: Columns of the round schedule (one row per line).
SCHEDULE_COLUMNS = [
    "line_code",
    "name",
    "level",
    "left_code",
    "right_code",
    "rounds_done",
    "last_round_no",
    "last_inspected_on",
    "agreement_signed",
    "next_round_no",
    "next_due",
    "overdue",
    "status",
]


def as_date(value: Any) -> pd.Timestamp:
    """Return a date as a normalised Timestamp (raises ValueError for missing or unparseable)."""
    stamp = parse_date(value)
    if pd.isna(stamp):
        raise ValueError(f"reference_date must be a date, got {value!r}")
    return stamp.normalize()


def _truthy(value: Any) -> bool | None:
    """Read a yes/no cell (True/False, 1/0, 是/否, yes/no); ``None`` when missing."""
    if is_missing(value):
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("是", "已签", "已签订", "true", "yes", "y", "1"):
            return True
        if text in ("否", "未签", "未签订", "false", "no", "n", "0", ""):
            return False
        return None
    return bool(value)


def inspection_schedule(
    lines: pd.DataFrame,
    rounds: pd.DataFrame | None,
    *,
    reference_date: Any,
    cycle_years: int = 5,
) -> pd.DataFrame:
    """Return the round schedule: last round and next due round of every line.

    The next round is due ``cycle_years`` after the last one; a line never inspected is due
    at ``reference_date``. A line is overdue when its due date lies before ``reference_date``.

    Parameters
    ----------
    lines
        Boundary lines (``line_code``; ``name``, ``level``, ``left_code``, ``right_code`` are
        copied when present).
    rounds
        Inspection rounds (``line_code``, ``round_no``, ``inspected_on``, optional
        ``findings`` and ``agreement_signed``); ``None`` = no round recorded.
    reference_date
        Date the schedule is judged at.
    cycle_years
        Inspection cycle in years.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SCHEDULE_COLUMNS`, one row per line, sorted by ``line_code``.
    """
    ref = as_date(reference_date)
    done = _clean_rounds(rounds)
    out = []
    seen: set[str | None] = set()
    codes = [normalize_code(c) for c in lines["line_code"]]
    order = sorted(range(len(lines)), key=lambda i: str(codes[i]))
    for i in order:
        line, code = lines.iloc[i], codes[i]
        if code in seen:  # a repeated line code is reported by check_lines_against_units
            continue
        seen.add(code)
        mine = done[done["line_code"] == code].sort_values(["inspected_on", "round_no"])
        rec = {col: line.get(col) for col in ("name", "level", "left_code", "right_code")}
        rec["line_code"] = code
        rec["rounds_done"] = len(mine)
        if len(mine):
            last = mine.iloc[-1]
            last_no = last["round_no"]
            rec.update(
                last_round_no=last_no,
                last_inspected_on=last["inspected_on"],
                agreement_signed=last["agreement_signed"],
                next_round_no=None if pd.isna(last_no) else int(last_no) + 1,
                next_due=last["inspected_on"] + pd.DateOffset(years=cycle_years),
            )
        else:
            rec.update(next_due=ref)
        overdue = bool(rec["next_due"] < ref)
        rec["overdue"] = overdue
        if not len(mine):
            rec["status"] = "无联检记录，应即安排"
        elif overdue:
            rec["status"] = f"逾期 {(ref - rec['next_due']).days} 天"
        elif rec["next_due"].year == ref.year:
            rec["status"] = "本年到期"
        else:
            rec["status"] = "未到期"
        out.append(rec)
    table = pd.DataFrame(out, columns=SCHEDULE_COLUMNS)
    for col in ("last_inspected_on", "next_due"):
        table[col] = pd.to_datetime(table[col])
    for col in ("last_round_no", "next_round_no"):
        table[col] = table[col].astype("Int64")
    return table.reset_index(drop=True)


def _clean_rounds(rounds: pd.DataFrame | None, *, undated: bool = False) -> pd.DataFrame:
    """Return the rounds with text line codes, dates and round numbers.

    Rows without a readable date are dropped, or, with ``undated=True``, are the only rows
    returned (with the cell as written in ``raw_date``).
    """
    cols = ["line_code", "round_no", "inspected_on", "findings", "agreement_signed", "row"]
    cols += ["raw_date"]
    if rounds is None or len(rounds) == 0:
        return pd.DataFrame(columns=cols)
    require_columns(rounds, ("line_code", "inspected_on"), "inspection rounds")
    frame = pd.DataFrame(rounds).copy()
    frame["row"] = [str(i) for i in frame.index]
    frame["line_code"] = [normalize_code(v) for v in frame["line_code"]]
    raw = frame["inspected_on"]
    frame["raw_date"] = ["" if is_missing(v) else str(v).strip() for v in raw]
    frame["inspected_on"] = pd.to_datetime(
        pd.Series([parse_date(v) for v in raw], dtype=object, index=frame.index)
    )
    if "round_no" not in frame.columns:
        frame["round_no"] = None
    frame["round_no"] = [_round_no(v) for v in frame["round_no"]]
    frame["round_no"] = frame["round_no"].astype("Int64")
    frame["agreement_signed"] = [
        _truthy(v) for v in frame.get("agreement_signed", pd.Series(None, index=frame.index))
    ]
    if "findings" not in frame.columns:
        frame["findings"] = None
    keep = frame["inspected_on"].isna() if undated else frame["inspected_on"].notna()
    return frame.loc[keep, cols]


_ROUND_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def _round_no(value: Any) -> int | None:
    """Read a round number: ``4``, ``4.0``, ``"4"``, ``"第4轮"`` or ``"第四轮"``; else ``None``."""
    if is_missing(value) or isinstance(value, bool):
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
        return int(number) if number.is_integer() else None
    text = str(value).strip().removeprefix("第").removesuffix("轮").strip()
    if text.isdigit():
        return int(text)
    if text == "十":
        return 10
    return _ROUND_DIGITS.get(text)


def _round_text(number: Any) -> str:
    """``第4轮``, or ``轮次不详`` when the round number is missing."""
    return "轮次不详" if is_missing(number) else f"第{int(number)}轮"


def inspection_plan(schedule: pd.DataFrame, year: int) -> pd.DataFrame:
    """Return the year's joint-inspection plan (联检计划): lines due in or before ``year``.

    Parameters
    ----------
    schedule
        Output of :func:`inspection_schedule`.
    year
        Plan year.

    Returns
    -------
    pandas.DataFrame
        The schedule rows due by the end of ``year`` (overdue lines first), sorted by due date
        and line code, with a ``plan_year`` column.
    """
    due = schedule[schedule["next_due"].dt.year <= year].copy()
    due["plan_year"] = year
    return due.sort_values(["next_due", "line_code"], kind="stable").reset_index(drop=True)


def check_rounds(
    schedule: pd.DataFrame,
    rounds: pd.DataFrame | None,
    lines: gpd.GeoDataFrame,
    *,
    reference_date: Any,
    cycle_years: int = 5,
) -> gpd.GeoDataFrame:
    """Return ``round_overdue`` (per overdue line) and ``round_unknown_line`` findings.

    An overdue line's value is the years since its last round, against the cycle.

    Parameters
    ----------
    schedule
        Output of :func:`inspection_schedule`.
    rounds
        The inspection rounds (for rows naming lines that do not exist).
    lines
        Boundary lines (geometry of the findings).
    reference_date
        Date the schedule is judged at.
    cycle_years
        The inspection cycle the schedule was made with (the tolerance of the findings).
    """
    ref = as_date(reference_date)
    geom_of = {
        normalize_code(c): g for c, g in zip(lines["line_code"], lines.geometry.values, strict=True)
    }
    records = []
    for rec in schedule[schedule["overdue"]].itertuples(index=False):
        days = (ref - rec.next_due).days
        records.append(
            finding(
                "round_overdue",
                rec.line_code,
                f"上次联检 {rec.last_inspected_on:%Y-%m-%d}（{_round_text(rec.last_round_no)}），"
                f"应于 {rec.next_due:%Y-%m-%d} 前完成下一轮，已逾期 {days} 天",
                geometry=geom_of.get(rec.line_code),
                line_code=rec.line_code,
                value=(ref - rec.last_inspected_on).days / 365.25,
                tolerance=cycle_years,
                row=rec.line_code,
            )
        )
    done = _clean_rounds(rounds)
    for rec in done[~done["line_code"].isin(list(geom_of))].itertuples(index=False):
        records.append(
            finding(
                "round_unknown_line",
                str(rec.line_code),
                f"联检记录（{_round_text(rec.round_no)}，{rec.inspected_on:%Y-%m-%d}）"
                "的界线不在界线图层中",
                line_code=rec.line_code,
                row=rec.row,
            )
        )
    for rec in _clean_rounds(rounds, undated=True).itertuples(index=False):
        what = f"日期“{rec.raw_date}”无法识别" if rec.raw_date else "缺少联检日期"
        records.append(
            finding(
                "round_bad_date",
                str(rec.line_code),
                f"联检记录（{_round_text(rec.round_no)}）{what}，未计入联检周期",
                geometry=geom_of.get(rec.line_code),
                line_code=rec.line_code,
                row=rec.row,
            )
        )
    return findings_frame(records, lines.crs)
