"""Every reply fits a phone screen (issue 10, acceptance 4): each sentence function of
actions/replies.py, called with the longest inputs a subscriber can have (a dozen plans,
services, payments, charges, bill lines; every line status; elder and not), and every response
in domain.yml, is at most 8 lines. Lists that would not fit show the best 3 and
「还有N项，回复"更多"查看全部」.

The arguments are chosen by parameter type, so a new function in replies.py is checked as soon
as it exists (and fails here if it takes a type this file has no sample for)."""

from __future__ import annotations

import datetime as dt
import inspect
import itertools
import typing
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from actions import replies
from billing.backend import (
    Balance,
    Bill,
    BillItem,
    Charge,
    ChargeKind,
    InvoiceStatus,
    LineStatus,
    Payment,
    Plan,
    Points,
    PointsReward,
    Recommendation,
    Subscription,
    SubscriptionStatus,
    SuspendReason,
    Usage,
    ValueAddedService,
)
from billing.payments import PaymentOrder, PaymentState
from billing.periods import MAX_MONTHS_BACK

MANY = 12  # more items than any screen holds
LONG_TEXT = "我想问一下我这个月的话费为什么比上个月多了这么多而且我也没有开通过什么业务"
LONG_NAME = "超长名字的增值业务视频彩铃尊享包月版"
TODAY = dt.date(2026, 12, 4)


def _plan(n: int, elder: bool = False) -> Plan:
    return Plan(
        f"P{n}",
        f"{LONG_NAME[:8]}{n}号套餐",
        3900 + n * 1000,
        30720,
        500,
        "套餐说明：" + LONG_TEXT,
        elder_friendly=elder,
    )


def _service(n: int) -> ValueAddedService:
    return ValueAddedService(f"S{n}", f"{LONG_NAME}{n}", 1500 + n)


def _subscription(n: int) -> Subscription:
    return Subscription("13800000001", _service(n), SubscriptionStatus.ACTIVE, dt.date(2026, 1, 1), 3)


def _payment(n: int) -> Payment:
    issued = n % 2 == 0
    return Payment(
        f"TU{n:08d}",
        "13800000001",
        5000 + n,
        dt.datetime(2026, 11, 1 + n, 8, tzinfo=dt.timezone.utc),
        InvoiceStatus.ISSUED if issued else InvoiceStatus.NOT_ISSUED,
        f"0440012300{n:04d}" if issued else None,
    )


def _charge(n: int) -> Charge:
    kind = list(ChargeKind)[n % len(ChargeKind)]
    return Charge(dt.date(2026, 12, 1 + n % 3), f"{LONG_NAME}{n}", 1000 + n, kind, f"S{n}")


def _bill(count: int) -> Bill:
    items = tuple(BillItem(f"{LONG_NAME}-{n:02d}", 1000 + n * 10) for n in range(count))
    return Bill("13800000001", "2026-10", items, sum(i.amount_fen for i in items))


def _balances() -> list[Balance]:
    phone = "13800000001"
    out = [Balance(phone, 5830, LineStatus.ACTIVE, None), Balance(phone, 300, LineStatus.ACTIVE, None)]
    out.append(Balance(phone, -12345, LineStatus.ACTIVE, None))
    out += [Balance(phone, -12345, LineStatus.SUSPENDED, reason) for reason in SuspendReason]
    out.append(Balance(phone, 100, LineStatus.SUSPENDED, None))
    return out


# Samples per parameter type (the longest and the edge cases).
SAMPLES: dict[Any, list[Any]] = {
    bool: [True, False],
    int: [0, 1, 3, MANY, 123456789],
    Balance: _balances(),
    Bill: [_bill(0), _bill(1), _bill(4), _bill(7), _bill(MANY)],
    # at most half a year of totals (billing.periods.MAX_MONTHS_BACK)
    list[Bill]: [[_bill(0)], [_bill(MANY)] * MAX_MONTHS_BACK],
    BillItem: [BillItem(LONG_NAME, 123456)],
    Usage: [
        Usage("13800000001", "2026-12", 30000, 30720, 480, 500),
        Usage("13800000001", "2026-12", 0, 0, 0, 0),
    ],
    Charge: [_charge(n) for n in range(len(ChargeKind))],
    list[Charge]: [[], [_charge(0)], [_charge(n) for n in range(MANY)]],
    Plan: [_plan(1), _plan(2, elder=True)],
    list[Plan]: [[_plan(1)], [_plan(n, elder=n % 3 == 0) for n in range(MANY)], [_plan(n) for n in range(MANY)]],
    Points: [
        Points("13800000001", 0),
        Points("13800000001", 100),
        Points("13800000001", 99999, 800, dt.date(2026, 12, 31)),
    ],
    list[PointsReward]: [[], [PointsReward(f"R{n}", f"{LONG_NAME}{n}", 100 * (n + 1)) for n in range(MANY)]],
    Recommendation: [
        Recommendation(_plan(1), LONG_TEXT),
        Recommendation(_plan(2), LONG_TEXT, 2000, tuple(_plan(n) for n in range(MANY))),
    ],
    Subscription: [_subscription(1)],
    Subscription | None: [None, _subscription(1)],
    list[Subscription]: [[], [_subscription(1)], [_subscription(n) for n in range(MANY)]],
    Payment: [_payment(0), _payment(1)],
    list[Payment]: [[], [_payment(0)], [_payment(n) for n in range(MANY)]],
    PaymentOrder: [
        PaymentOrder("TU20261204000001", "o" * 28, "13800000001", False, 500000, PaymentState.CREATED, "t" * 32)
    ],
    dt.datetime: [dt.datetime(2026, 12, 4, 8, tzinfo=dt.timezone.utc)],
    dt.datetime | None: [None, dt.datetime(2026, 12, 4, 8, tzinfo=dt.timezone.utc)],
    dt.date | None: [None, TODAY],
    list[str]: [[], [f"138****{n:04d}" for n in range(MANY)], [LONG_TEXT] * MANY],
}

# str parameters by name (a month is "YYYY-MM"; a text that is itself a reply is a long line).
STR_SAMPLES: dict[str, list[str]] = {
    "month": ["2026-10", "2025-03"],
    "current": ["2026-12"],
    "phone": ["13800000001"],
    "masked_phone": ["138****0001"],
    "link": ["http://127.0.0.1:8080/pay/" + "t" * 43],
    "problem": ["negative", "exponent", "fraction", "too_long", "unknown"],
    "balance_text": [replies.balance(b, elder) for b in _balances() for elder in (True, False)],
    "text": [LONG_TEXT, replies.balance(_balances()[-2], False)],
}
DEFAULT_STR = [LONG_TEXT, ""]


def _samples(name: str, annotation: Any) -> list[Any]:
    if annotation is str:
        return STR_SAMPLES.get(name, DEFAULT_STR)
    if annotation == (str | None):
        return [None, *STR_SAMPLES.get(name, DEFAULT_STR)]
    if annotation == (int | None):
        return [None, *SAMPLES[int]]
    if annotation in SAMPLES:
        return SAMPLES[annotation]
    raise AssertionError(f"no sample for parameter {name}: {annotation}; add one to SAMPLES")


def sentence_functions() -> list[tuple[str, Callable[..., str]]]:
    """Every public function of replies.py that returns a sentence."""
    found = []
    for name, function in inspect.getmembers(replies, inspect.isfunction):
        if function.__module__ != replies.__name__ or name.startswith("_"):
            continue
        if typing.get_type_hints(function).get("return") is str:
            found.append((name, function))
    return found


def calls(function: Callable[..., str]) -> list[dict[str, Any]]:
    hints = typing.get_type_hints(function)
    names = [p for p in inspect.signature(function).parameters]
    choices = [_samples(name, hints[name]) for name in names]
    return [dict(zip(names, combination)) for combination in itertools.product(*choices)]


def lines(text: str) -> int:
    return len(text.split("\n"))


def test_the_check_covers_the_sentences() -> None:
    names = {name for name, _ in sentence_functions()}
    assert len(names) > 60 and {"bill", "plan_list", "service_list", "invoices", "dispute_this_month"} <= names


@pytest.mark.parametrize("name,function", sentence_functions(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_sentence_fits_a_phone_screen(name: str, function: Callable[..., str]) -> None:
    for kwargs in calls(function):
        text = function(**kwargs)
        assert lines(text) <= replies.MAX_LINES, (name, kwargs, text)


def test_every_domain_response_fits_a_phone_screen() -> None:
    domain = yaml.safe_load((Path(__file__).resolve().parent.parent / "domain.yml").read_text(encoding="utf-8"))
    texts = [v["text"] for variants in domain["responses"].values() for v in variants if "text" in v]
    assert texts
    for text in texts:
        assert lines(text.strip()) <= replies.MAX_LINES, text


@pytest.mark.parametrize(
    "reply",
    [
        replies.bill(_bill(MANY), False),
        replies.plan_list([_plan(n) for n in range(MANY)], False),
        replies.service_list([_subscription(n) for n in range(MANY)], False),
        replies.invoices([_payment(n) for n in range(MANY)], None, "2026-12", False),
        replies.dispute_this_month([_charge(n) for n in range(MANY)], "2026-12", False),
        replies.dispute_bill(_bill(MANY), "2026-12", 1000, False),
        replies.which_service([_subscription(n) for n in range(MANY)], None, False, False),
    ],
    ids=["bill", "plans", "services", "invoices", "charges", "disputed_bill", "which_service"],
)
def test_a_long_list_shows_three_items_and_how_to_see_the_rest(reply: str) -> None:
    items = [line for line in reply.split("\n") if line.startswith(("· ", "1 ", "2 ", "3 ", "4 ")) or "/月，" in line]
    assert len(items) == replies.SHOWN_ITEMS, reply
    assert f'还有{MANY - replies.SHOWN_ITEMS}项，回复"更多"查看全部' in reply


def test_a_cut_bill_shows_its_dearest_lines_and_more_shows_the_others() -> None:
    bill = _bill(MANY)
    first = replies.bill(bill, False)
    rest = replies.more_bill(bill)
    dearest = sorted(bill.items, key=lambda i: -i.amount_fen)
    assert all(item.name in first for item in dearest[:3]) and not any(i.name in first for i in dearest[3:])
    assert lines(rest) <= replies.MAX_LINES and dearest[3].name in rest and dearest[0].name not in rest
    # A bill that fits a screen is shown whole.
    assert all(item.name in replies.bill(_bill(7), False) for item in _bill(7).items)
