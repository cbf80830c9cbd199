"""Reply text -> text a Mandarin voice reads naturally (the synthesiser reads Chinese characters only).

12.60元 -> 十二块六毛, 2026年12月4日 -> 二零二六年十二月四日, 18:00 -> 十八点, 1.5GB -> 一点五吉,
13800000001 -> 幺三八零零零零零零零幺 (phone numbers and codes digit by digit, 1 as 幺),
138****0001 -> 幺三八，尾号零零零幺; links are not read out. Pure functions, no state.
"""

from __future__ import annotations

import re

DIGITS = "零一二三四五六七八九"
# Digit by digit, as numbers are read on the phone: 1 is 幺 so it is not heard as 七.
PHONE_DIGITS = "零幺二三四五六七八九"
_SMALL_UNITS = ["", "十", "百", "千"]
_BIG_UNITS = ["", "万", "亿", "万亿"]

_URL = re.compile(r"https?://\S+")
_QUOTES = re.compile(r"[「」『』“”\"'《》]")
_MASKED_PHONE = re.compile(r"(?<!\d)(\d{3})\*{4}(\d{4})(?!\d)")
_DIGIT_STRING = re.compile(r"(?<![\d.])(\d{5,})(?![\d.])")  # phone numbers, codes, order numbers
_FULL_DATE = re.compile(r"(\d{4})\s*(?:年|-|/)\s*(\d{1,2})\s*(?:月|-|/)\s*(\d{1,2})\s*[日号]?")
_YEAR = re.compile(r"(\d{4})\s*年")
_CLOCK = re.compile(r"(?<!\d)(\d{1,2}):(\d{2})(?!\d)")
_MONEY = re.compile(r"[¥￥]\s*(-?\d+(?:\.\d{1,2})?)|(-?\d+(?:\.\d{1,2})?)\s*元")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")
_DATA = re.compile(r"(\d+(?:\.\d+)?)\s*(GB|G|MB|M|KB|K)\b", re.IGNORECASE)
_LIST_ITEM = re.compile(r"^\s*(\d{1,2})[.、．)]\s*", re.MULTILINE)
_NUMBER = re.compile(r"(-?)(\d+)(?:\.(\d+))?")
_UNSPOKEN = re.compile(r"[^\u4e00-\u9fff，。！？；：、,.!?;:\n]+")
_DATA_UNITS = {"gb": "吉", "g": "吉", "mb": "兆", "m": "兆", "kb": "K", "k": "K"}  # "G" is read jī


def cardinal(number: int, *, liang: bool = False) -> str:
    """123 -> 一百二十三, 10 -> 十, 105 -> 一百零五, 20000 -> 两万 (liang: 2 before a unit, or alone, is 两)."""
    if number < 0:
        return "负" + cardinal(-number, liang=liang)
    if number == 0:
        return "零"
    groups: list[int] = []
    while number:
        number, group = divmod(number, 10000)
        groups.append(group)
    parts: list[str] = []
    zero_pending = False
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            zero_pending = bool(parts)
            continue
        if parts and (zero_pending or group < 1000):
            parts.append("零")
        parts.append(_group(group) + _BIG_UNITS[index])
        zero_pending = False
    text = "".join(parts)
    if text.startswith("一十"):
        text = text[1:]  # 十二, not 一十二
    if liang:
        text = re.sub(r"^二(?=[百千万亿])", "两", text)
        text = "两" if text == "二" else text
    return text


def _group(number: int) -> str:
    """0 < number < 10000 -> characters, with 零 for inner gaps (1005 -> 一千零五)."""
    text = ""
    digits = f"{number:04d}"
    gap = False
    started = False
    for position, char in enumerate(digits):
        digit = int(char)
        unit = _SMALL_UNITS[3 - position]
        if digit == 0:
            gap = started
            continue
        if gap:
            text += "零"
        text += DIGITS[digit] + unit
        started = True
        gap = False
    return text


def digit_by_digit(digits: str, *, phone: bool = True) -> str:
    table = PHONE_DIGITS if phone else DIGITS
    return "".join(table[int(char)] for char in digits if char.isdigit())


def decimal(text: str, *, liang: bool = False) -> str:
    """ "3.5" -> 三点五, "-2" -> 负二."""
    match = _NUMBER.fullmatch(text)
    if match is None:
        return text
    sign, whole, fraction = match.groups()
    spoken = ("负" if sign else "") + cardinal(int(whole), liang=liang and not fraction)
    if fraction:
        spoken += "点" + digit_by_digit(fraction, phone=False)
    return spoken


def money(amount: str) -> str:
    """ "12.60" -> 十二块六毛, "0.05" -> 五分, "100" -> 一百块, "12.05" -> 十二块零五分."""
    negative = amount.startswith("-")
    whole, _, fraction = amount.lstrip("-").partition(".")
    fraction = (fraction + "00")[:2]
    yuan, jiao, fen = int(whole), int(fraction[0]), int(fraction[1])
    parts = []
    if yuan:
        parts.append(cardinal(yuan, liang=True) + "块")
    if jiao:
        parts.append(cardinal(jiao, liang=True) + "毛")
    if fen:
        parts.append(("零" if yuan and not jiao else "") + cardinal(fen, liang=True) + "分")
    spoken = "".join(parts) or "零元"
    return ("负" if negative else "") + spoken


def _date(match: re.Match[str]) -> str:
    year, month, day = match.groups()
    return f"{digit_by_digit(year, phone=False)}年{cardinal(int(month))}月{cardinal(int(day))}日"


def _clock(match: re.Match[str]) -> str:
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 24 or minute > 59:
        return match.group(0)
    spoken = f"{cardinal(hour, liang=True)}点"
    if minute:
        spoken += ("零" if minute < 10 else "") + cardinal(minute) + "分"
    return spoken


def speakable(text: str) -> str:
    """The reply as the synthesiser should read it: numbers in words, nothing it cannot pronounce."""
    text = _URL.sub("", text)
    text = _QUOTES.sub("", text)
    text = _MASKED_PHONE.sub(lambda m: f"{digit_by_digit(m.group(1))}，尾号{digit_by_digit(m.group(2))}", text)
    text = _FULL_DATE.sub(_date, text)
    text = _YEAR.sub(lambda m: f"{digit_by_digit(m.group(1), phone=False)}年", text)
    text = _DIGIT_STRING.sub(lambda m: digit_by_digit(m.group(1)), text)
    text = _CLOCK.sub(_clock, text)
    text = _MONEY.sub(lambda m: money(m.group(1) or m.group(2)), text)
    text = _PERCENT.sub(lambda m: "百分之" + decimal(m.group(1)), text)
    text = _DATA.sub(lambda m: decimal(m.group(1), liang=True) + _DATA_UNITS[m.group(2).lower()], text)
    text = _LIST_ITEM.sub(lambda m: f"回复{cardinal(int(m.group(1)))}，", text)
    text = _NUMBER.sub(lambda m: decimal(m.group(0)), text)
    text = _UNSPOKEN.sub("，", text)
    text = re.sub(r"([，。！？；：])\s*\n+", r"\1", text)
    text = re.sub(r"\n+", "。", text)
    text = re.sub(r"[，,]{2,}", "，", text)
    text = re.sub(r"[，,]+([。！？；：])", r"\1", text)
    return text.strip("，, ")
