"""Issue 9, item 10: amounts are understood or refused, never misread, and never raise.

「充5千」 was read as 5 (or 千 alone as 1000), 「充1.5万」 as 1, 「充1e3」 as 1, 「负50元」 as 50;
「充」 followed by 400 nines and a decimal point raised OverflowError and 5,000 九 ValueError
inside the NLU pipeline. Entities come from the real extractor (nlu/, pure Python)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from test_actions import Conversation, services

from actions.reply_router import ActionHandleReply
from actions.services import Services
from actions.transactions import ActionTopUp
from billing.models import topup_orders
from nlu.entities import extract_entities
from nlu.normalize import normalize


def found(text: str) -> dict[str, object]:
    return {e.entity: e.value for e in extract_entities(normalize(text))}


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("充5千", 5000),
        ("充5千元", 5000),
        ("充1.5万", 15000),
        ("充值1万5", 15000),
        ("帮我充2千5", 2500),
        ("充1,000元", 1000),
        ("充值 ５千", 5000),
    ],
)
def test_amounts_with_units_are_understood(text: str, amount: int) -> None:
    assert found(text).get("amount") == amount


@pytest.mark.parametrize(
    "text",
    [
        "帮我充一下话费",
        "给我妈交一下",
        "充一点话费吧",
        "缴一些费用",
        "这个月我充了两次话费",
        "我充了十几次了",
        "充一百多",
    ],
)
def test_a_little_is_no_amount(text: str) -> None:
    # 「充一下」 is "top up, please": read as 1 yuan it became 「充值1元？回复1确认」.
    assert "amount" not in found(text)


@pytest.mark.parametrize(("text", "amount"), [("交一下五十", 50), ("充值一下 100", 100), ("充一下100元", 100)])
def test_an_amount_after_a_little_is_read(text: str, amount: int) -> None:
    assert found(text).get("amount") == amount


@pytest.mark.parametrize(("text", "number"), [("5千", 5000), ("1.5万", 15000), ("2万5千", 25000)])
def test_an_amount_alone_is_its_value(text: str, number: int) -> None:
    assert found(text).get("number") == number


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("充值-50", "negative"),
        ("负50元", "negative"),
        ("充-50元", "negative"),
        ("-50", "negative"),
        ("充1e3", "exponent"),
        ("1e3", "exponent"),
        ("充1E3元", "exponent"),
        ("充12.5元", "fraction"),
        ("1.5", "fraction"),
        ("充99999999999999999999元", "too_long"),
        ("99999999999999999999", "too_long"),
        ("充" + "九" * 30 + "元", "too_long"),
    ],
)
def test_amounts_that_cannot_be_taken_as_written_are_flagged_not_misread(text: str, problem: str) -> None:
    entities = found(text)
    assert entities.get("amount_invalid") == problem
    assert "amount" not in entities and "number" not in entities


ABSURD = [
    "充" + "9" * 400 + ".5元",  # float('inf') -> int: OverflowError
    "充" + "九" * 5000 + "元",  # more than 4,300 digits: ValueError
    "九" * 5000,
    "1" * 5000,
    "充" + "1" * 5000,
    "充" + "1" * 400 + "." + "5" * 400 + "万",
    "充1e999999999元",
    "充0.000000000000001万",
    "充值" + "-" * 200 + "5",
    "充" + "万" * 1000,
    "充5千千千千万万万亿",
]


def test_absurd_numerals_never_raise_and_never_become_an_amount() -> None:
    for text in ABSURD:
        entities = found(text)
        assert "amount" not in entities, text[:40]


async def order_count(services: Services) -> int:
    async with services.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(topup_orders))).scalar_one())


async def test_top_up_of_5_thousand_is_proposed_as_5000_yuan(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000001")
    reply = await chat.say(ActionTopUp(), "充5千", "top_up")
    assert "充值5000元" in reply
    assert chat.slots["pending"].startswith("topup_confirm:")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("充值-50", "负数"),
        ("充1e3", "直接写数字"),
        ("充99999999999999999999元", "太大"),
        ("充12.5元", "整元"),
    ],
)
async def test_invalid_amounts_are_refused_in_chinese_and_no_order_is_made(
    services: Services,
    text: str,
    words: str,
) -> None:
    chat = Conversation(services)
    await chat.bind("13800000001")
    before = await order_count(services)
    reply = await chat.say(ActionTopUp(), text, "top_up")
    assert words in reply and "1到5000元" in reply
    assert chat.slots["pending"] == "topup_amount"
    assert await order_count(services) == before


async def test_the_answer_to_how_much_is_refused_or_understood(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000001")
    await chat.say(ActionTopUp(), "充话费", "top_up")
    assert chat.slots["pending"] == "topup_amount"
    reply = await chat.say(ActionHandleReply(), "1e3", "inform")
    assert "直接写数字" in reply and chat.slots["pending"] == "topup_amount"
    reply = await chat.say(ActionHandleReply(), "-50", "inform")
    assert "负数" in reply and chat.slots["pending"] == "topup_amount"
    reply = await chat.say(ActionHandleReply(), "1.5万", "inform")
    assert "1到5000元" in reply and chat.slots["pending"] == "topup_amount"  # 15000: understood, out of range
    reply = await chat.say(ActionHandleReply(), "5千", "inform")
    assert "充值5000元" in reply and chat.slots["pending"].startswith("topup_confirm:")
