"""recommend_plan: a pure function, tested on the demo catalogue and on hand-made plans."""

from dataclasses import replace

import pytest

from actions.billing.backend import Plan, Usage
from actions.billing.demo import load_demo_plans
from actions.billing.recommend import recommend_plan


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
        Usage(phone="1", month=f"2026-0{i + 1}", data_used_mb=d, data_total_mb=0, voice_used_minutes=v, voice_total_minutes=0)
        for i, (d, v) in enumerate(zip(data_mb, voice))
    ]


def test_heavy_data_user_on_small_plan_is_moved_up(catalogue: dict[str, Plan]) -> None:
    result = recommend_plan(
        catalogue["MINI19"], list(catalogue.values()), history([11020, 12480, 11790], [45, 61, 38]), is_elder=False
    )
    assert result.plan.code == "LIVE29"
    assert result.monthly_saving_fen == 0
    assert result.reason == (
        "您近3个月平均每月用流量11.5GB、通话48分钟，乐享29元套餐含15GB流量、100分钟通话，每月多10元，但额度够用。"
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


def test_headroom_of_twenty_percent_is_required(catalogue: dict[str, Plan]) -> None:
    # 4400 MB average fits 5GB (5120) but not with 20% headroom (5280): MINI19 is not enough.
    result = recommend_plan(catalogue["5G59"], list(catalogue.values()), history([4400] * 3, [30] * 3), is_elder=False)
    assert result.plan.code == "LIVE29"
    # 4200 MB + 20% = 5040 MB fits MINI19.
    result = recommend_plan(catalogue["5G59"], list(catalogue.values()), history([4200] * 3, [30] * 3), is_elder=False)
    assert result.plan.code == "MINI19"
    assert result.monthly_saving_fen == 4000


def test_elder_with_many_calls_gets_the_elder_plan_that_fits(catalogue: dict[str, Plan]) -> None:
    result = recommend_plan(catalogue["ELDER10"], list(catalogue.values()), history([150, 92, 205], [112, 96, 121]), is_elder=True)
    assert result.plan.code == "ELDER18"
    assert "通话110分钟" in result.reason


def test_elder_on_a_general_plan_is_offered_the_cheaper_elder_plan(catalogue: dict[str, Plan]) -> None:
    result = recommend_plan(catalogue["LIVE39"], list(catalogue.values()), history([1520, 1810, 1630], [121, 150, 132]), is_elder=True)
    assert result.plan.code == "ELDER18"
    assert result.monthly_saving_fen == 2100
    assert result.plan.elder_friendly


def test_elder_plans_are_not_offered_to_younger_subscribers(catalogue: dict[str, Plan]) -> None:
    result = recommend_plan(catalogue["LIVE39"], list(catalogue.values()), history([1520, 1810, 1630], [121, 150, 132]), is_elder=False)
    assert result.plan.code == "LIVE39"
    assert "正合适" in result.reason
    assert not any(p.elder_friendly for p in (result.plan, *result.alternatives))


def test_elder_keeps_a_cheaper_current_plan_that_fits(catalogue: dict[str, Plan]) -> None:
    result = recommend_plan(catalogue["GUARD8"], list(catalogue.values()), history([40, 50, 30], [0, 0, 0]), is_elder=True)
    assert result.plan.code == "GUARD8"


def test_in_person_plans_are_not_recommended_when_another_fits(catalogue: dict[str, Plan]) -> None:
    # CAMPUS25 (30GB, 25元) would be cheapest, but it needs a visit to a service hall.
    result = recommend_plan(catalogue["5G79"], list(catalogue.values()), history([24000] * 3, [35] * 3), is_elder=False)
    assert result.plan.code == "LIVE39"
    assert all(not p.requires_in_person for p in (result.plan, *result.alternatives))


def test_staying_on_an_in_person_plan_is_fine(catalogue: dict[str, Plan]) -> None:
    result = recommend_plan(catalogue["CAMPUS25"], list(catalogue.values()), history([24100, 27600, 22900], [35, 42, 30]), is_elder=False)
    assert result.plan.code == "CAMPUS25"


def test_in_person_plan_only_when_nothing_else_fits() -> None:
    small = Plan("S", "小套餐", 1000, 1024, 100, "")
    family = Plan("F", "融合套餐", 9900, 81920, 1000, "", requires_in_person=True)
    result = recommend_plan(small, [small, family], history([20000] * 3, [300] * 3), is_elder=False)
    assert result.plan.code == "F"


def test_when_nothing_fits_the_biggest_plan_is_suggested(catalogue: dict[str, Plan]) -> None:
    result = recommend_plan(catalogue["5G59"], list(catalogue.values()), history([300_000] * 3, [500] * 3), is_elder=False)
    assert result.plan.code == "5G199"
    assert "额度最大" in result.reason


def test_unavailable_plans_are_never_recommended(catalogue: dict[str, Plan]) -> None:
    plans = [replace(p, available=False) if p.code == "LIVE29" else p for p in catalogue.values()]
    result = recommend_plan(catalogue["MINI19"], plans, history([11020, 12480, 11790], [45, 61, 38]), is_elder=False)
    assert result.plan.code == "LIVE39"


def test_without_history_the_current_plan_stays(catalogue: dict[str, Plan]) -> None:
    result = recommend_plan(catalogue["LIVE39"], list(catalogue.values()), [], is_elder=False)
    assert result.plan.code == "LIVE39"
    assert "用量记录" in result.reason
