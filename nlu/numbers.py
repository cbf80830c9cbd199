"""Numbers as subscribers write or say them: 50, ５０ (after normalisation), 五十, 两百,
一百五 (=150), 一千二 (=1200), 一百零五, 三十块, 幺三八 (digit by digit, in phone numbers), and
amounts mixing digits and units: 5千 (=5000), 1.5万 (=15000), 1万5 (=15000), 1,000.

`read_amount` never raises and never guesses: a negative, an exponent (1e3), a fraction of a
yuan or an absurdly long numeral is reported as a problem, not read as some other number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "幺": 1,
    "二": 2,
    "两": 2,
    "俩": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}

CHINESE_NUMERAL = "零〇一幺二两俩三四五六七八九十百千万"
NUMBER_PATTERN = re.compile(rf"\d+(?:\.\d+)?|[{CHINESE_NUMERAL}]+")

# One amount as written: an optional sign, Arabic digits (1,000 / 12.5 / 1e3) with optional
# Chinese units after them (5千, 1.5万, 1万5千), or a Chinese numeral. Used inside larger patterns.
_ARABIC = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?"
_UNIT_TAIL = rf"(?:[十百千万][\d{CHINESE_NUMERAL}]*)?"
AMOUNT_TOKEN = rf"(?:(?<!\d)[-−]|负)?\s*(?:{_ARABIC}{_UNIT_TAIL}|[{CHINESE_NUMERAL}]+)"

MAX_AMOUNT_DIGITS = 9  # a longer numeral is no amount anyone means (and must not reach int())
MAX_AMOUNT = 10**MAX_AMOUNT_DIGITS
NEGATIVE, EXPONENT, FRACTION, TOO_LONG, UNREADABLE = "negative", "exponent", "fraction", "too_long", "unreadable"


@dataclass(frozen=True)
class AmountReading:
    """Whole yuan when understood (`value`), else why not (`problem`)."""

    value: int | None
    problem: str | None = None


def read_amount(token: str) -> AmountReading:
    """The amount an AMOUNT_TOKEN stands for, or the problem with it. Never raises."""
    text = token.strip()
    if text[:1] in ("-", "−", "负"):
        return AmountReading(None, NEGATIVE)
    if "e" in text or "E" in text:
        return AmountReading(None, EXPONENT)
    text = text.replace(",", "")
    integer_digits = re.findall(r"\d+", text.split(".")[0])
    if sum(len(d) for d in integer_digits) > MAX_AMOUNT_DIGITS or len(text) > 2 * MAX_AMOUNT_DIGITS:
        return AmountReading(None, TOO_LONG)
    try:
        value = _mixed_value(text)
    except (ArithmeticError, ValueError, KeyError):
        value = None
    if value is None:
        return AmountReading(None, UNREADABLE)
    if value >= MAX_AMOUNT:
        return AmountReading(None, TOO_LONG)
    if value != value.to_integral_value():
        return AmountReading(None, FRACTION)
    return AmountReading(int(value))


def _units_in_order(text: str) -> bool:
    """十百千 fall within a 万 group and 万 comes once: 一万五千 yes, 5千千 or 三万万 no."""
    units = [_UNITS[ch] for ch in text if ch in _UNITS]
    if units.count(10000) > 1:
        return False
    previous = 10**9
    for unit in units:
        if unit == 10000:
            previous = 10000
        elif unit >= previous:
            return False
        else:
            previous = unit
    return True


def _mixed_value(text: str) -> Decimal | None:
    if not text or not _units_in_order(text):
        return None
    if not re.search(r"[\d.]", text):
        chinese = parse_chinese_number(text)
        return Decimal(chinese) if chinese is not None else None
    parts = re.findall(rf"\d+(?:\.\d+)?|[{CHINESE_NUMERAL}]", text)
    if "".join(parts) != text:
        return None
    total = Decimal(0)  # completed 万 groups
    section = Decimal(0)  # value below 万
    digit: Decimal | None = None
    after_zero = False
    last_unit = 1
    for part in parts:
        if part in _UNITS:
            unit = _UNITS[part]
            if unit == 10000:
                section += digit or 0
                total += (section or 1) * 10000
                section, digit, last_unit = Decimal(0), None, 10000
            else:
                section += (digit if digit is not None else 1) * unit
                digit, last_unit = None, unit
            after_zero = False
            continue
        value = Decimal(part) if part[0].isdigit() else Decimal(_DIGITS[part])
        if digit is not None and digit != 0:
            return None  # two numbers in a row: 「5五」
        after_zero = digit is not None  # 一百零五
        digit = value
    if digit is not None:
        # 5千5 = 5500, 1万5 = 15000 (the next lower place), but 一百零五 = 105 and 5十5 = 55.
        if last_unit == 1 or after_zero or last_unit == 10:
            section += digit
        else:
            section += digit * (last_unit // 10)
    return total + section


def parse_chinese_number(text: str) -> int | None:
    """Value of a Chinese numeral string, or None if it is not one."""
    if not text or any(ch not in _DIGITS and ch not in _UNITS for ch in text):
        return None
    if all(ch in _DIGITS for ch in text):
        if len(text) == 1:
            return _DIGITS[text]
        # Digit by digit, as in 幺三八零 (phone numbers, codes).
        return int("".join(str(_DIGITS[ch]) for ch in text))
    total = 0  # completed 万 groups
    section = 0  # value below 万
    digit: int | None = None
    last_unit = 1
    for ch in text:
        if ch in _DIGITS:
            digit = _DIGITS[ch]
            continue
        unit = _UNITS[ch]
        if unit == 10000:
            section += digit or 0
            total += (section or 1) * 10000
            section, digit, last_unit = 0, None, 10000
            continue
        section += (digit if digit is not None else 1) * unit
        digit, last_unit = None, unit
    if digit is not None:
        # A trailing digit after a unit is shorthand for the next lower place:
        # 一百五 = 150, 一千二 = 1200, 两万五 = 25000; but 一百零五 = 105.
        if text[-2] == "零" or last_unit == 10:
            section += digit
        else:
            section += digit * (last_unit // 10)
    return total + section


def parse_number(text: str) -> int | None:
    """Integer value of Arabic digits or a Chinese numeral (decimals are truncated)."""
    if not text:
        return None
    try:
        if text[0].isdigit():
            return int(float(text)) if "." in text else int(text)
        return parse_chinese_number(text)
    except (ValueError, OverflowError):  # 400 digits and a decimal point, 5,000 digits: not a number
        return None
