"""Pure helpers of the new account questions: the month a sentence asks about, and which of a
subscriber's value-added services a request names."""

from __future__ import annotations

import datetime as dt

import pytest

from billing.backend import Subscription, SubscriptionStatus, ValueAddedService
from billing.periods import month_asked, months_back_asked
from billing.value_added import match_services

TODAY = dt.date(2026, 12, 4)


@pytest.mark.parametrize(
    ("text", "month"),
    [
        ("上个月账单多少钱", "2026-11"),
        ("上月话费", "2026-11"),
        ("上上个月的账单", "2026-10"),
        ("本月扣了多少", "2026-12"),
        ("这个月咋多了二十", "2026-12"),
        ("10月的账单", "2026-10"),
        ("十月份话费", "2026-10"),
        ("十一月", "2026-11"),
        ("十二月", "2026-12"),
        ("2026年10月", "2026-10"),
        ("帮我查2025年十一月账单", "2025-11"),
        ("26年3月的发票", "2026-03"),
        ("去年十二月", "2025-12"),
        ("今年3月", "2026-03"),
        ("1月份", "2026-01"),
    ],
)
def test_month_asked(text: str, month: str) -> None:
    assert month_asked(text, TODAY) == month


@pytest.mark.parametrize("text", ["怎么扣了这么多", "一个月就没了", "每个月扣我十块", "近三个月", "13月", ""])
def test_no_month_asked(text: str) -> None:
    assert month_asked(text, TODAY) is None


def test_a_bare_month_later_than_this_one_is_last_year() -> None:
    assert month_asked("3月的账单", dt.date(2027, 1, 15)) == "2026-03"
    assert month_asked("上个月", dt.date(2027, 1, 15)) == "2026-12"
    assert month_asked("上上个月", dt.date(2027, 1, 15)) == "2026-11"


def _sub(code: str, name: str, fee: int, *aliases: str) -> Subscription:
    service = ValueAddedService(code=code, name=name, monthly_fee_fen=fee, aliases=aliases)
    return Subscription("13900000000", service, SubscriptionStatus.ACTIVE, TODAY, 1)


CRBT = _sub("CRBT5", "彩铃", 500, "彩铃", "包月")
VRBT = _sub("VRBT6", "视频彩铃", 600, "视频彩铃", "包月")
VIDEO = _sub("VIDEO15", "视频会员", 1500, "视频会员", "爱奇艺会员", "爱奇艺", "会员", "包月")
MUSIC = _sub("MUSIC10", "咪咕音乐包", 1000, "音乐包", "咪咕会员", "会员", "包月")
DATA = _sub("DATA10", "10元5GB流量包", 1000, "流量包", "5G流量包", "包月")
ALL = [CRBT, VRBT, VIDEO, MUSIC, DATA]


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("帮我把彩铃退订了", ["CRBT5"]),
        ("那个什么视频彩铃我没用过", ["VRBT6"]),
        ("爱奇艺会员我不要了", ["VIDEO15"]),
        ("把那个会员取消了", ["VIDEO15", "MUSIC10"]),
        ("把我开的所有包月都退掉", ["CRBT5", "VRBT6", "VIDEO15", "MUSIC10", "DATA10"]),
        ("帮我退订视频会员还有彩铃", ["CRBT5", "VIDEO15"]),
        ("5g流量包下个月不要了", ["DATA10"]),
        ("退订", []),
        ("取消游戏包", []),
    ],
)
def test_match_services(text: str, codes: list[str]) -> None:
    assert [s.service.code for s in match_services(text, ALL)] == codes


def test_only_the_subscribers_own_services_match() -> None:
    assert match_services("退订彩铃", [VIDEO, DATA]) == []
    catalog = [s.service for s in ALL]
    assert match_services("退订视频彩铃", [CRBT], catalog) == []  # not their plain 彩铃
    assert match_services("退订视频彩铃", [CRBT]) == [CRBT]  # without the catalogue it cannot know
    assert match_services("退订彩铃", [CRBT], catalog) == [CRBT]


@pytest.mark.parametrize(
    ("text", "months"),
    [
        ("我想查一下最近三个月的账单", 3),
        ("最近3个月的账单", 3),
        ("这两个月的话费", 2),
        ("这几个月扣了多少", 3),
        ("近半年账单", 6),
        ("三月的账单", None),
        ("这个月", None),
        ("上个月账单", None),
    ],
)
def test_months_back_asked(text: str, months: int | None) -> None:
    assert months_back_asked(text) == months
