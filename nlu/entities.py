"""Rule-based extraction of the entities whose form is fixed: phone numbers, SMS codes,
money amounts and bare numbers. Works on normalised text (see nlu.normalize).

An amount that cannot be taken as written (「充值-50」「1e3」「充1.5元」, twenty digits) is not
read as some other number: it becomes the entity `amount_invalid` whose value says why
(nlu.numbers: negative, exponent, fraction, too_long, unreadable), and the action refuses it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from nlu.numbers import AMOUNT_TOKEN, CHINESE_NUMERAL, UNREADABLE, parse_chinese_number, read_amount

PHONE = re.compile(r"(?<![\d])1[3-9]\d(?:[ -]?\d){8}(?![\d])")
# The same number written as it is read, digit by digit (handwriting input, a relative typing what
# she was told): 「一三八零零零零零零零二」「幺三八…」.
_SPOKEN = "零〇一幺二三四五六七八九"
SPOKEN_PHONE = re.compile(
    rf"(?<![{_SPOKEN}十百千万\d])[一幺][三四五六七八九](?:[ -]?[{_SPOKEN}]){{9}}(?![{_SPOKEN}十百千万\d])"
)
SMS_CODE = re.compile(r"(?<![\d])\d{6}(?![\d])")
_AMOUNT = f"({AMOUNT_TOKEN})"
_YUAN = r"(?:块钱|块|元钱|元|圆|rmb|RMB)"
AMOUNT_WITH_UNIT = re.compile(_AMOUNT + r"\s*" + _YUAN)
# 「充一下话费」「交一点」: 一 before 下/点/些 is "a little", not one yuan; 「充了两次」 counts times;
# 「充一百多」 is no amount to take as said. The whole numeral or none: 「充了十几次」 is not 10.
AMOUNT_AFTER_VERB = re.compile(
    r"(?:充值|充|冲|交|缴费|缴|存)(?:个|了|上|一下|点)?\s*" + _AMOUNT + rf"(?![下点些次回遍趟几多\d{CHINESE_NUMERAL}])"
)
# A number alone, or a numbered choice: 「1」「选2」「我选1」「回复3」「按0」「1号」; or an amount
# alone, the answer to 「充多少？」: 「5千」「1.5万」 (and 「-50」「1e3」, refused). With 元 it is an amount.
BARE_NUMBER = re.compile(r"^\s*(?:我)?(?:选择|选|回复|按|要)?\s*" + _AMOUNT + r"\s*(?:号)?\s*[。.!！?？~]*\s*$")


@dataclass(frozen=True)
class Entity:
    entity: str
    value: str | int
    start: int
    end: int


def extract_entities(text: str) -> list[Entity]:
    found: list[Entity] = []
    phone_spans: list[tuple[int, int]] = []
    for match in PHONE.finditer(text):
        digits = re.sub(r"[ -]", "", match.group())
        found.append(Entity("phone", digits, match.start(), match.end()))
        phone_spans.append(match.span())
    for match in SPOKEN_PHONE.finditer(text):
        digits = str(parse_chinese_number(re.sub(r"[ -]", "", match.group())))  # starts with 1: no zero lost
        found.append(Entity("phone", digits, match.start(), match.end()))
        phone_spans.append(match.span())

    def inside_phone(start: int) -> bool:
        return any(s <= start < e for s, e in phone_spans)

    for match in SMS_CODE.finditer(text):
        if not inside_phone(match.start()):
            found.append(Entity("sms_code", match.group(), match.start(), match.end()))

    amount = _first_amount(text, inside_phone)
    if amount is not None:
        found.append(amount)

    bare = BARE_NUMBER.match(text)
    if bare and not phone_spans:
        reading = read_amount(bare.group(1))
        if reading.value is not None:
            found.append(Entity("number", reading.value, bare.start(1), bare.end(1)))
        elif amount is None and reading.problem != UNREADABLE:
            found.append(Entity("amount_invalid", reading.problem or UNREADABLE, bare.start(1), bare.end(1)))
    return found


def _first_amount(text: str, inside_phone) -> Entity | None:
    for pattern in (AMOUNT_WITH_UNIT, AMOUNT_AFTER_VERB):
        for match in pattern.finditer(text):
            if inside_phone(match.start(1)):
                continue
            reading = read_amount(match.group(1))
            if reading.value:
                return Entity("amount", reading.value, match.start(1), match.end(1))
            if reading.problem is not None and reading.problem != UNREADABLE:
                return Entity("amount_invalid", reading.problem, match.start(1), match.end(1))
    return None
