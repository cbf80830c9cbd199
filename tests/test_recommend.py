"""recommend_plan: a pure function, tested on the demo catalogue and on hand-made plans."""

from dataclasses import replace

import pytest

from billing.backend import Plan, Usage
from billing.demo import load_demo_plans
from billing.recommend import recommend_plan


@pytest.fixture(scope="module")
def catalogue() -> dict[str, Plan]:
    return {
        p.code: Plan(
            code=p.code,
            name=p.name,
            monthly_fee_fen=p.monthly_fee_fen,
            data_mb=p.data_mb,
            voice_minutes=p.voice_minutes,
            description=p.description,
            elder_friendly=p.elder_friendly,
            requires_in_person=p.requires_in_person,
            available=p.available,
        )
        for p in load_demo_plans()
    }


def history(data_mb: list[int], voice: list[int]) -> list[Usage]:
    return [
        Usage(
            phone="1",
            month=f"2026-0{i + 1}",
            data_used_mb=d,
            data_total_mb=0,
            voice_used_minutes=v,
            voice_total_minutes=0,
        )
        for i, (d, v) in enumerate(zip(data_mb, voice))
    ]


def test_heavy_data_user_on_small_plan_is_moved_up(catalogue: dict[str, Plan]) -> None:
    result = recommend_plan(
        catalogue["MINI19"], list(catalogue.values()), history([11020, 12480, 11790], [45, 61, 38]), is_elder=False
    )
    assert result.plan.code == "LIVE29"
    # Now: 19元 + 7 started GB beyond 5GB at 5元 = 54元 a month on average.
    assert result.monthly_saving_fen == 2500
    assert result.reason == (
        "您近3个月平均每月用流量11.5GB、通话48分钟，乐享29元套餐含15GB流量、100分钟通话，"
        "月费多10元，但不再有超出费用，每月约省25元。"
    )


def test_light_user_on_expensive_plan_saves_money(catalogue: dict[str, Plan]) -> None:
    result = recommend_plan(
        catalogue["5G129"], list(catalogue.values()), history([2810, 3320, 3090], [70, 85, 90]), is_elder=False
    )
    # 82 minutes on average + 20% = 99 minutes: MINI19 (50 minutes) is too small, LIVE29 fits.
    assert result.plan.code == "LIVE29"
    assert result.monthly_saving_fen == 10000
    assert "每月省100元" in result.reason
    assert "3GB" in result.reason and "82分钟" in result.reason
    assert [p.code for p in result.alternatives] == ["LIVE39", "5G59"]  # DATA39 has no minutes


def test_twenty_percent_headroom(catalogue: dict[str, Plan]) -> None:
    # 12000 MB + 20% = 14400 MB: LIVE29 (15GB) covers it.
    result = recommend_plan(catalogue["5G59"], list(catalogue.values()), history([12000] * 3, [50] * 3), is_elder=False)
    assert (result.plan.code, result.monthly_saving_fen) == ("LIVE29", 3000)
    # 14000 MB + 20% = 16800 MB: on LIVE29 that is 2 started GB over (10元), so LIVE29 would
    # cost as much as LIVE39, which covers it: LIVE39.
    result = recommend_plan(catalogue["5G59"], list(catalogue.values()), history([14000] * 3, [50] * 3), is_elder=False)
    assert (result.plan.code, result.monthly_saving_fen) == ("LIVE39", 2000)
    assert result.reason.endswith("够用且每月省20元。")


def test_a_current_plan_covering_the_average_stays(catalogue: dict[str, Plan]) -> None:
    # 4400 MB is inside MINI19's 5GB, though not with 20% headroom: no reason to pay more.
    result = recommend_plan(
        catalogue["MINI19"], list(catalogue.values()), history([4400] * 3, [30] * 3), is_elder=False
    )
    assert result.plan.code == "MINI19"
    assert result.reason.endswith("现在的畅享19元卡基本够用，不用换。")
    assert [p.code for p in result.alternatives] == ["LIVE29", "LIVE39"]


def test_switch_only_when_it_is_cheaper_than_paying_overage(catalogue: dict[str, Plan]) -> None:
    # 6200 MB on MINI19: 2 started GB over = 19 + 10 = 29元, the same as LIVE29: stay.
    stay = recommend_plan(catalogue["MINI19"], list(catalogue.values()), history([6200] * 3, [40] * 3), is_elder=False)
    assert stay.plan.code == "MINI19"
    assert "超出部分每月约10元" in stay.reason
    # One minute over 50 as well makes MINI19 cost 29.15元: LIVE29 is cheaper.
    move = recommend_plan(catalogue["MINI19"], list(catalogue.values()), history([6200] * 3, [51] * 3), is_elder=False)
    assert (move.plan.code, move.monthly_saving_fen) == ("LIVE29", 15)


def test_pay_per_minute_plans_are_kept_by_people_who_rarely_call(catalogue: dict[str, Plan]) -> None:
    guard = recommend_plan(
        catalogue["GUARD8"], list(catalogue.values()), history([80, 95, 60], [5, 3, 8]), is_elder=False
    )
    assert guard.plan.code == "GUARD8"
    assert guard.reason.endswith("现在的8元保号套餐仍最划算（超出部分每月约0.90元），不用换。")
    data = recommend_plan(
        catalogue["DATA39"], list(catalogue.values()), history([61000, 70500, 65200], [20, 15, 30]), is_elder=False
    )
    assert data.plan.code == "DATA39"


def test_current_plan_with_room_to_spare_stays(catalogue: dict[str, Plan]) -> None:
    result = recommend_plan(
        catalogue["5G59"], list(catalogue.values()), history([35200, 38900, 36100], [150, 180, 165]), is_elder=False
    )
    assert result.plan.code == "5G59"
    assert result.monthly_saving_fen == 0
    assert [p.code for p in result.alternatives] == ["5G79", "5G129"]


def test_elder_with_many_calls_gets_the_elder_plan_that_fits(catalogue: dict[str, Plan]) -> None:
    # 160 minutes + 20% = 192: ELDER10 would cost 10元 + 92 × 0.15元 = 23.80元.
    result = recommend_plan(
        catalogue["ELDER10"], list(catalogue.values()), history([150, 92, 205], [160, 151, 172]), is_elder=True
    )
    assert result.plan.code == "ELDER18"
    assert "通话161分钟" in result.reason
    # With fewer calls the few extra minutes are cheaper than the bigger plan.
    result = recommend_plan(
        catalogue["ELDER10"], list(catalogue.values()), history([150, 92, 205], [112, 96, 121]), is_elder=True
    )
    assert result.plan.code == "ELDER10"


def test_elder_on_a_general_plan_is_offered_the_cheaper_elder_plan(catalogue: dict[str, Plan]) -> None:
    result = recommend_plan(
        catalogue["LIVE39"], list(catalogue.values()), history([1520, 1810, 1630], [121, 150, 132]), is_elder=True
    )
    assert result.plan.code == "ELDER18"
    assert result.monthly_saving_fen == 2100
    assert result.plan.elder_friendly


def test_elder_plans_are_not_offered_to_younger_subscribers(catalogue: dict[str, Plan]) -> None:
    result = recommend_plan(
        catalogue["LIVE39"], list(catalogue.values()), history([1520, 1810, 1630], [121, 150, 132]), is_elder=False
    )
    assert result.plan.code == "LIVE39"
    assert "正合适" in result.reason
    assert not any(p.elder_friendly for p in (result.plan, *result.alternatives))


def test_elder_keeps_a_cheaper_current_plan_that_fits(catalogue: dict[str, Plan]) -> None:
    result = recommend_plan(
        catalogue["GUARD8"], list(catalogue.values()), history([40, 50, 30], [0, 0, 0]), is_elder=True
    )
    assert result.plan.code == "GUARD8"


def test_in_person_plans_are_not_recommended_when_another_fits(catalogue: dict[str, Plan]) -> None:
    # CAMPUS25 (30GB, 25元) would be cheapest, but it needs a visit to a service hall.
    result = recommend_plan(catalogue["5G79"], list(catalogue.values()), history([24000] * 3, [35] * 3), is_elder=False)
    assert result.plan.code == "LIVE39"
    assert all(not p.requires_in_person for p in (result.plan, *result.alternatives))


def test_staying_on_an_in_person_plan_is_fine(catalogue: dict[str, Plan]) -> None:
    result = recommend_plan(
        catalogue["CAMPUS25"], list(catalogue.values()), history([24100, 27600, 22900], [35, 42, 30]), is_elder=False
    )
    assert result.plan.code == "CAMPUS25"


def test_in_person_plan_only_when_nothing_else_fits() -> None:
    small = Plan("S", "小套餐", 1000, 1024, 100, "")
    family = Plan("F", "融合套餐", 9900, 81920, 1000, "", requires_in_person=True)
    result = recommend_plan(small, [small, family], history([20000] * 3, [300] * 3), is_elder=False)
    assert result.plan.code == "F"


def test_when_nothing_fits_the_biggest_plan_is_suggested(catalogue: dict[str, Plan]) -> None:
    result = recommend_plan(
        catalogue["5G59"], list(catalogue.values()), history([300_000] * 3, [500] * 3), is_elder=False
    )
    assert result.plan.code == "5G199"
    assert "也最划算" in result.reason


def test_unavailable_plans_are_never_recommended(catalogue: dict[str, Plan]) -> None:
    plans = [replace(p, available=False) if p.code == "LIVE29" else p for p in catalogue.values()]
    result = recommend_plan(catalogue["MINI19"], plans, history([11020, 12480, 11790], [45, 61, 38]), is_elder=False)
    assert result.plan.code == "LIVE39"


def test_without_history_the_current_plan_stays(catalogue: dict[str, Plan]) -> None:
    result = recommend_plan(catalogue["LIVE39"], list(catalogue.values()), [], is_elder=False)
    assert result.plan.code == "LIVE39"
    assert "用量记录" in result.reason
