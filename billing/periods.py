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
