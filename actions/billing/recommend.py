"""Plan recommendation from real usage: a pure function, no I/O.

Rule: the cheapest plan whose allowances cover the average of the recent months plus 20%
headroom. Elderly subscribers (65+) get elder-friendly plans when one fits, and only they
are offered those plans. Plans that need an in-person check are suggested only when nothing
else fits. Staying on the current plan is always allowed (it needs no change at all).
"""

from __future__ import annotations

from actions.billing.backend import Plan, Recommendation, Usage
from actions.billing.money import format_data, format_yuan

HEADROOM_PERCENT = 20
MAX_ALTERNATIVES = 2


def recommend_plan(current: Plan, plans: list[Plan], history: list[Usage], is_elder: bool) -> Recommendation:
    if not history:
        return Recommendation(plan=current, reason=f"暂时还没有您完整月份的用量记录，建议先继续使用{current.name}。")
    avg_data = _ceil_average([usage.data_used_mb for usage in history])
    avg_voice = _ceil_average([usage.voice_used_minutes for usage in history])
    need_data = _with_headroom(avg_data)
    need_voice = _with_headroom(avg_voice)
    usage_text = f"您近{len(history)}个月平均每月用流量{format_data(avg_data)}、通话{avg_voice}分钟"

    candidates = _candidates(current, plans, is_elder)
    fitting = [plan for plan in candidates if plan.data_mb >= need_data and plan.voice_minutes >= need_voice]
    if not fitting:
        biggest = max(
            _without_in_person(candidates, current),
            key=lambda plan: (plan.data_mb, plan.voice_minutes, -plan.monthly_fee_fen),
        )
        where = "现在的套餐已经" if biggest == current else f"{biggest.name}"
        return Recommendation(
            plan=biggest,
            reason=f"{usage_text}，用量很大，{where}是额度最大的套餐。",
            monthly_saving_fen=max(0, current.monthly_fee_fen - biggest.monthly_fee_fen),
        )

    allowed = _without_in_person(fitting, current)
    best = min(_elder_first(allowed, current, is_elder), key=_price_order)
    alternatives = tuple(plan for plan in sorted(allowed, key=_price_order) if plan != best)[:MAX_ALTERNATIVES]
    saving = current.monthly_fee_fen - best.monthly_fee_fen
    return Recommendation(
        plan=best,
        reason=_reason(usage_text, current, best, saving),
        monthly_saving_fen=max(0, saving),
        alternatives=alternatives,
    )


def _candidates(current: Plan, plans: list[Plan], is_elder: bool) -> list[Plan]:
    result = [current]
    for plan in plans:
        if plan.code == current.code or not plan.available:
            continue
        if plan.elder_friendly and not is_elder:
            continue
        result.append(plan)
    return result


def _without_in_person(fitting: list[Plan], current: Plan) -> list[Plan]:
    """Drop plans that need a service-hall visit, unless nothing else fits."""
    return [plan for plan in fitting if plan == current or not plan.requires_in_person] or fitting


def _elder_first(allowed: list[Plan], current: Plan, is_elder: bool) -> list[Plan]:
    """For elders, the elder-friendly plans, but never one dearer than a current plan that fits."""
    if not is_elder:
        return allowed
    current_fits = current in allowed
    elder = [
        plan
        for plan in allowed
        if plan.elder_friendly and (not current_fits or plan.monthly_fee_fen <= current.monthly_fee_fen)
    ]
    return elder or allowed


def _price_order(plan: Plan) -> tuple[int, int, int, str]:
    # Cheapest first; at the same price the larger allowances.
    return (plan.monthly_fee_fen, -plan.data_mb, -plan.voice_minutes, plan.code)


def _reason(usage_text: str, current: Plan, best: Plan, saving: int) -> str:
    if best.code == current.code:
        return f"{usage_text}，现在的{current.name}正合适，不用换。"
    allowance = f"{best.name}含{format_data(best.data_mb)}流量、{best.voice_minutes}分钟通话"
    if saving > 0:
        return f"{usage_text}，{allowance}，够用且每月省{format_yuan(saving)}。"
    if saving < 0:
        return f"{usage_text}，{allowance}，每月多{format_yuan(-saving)}，但额度够用。"
    return f"{usage_text}，{allowance}，价格不变，额度更合适。"


def _ceil_average(values: list[int]) -> int:
    return -(-sum(values) // len(values))


def _with_headroom(value: int) -> int:
    return -(-value * (100 + HEADROOM_PERCENT) // 100)
