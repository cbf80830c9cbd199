"""Numbers as subscribers write or say them: 50, ５０ (after normalisation), 五十, 两百,
一百五 (=150), 一千二 (=1200), 一百零五, 三十块, 幺三八 (digit by digit, in phone numbers)."""

from __future__ import annotations

import re

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
    if text[0].isdigit():
        try:
            return int(float(text)) if "." in text else int(text)
        except ValueError:
            return None
    return parse_chinese_number(text)
