"""Service hours and promised call-back times (pure functions of a clock reading)."""

from __future__ import annotations

import datetime as dt
import math
from zoneinfo import ZoneInfo

from handoff.config import ServiceHours

# A promise that would leave the desk less than this before closing goes to the next day.
MIN_TIME_BEFORE_CLOSING = dt.timedelta(minutes=60)
FOLLOW_UP_EARLIEST = dt.time(10, 0)


def _local_day_bounds(day: dt.date, hours: ServiceHours, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    midnight = dt.datetime.combine(day, dt.time(0, 0), tzinfo=tz)
    opening = midnight + dt.timedelta(minutes=hours.open_minutes)
    closing = midnight + dt.timedelta(minutes=hours.close_minutes)
    return opening, closing


def is_open(now: dt.datetime, hours: ServiceHours, tz: ZoneInfo) -> bool:
    local = now.astimezone(tz)
    opening, closing = _local_day_bounds(local.date(), hours, tz)
    return opening <= local < closing


def _ceil_to_hour(moment: dt.datetime) -> dt.datetime:
    floor = moment.replace(minute=0, second=0, microsecond=0)
    return floor if floor == moment else floor + dt.timedelta(hours=1)


def callback_due(now: dt.datetime, hours: ServiceHours, tz: ZoneInfo, promise_hours: int) -> dt.datetime:
    """When we promise to have called back: `promise_hours` of open desk time, on a whole hour.

    Inside opening hours: now + promise (rounded up), but never after closing; if the desk
    closes within the hour, the promise moves to the next opening. Before opening: opening +
    promise. After closing: the next day's opening + promise.
    """
    local = now.astimezone(tz)
    opening, closing = _local_day_bounds(local.date(), hours, tz)
    promise = dt.timedelta(hours=promise_hours)
    if local < opening:
        return min(_ceil_to_hour(opening + promise), closing)
    if local < closing and closing - local >= MIN_TIME_BEFORE_CLOSING:
        return min(_ceil_to_hour(local + promise), closing)
    next_opening, next_closing = _local_day_bounds(local.date() + dt.timedelta(days=1), hours, tz)
    return min(_ceil_to_hour(next_opening + promise), next_closing)


def follow_up_due(now: dt.datetime, hours: ServiceHours, tz: ZoneInfo, promise_hours: int) -> dt.datetime:
    """次日回访: the next day, `promise_hours` after the desk opens (never before 10:00, so a
    round-the-clock desk does not plan to ring an elderly person in the small hours)."""
    local = now.astimezone(tz)
    day = local.date() + dt.timedelta(days=1)
    next_opening, next_closing = _local_day_bounds(day, hours, tz)
    earliest = dt.datetime.combine(day, FOLLOW_UP_EARLIEST, tzinfo=tz)
    return min(max(_ceil_to_hour(next_opening + promise_hours * dt.timedelta(hours=1)), earliest), next_closing)


def describe_deadline(due: dt.datetime, now: dt.datetime, tz: ZoneInfo) -> str:
    """「今天18点」, 「明天10点」, 「11月25日10点30分」 (local time, for the subscriber)."""
    local_due = due.astimezone(tz)
    days = (local_due.date() - now.astimezone(tz).date()).days
    clock = f"{local_due.hour}点" if local_due.minute == 0 else f"{local_due.hour}点{local_due.minute}分"
    if local_due.hour == 0 and local_due.minute == 0:
        # a 24:00 closing: "before midnight" reads better as the end of the previous day
        clock, days = "24点", days - 1
        local_due = local_due - dt.timedelta(days=1)
    if days == 0:
        return f"今天{clock}"
    if days == 1:
        return f"明天{clock}"
    return f"{local_due.month}月{local_due.day}日{clock}"


def minutes_between(earlier: dt.datetime, later: dt.datetime) -> int:
    return max(0, math.floor((later - earlier).total_seconds() / 60))
