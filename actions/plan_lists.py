"""Plans from the catalogue in the order she asked for them: within her budget, most data, most
minutes. Lists only: nothing here needs her line, so usage questions that were really about a plan
(「我主要打电话 想要通话时间长的套餐」) can be answered from actions/account.py too."""

from __future__ import annotations

from collections.abc import Callable

from actions import replies, understanding
from actions.turn import Turn
from actions.understanding import PlanBudget
from billing.backend import Plan


def most_data(turn: Turn, plans: list[Plan]) -> None:
    """The plans with the most data, most first; a name in reply changes to it."""
    turn.say(replies.plans_with_most_data(sorted(plans, key=lambda p: (-p.data_mb, p.monthly_fee_fen))))
    turn.set("pending", "plan_which")


def most_minutes(turn: Turn, plans: list[Plan]) -> None:
    """The plans with the most minutes, most first; a name in reply changes to it."""
    turn.say(replies.plans_with_most_minutes(sorted(plans, key=lambda p: (-p.voice_minutes, p.monthly_fee_fen))))
    turn.set("pending", "plan_which")


def budget_said(turn: Turn) -> PlanBudget | None:
    return understanding.plan_budget(turn.text, turn.entity("amount"))


def within_budget(turn: Turn, budget: PlanBudget, plans: list[Plan]) -> None:
    """「三十块钱以下的套餐」「流量多一点 但是不超过五十块的」: the plans her budget admits, in the
    order she cares about (data, minutes, else the fee nearest her budget first), numbered for her
    pick; when none fits, the nearest one. `plans`: those she could change to."""
    if not plans:  # nothing to change to (hers was the only one of the kind she asked for)
        turn.say(replies.ask_which_plan())
        turn.set("pending", "plan_which")
        return
    fitting = sorted((p for p in plans if budget.admits(p.monthly_fee_fen)), key=_order(turn, budget))
    if not fitting:
        nearest = min(plans, key=lambda p: (budget.distance(p.monthly_fee_fen), p.monthly_fee_fen))
        turn.say(replies.no_plan_within_budget(budget.yuan, budget.around, nearest))
        turn.set("pending", "plan_which")
        return
    shown = fitting[: replies.SHOWN_ITEMS]  # the list she picks from is the list remembered
    turn.say(replies.plans_within_budget(shown, budget.yuan, budget.around, turn.elder))
    turn.set("pending", "plan_pick:" + ",".join(p.code for p in shown))


def _order(turn: Turn, budget: PlanBudget) -> Callable[[Plan], tuple[int, int]]:
    if understanding.wants_more_data(turn.text):
        return lambda p: (-p.data_mb, p.monthly_fee_fen)
    if understanding.wants_more_minutes(turn.text):
        return lambda p: (-p.voice_minutes, p.monthly_fee_fen)
    return lambda p: (budget.distance(p.monthly_fee_fen), -p.data_mb)
