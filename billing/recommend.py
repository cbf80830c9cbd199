"""Plan recommendation from real usage: a pure function, no I/O.

The subscriber's need is the average of the recent months plus 20% headroom. The
recommendation is the cheapest plan whose allowances cover that need, unless what the
subscriber pays now on average (fee + overage at the standard tariff, actions/billing/tariff.py)
is no more than that plan's fee: then the current plan stays (a few extra minutes on a
pay-per-minute plan are cheaper than a bigger plan).

- Elderly subscribers (65+) get an elder-friendly plan when one covers the need; only they
  are offered elder-friendly plans.
- Plans that need an in-person check are suggested only when no other plan covers the need;
  staying on one is always fine.
- When no plan covers the need, the plan with the lowest cost for the average usage wins.
"""

from __future__ import annotations

from dataclasses import dataclass

from billing.backend import Plan, Recommendation, Usage
from billing.money import format_data, format_yuan
from billing.tariff import overage_fen

HEADROOM_PERCENT = 20
MAX_ALTERNATIVES = 2


@dataclass(frozen=True)
class _Need:
    data_mb: int
    voice_minutes: int

    def covered_by(self, plan: Plan) -> bool:
        return plan.data_mb >= self.data_mb and plan.voice_minutes >= self.voice_minutes

    def cost_fen(self, plan: Plan) -> int:
        return plan.monthly_fee_fen + overage_fen(plan, self.data_mb, self.voice_minutes)


def recommend_plan(current: Plan, plans: list[Plan], history: list[Usage], is_elder: bool) -> Recommendation:
    if not history:
        return Recommendation(plan=current, reason=f"暂时还没有您完整月份的用量记录，建议先继续使用{current.name}。")
    average = _Need(
        _ceil_average([usage.data_used_mb for usage in history]),
        _ceil_average([usage.voice_used_minutes for usage in history]),
    )
    need = _Need(_with_headroom(average.data_mb), _with_headroom(average.voice_minutes))
    usage_text = f"您近{len(history)}个月平均每月用流量{format_data(average.data_mb)}、通话{average.voice_minutes}分钟"

    offered = _offered(current, plans, is_elder)
    fitting = sorted((plan for plan in offered if need.covered_by(plan)), key=_price_order)
    fitting = [plan for plan in fitting if plan == current or not plan.requires_in_person] or fitting
    if is_elder:
        fitting = [plan for plan in fitting if plan.elder_friendly] or fitting
    if fitting:
        best = fitting[0] if average.cost_fen(current) > fitting[0].monthly_fee_fen else current
    else:
        best = min(offered, key=lambda plan: (average.cost_fen(plan), plan != current, _price_order(plan)))
    alternatives = tuple(
        plan
        for plan in sorted(offered, key=_price_order)
        if plan not in (best, current) and need.covered_by(plan) and not plan.requires_in_person
    )[:MAX_ALTERNATIVES]
    return Recommendation(
        plan=best,
        reason=_reason(usage_text, current, best, need, average),
        monthly_saving_fen=max(0, average.cost_fen(current) - average.cost_fen(best)),
        alternatives=alternatives,
    )


def _offered(current: Plan, plans: list[Plan], is_elder: bool) -> list[Plan]:
    """Plans this subscriber may be offered, always including the current one."""
    return [current] + [
        plan for plan in plans if plan.code != current.code and plan.available and (is_elder or not plan.elder_friendly)
    ]


def _price_order(plan: Plan) -> tuple[int, int, int, str]:
    # Cheapest first; at the same price the larger allowances.
    return (plan.monthly_fee_fen, -plan.data_mb, -plan.voice_minutes, plan.code)


def _reason(usage_text: str, current: Plan, best: Plan, need: _Need, average: _Need) -> str:
    if best == current:
        extra = overage_fen(current, average.data_mb, average.voice_minutes)
        if need.covered_by(current):
            return f"{usage_text}，现在的{current.name}正合适，不用换。"
        if extra == 0:
            return f"{usage_text}，现在的{current.name}基本够用，不用换。"
        return f"{usage_text}，现在的{current.name}仍最划算（超出部分每月约{format_yuan(extra)}），不用换。"
    allowance = f"{best.name}含{format_data(best.data_mb)}流量、{best.voice_minutes}分钟通话"
    saving = average.cost_fen(current) - average.cost_fen(best)
    fee_difference = best.monthly_fee_fen - current.monthly_fee_fen
    if not need.covered_by(best):
        text = f"{usage_text}，{allowance}，算上超出部分（流量5元/GB、通话0.15元/分钟）也最划算"
        return text + (f"，每月约省{format_yuan(saving)}。" if saving > 0 else "。")
    if fee_difference <= 0 and saving > 0:
        return f"{usage_text}，{allowance}，够用且每月省{format_yuan(saving)}。"
    if fee_difference <= 0:
        return f"{usage_text}，{allowance}，价格不变，额度更够用。"
    if saving > 0:
        return f"{usage_text}，{allowance}，月费多{format_yuan(fee_difference)}，但不再有超出费用，每月约省{format_yuan(saving)}。"
    return f"{usage_text}，{allowance}，月费多{format_yuan(fee_difference)}，但额度够用，不用担心超出。"


def _ceil_average(values: list[int]) -> int:
    return -(-sum(values) // len(values))


def _with_headroom(value: int) -> int:
    return -(-value * (100 + HEADROOM_PERCENT) // 100)
