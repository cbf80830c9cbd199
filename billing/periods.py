"""Clock and billing months. Months follow the subscriber's calendar (Asia/Shanghai), not UTC."""

from __future__ import annotations

import datetime as dt
import re
from typing import Callable
from zoneinfo import ZoneInfo

BILLING_TZ = ZoneInfo("Asia/Shanghai")
MONTH_PATTERN = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def local_date(moment: dt.datetime) -> dt.date:
    """The calendar date in China at an aware moment."""
    return moment.astimezone(BILLING_TZ).date()


def month_of(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def parse_month(month: str) -> tuple[int, int]:
    match = MONTH_PATTERN.match(month)
    if not match:
        raise ValueError(f"month must look like 2026-11, got {month!r}")
    return int(match.group(1)), int(match.group(2))


def shift_month(month: str, delta: int) -> str:
    """shift_month("2026-01", -1) == "2025-12"."""
    year, number = parse_month(month)
    index = year * 12 + (number - 1) + delta
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def first_of_next_month(day: dt.date) -> dt.date:
    if day.month == 12:
        return dt.date(day.year + 1, 1, 1)
    return dt.date(day.year, day.month + 1, 1)


_CN_MONTHS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_CN_MONTHS.update({"十一": 11, "十二": 12})
_YEAR_MONTH = re.compile(r"(\d{4}|\d{2})\s*年\s*(\d{1,2}|十[一二]?|[一二三四五六七八九])\s*月")
_RELATIVE_YEAR_MONTH = re.compile(r"(今年|去年|前年)\s*(\d{1,2}|十[一二]?|[一二三四五六七八九])\s*月")
_MONTH = re.compile(r"(?<![\d个])(\d{1,2}|十[一二]?|(?<!十)[一二三四五六七八九])\s*月(?!\d)")
_BEFORE_LAST = re.compile(r"上上个?月")
_LAST = re.compile(r"上个?月")
_THIS = re.compile(r"本月|这个?月|当月|今个月")


# 「最近三个月」「这几个月」「近半年」: several months back from last month, at most half a year.
_MONTHS_BACK = re.compile(r"(最近|近|这|前|过去)\s*([两二三四五六2-6几])\s*个\s*月|(最近|近|过去)\s*半年")
_BACK_COUNTS = {"两": 2, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "几": 3}
MAX_MONTHS_BACK = 6


def months_back_asked(text: str) -> int | None:
    """How many completed months a sentence asks about (「最近三个月的账单」: 3), or None."""
    match = _MONTHS_BACK.search(text or "")
    if match is None:
        return None
    if match.group(2) is None:
        return MAX_MONTHS_BACK
    token = match.group(2)
    return int(token) if token.isdigit() else _BACK_COUNTS[token]


def _month_number(token: str) -> int | None:
    number = int(token) if token.isdigit() else _CN_MONTHS.get(token)
    return number if number is not None and 1 <= number <= 12 else None


def month_asked(text: str, today: dt.date) -> str | None:
    """The billing month a subscriber's sentence asks about ("2026-10"), or None if it names none.

    上上个月 / 上个月 / 本月 (这个月) are relative to `today`; 「2026年10月」 and 「去年10月」 name
    the year; a bare 「10月」 (十月, 10月份) is the latest October not after this month.
    """
    text = text or ""
    current = month_of(today)
    match = _YEAR_MONTH.search(text)
    if match:
        year = int(match.group(1))
        number = _month_number(match.group(2))
        if number is not None:
            return f"{year + 2000 if year < 100 else year:04d}-{number:02d}"
    match = _RELATIVE_YEAR_MONTH.search(text)
    if match:
        number = _month_number(match.group(2))
        if number is not None:
            year = today.year - {"今年": 0, "去年": 1, "前年": 2}[match.group(1)]
            return f"{year:04d}-{number:02d}"
    if _BEFORE_LAST.search(text):
        return shift_month(current, -2)
    if _LAST.search(text):
        return shift_month(current, -1)
    if _THIS.search(text):
        return current
    match = _MONTH.search(text)
    if match:
        number = _month_number(match.group(1))
        if number is not None:
            year = today.year if number <= today.month else today.year - 1
            return f"{year:04d}-{number:02d}"
    return None
