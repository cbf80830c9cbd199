"""Plans: what I have, what exists, what suits me, change it (confirm first; plans that need
an in-person real-name check say so plainly and offer a human)."""

from __future__ import annotations

from typing import Optional

from actions import plan_lists, replies, understanding
from actions.account import account_phone
from actions.service import hand_off_operator_errand
from actions.turn import FlowAction, Turn
from billing.backend import Plan, PlanChangeOutcome
from billing.recommend import recommend_plan


async def _subscriber_plan(turn: Turn, phone: str) -> Plan:
    subscriber = await turn.services.billing.get_subscriber(phone)
    assert subscriber is not None, "a bound number always belongs to a subscriber"
    plan = await turn.services.billing.get_plan(subscriber.plan_code)
    assert plan is not None, f"subscriber plan {subscriber.plan_code} is missing"
    return plan


async def check_plan(turn: Turn) -> None:
    if understanding.asks_when_line_opened(turn.text):  # 「我这个号码是什么时候办的」: the operator's records
        await hand_off_operator_errand(turn)
        return
    phone = await account_phone(turn, "plan")
    if not phone:
        return
    if understanding.asks_plan_verdict(turn.text):  # 「我现在这个套餐是不是最划算的」: from her usage
        await recommend(turn)
        return
    plan = await _subscriber_plan(turn, phone)
    if understanding.asks_plan_expiry(turn.text):  # 「我这个套餐什么时候到期」
        turn.say(replies.plan_renews_monthly(plan, turn.elder))
    else:
        turn.say(replies.current_plan(plan, turn.elder))


async def list_plans(turn: Turn) -> None:
    if _names_the_plan_asked_for(turn):  # 「想换成哪个套餐？」「最便宜的那个」: the change, not the list
        await change_plan(turn)
        return
    plans = [p for p in await turn.services.billing.list_plans() if p.available]
    budget = plan_lists.budget_said(turn)
    if budget is not None:  # 「有没有二十块钱左右的套餐」: to change to, so not the one she has
        plan_lists.within_budget(turn, budget, await _without_hers(turn, plans))
        return
    if understanding.asks_most_data(turn.text):
        plan_lists.most_data(turn, plans)
        return
    if understanding.wants_more_minutes(turn.text):  # 「有没有通话分钟多的套餐」
        plan_lists.most_minutes(turn, plans)
        return
    if understanding.finds_plan_too_dear(turn.text):  # 「你们这个套餐太坑了」: what her usage needs
        await recommend(turn)
        return
    for_elders = [p for p in plans if p.elder_friendly]
    if for_elders and understanding.meant_for_the_old(turn.text):
        # 「有没有专门给老人用的 便宜一点的卡」: the plans made for them, not the whole list.
        turn.say(replies.plans_for_the_old(for_elders))
        turn.set("pending", "plan_which")
        return
    turn.say(replies.plan_list(plans, turn.elder))
    # A plan name in reply means "change to it"; 「更多」 shows the rest.
    turn.set("pending", "more:plans" if len(plans) > replies.SHOWN_ITEMS and not turn.elder else "plan_which")


async def _without_hers(turn: Turn, plans: list[Plan]) -> list[Plan]:
    """`plans` without the plan of her bound line, if she has one (nothing is asked if not)."""
    phones = await turn.services.binding.bound_phones(turn.openid)
    if not phones:
        return plans
    hers = await _subscriber_plan(turn, phones[0])
    return [p for p in plans if p.code != hers.code]


def _names_the_plan_asked_for(turn: Turn) -> bool:
    """Asked which plan to change to, she answers with a price or a direction (read as the list)."""
    if not str(turn.slot("pending") or "").startswith("plan_which"):
        return False
    return (
        understanding.PLAN_PRICE.search(turn.text) is not None
        or plan_lists.budget_said(turn) is not None
        or bool(understanding.CHEAPER.search(turn.text) or understanding.DEARER.search(turn.text))
    )


async def more_plans(turn: Turn) -> None:
    plans = [p for p in await turn.services.billing.list_plans() if p.available]
    turn.say(replies.more_plans(plans))
    turn.set("pending", "plan_which")


async def recommend(turn: Turn) -> None:
    relative = turn.entity("relative")
    if relative and turn.about_phone is None and understanding.plan_is_for(str(relative), turn.text):
        await _recommend_for_relative(turn, str(relative))
        return
    if understanding.meant_for_the_old(turn.text) and not turn.elder:
        # 「给我推荐一个适合老年人的套餐」: the plans made for the old, not a verdict on hers.
        for_elders = [p for p in await turn.services.billing.list_plans() if p.available and p.elder_friendly]
        if for_elders:
            turn.say(replies.plans_for_the_old(for_elders))
            turn.set("pending", "plan_which")
            return
    phone = await account_phone(turn, "recommend")
    if not phone:
        return
    billing = turn.services.billing
    current = await _subscriber_plan(turn, phone)
    plans = [p for p in await billing.list_plans() if p.available]
    others = [p for p in plans if p.code != current.code]
    budget = plan_lists.budget_said(turn)
    if budget is not None:  # 「推荐个三十块以内的」
        plan_lists.within_budget(turn, budget, others)
        return
    if understanding.asks_most_data(turn.text):  # 「哪个套餐流量最多」 (read as a recommendation)
        plan_lists.most_data(turn, plans)
        return
    # 「太贵了，有没有便宜点的」 asks for cheaper plans, not for a verdict on the one she has.
    meant = understanding.plans_meant(turn.text, current, others, value_is_cheaper=False)
    if meant is not None:
        await _offer_meant(turn, phone, current, meant)
        return
    history = await billing.get_usage_history(phone, 3)
    result = recommend_plan(current, plans, history, turn.elder)
    turn.say(replies.recommendation(result, current))
    if result.plan.code != current.code and not result.plan.requires_in_person:
        turn.set("pending", f"plan_confirm:{result.plan.code}")


async def _recommend_for_relative(turn: Turn, relative: str) -> None:
    """Her own usage says nothing about her mother's: the plans that suit (for an old relative, the
    elder-friendly ones), and binding the relative's number for a recommendation from its usage."""
    plans = sorted(
        (p for p in await turn.services.billing.list_plans() if p.available), key=lambda p: p.monthly_fee_fen
    )
    for_elders = [p for p in plans if p.elder_friendly]
    old = understanding.meant_for_the_old(turn.text)
    shown = for_elders if old and for_elders else plans
    turn.say(replies.plans_for_relative(relative, shown, old and bool(for_elders)))
    turn.set("pending", "bind_phone")
    turn.set("after_bind", "recommend")


async def change_plan(turn: Turn) -> None:
    phone = await account_phone(turn, "change_plan")
    if not phone:
        return
    code = turn.entity("plan")
    if code:
        await propose(turn, phone, str(code))
        return
    # 「改成59的那个」「换个便宜点的」: the plans she means, when she said them by price or direction.
    current = await _subscriber_plan(turn, phone)
    offered = [p for p in await turn.services.billing.list_plans() if p.available and p.code != current.code]
    if understanding.meant_for_the_old(turn.text):  # 「换个便宜点的卡 老年人用的」: among those made for them
        offered = [p for p in offered if p.elder_friendly]
    budget = plan_lists.budget_said(turn)
    if budget is not None:  # 「我要换成每个月三十块钱以下的套餐」
        plan_lists.within_budget(turn, budget, offered)
        return
    meant = understanding.plans_meant(turn.text, current, offered)
    if meant is None and understanding.means_the_sim_card(turn.text):
        # 「我的SIM卡要换成5G的 去哪换」: a new card is the operator's (a person, a shop), not a plan.
        await hand_off_operator_errand(turn)
        return
    if meant is None and (understanding.wants_plan_advice(turn.text) or _asked_for_advice_too(turn)):
        # 「我想改个套餐 但是不知道哪个合适」: the plan her usage suits, not 「想换成哪个套餐？」.
        await recommend(turn)
    elif meant is None:
        turn.say(replies.ask_which_plan())
        turn.set("pending", "plan_which")
    else:
        await _offer_meant(turn, phone, current, meant)


def _asked_for_advice_too(turn: Turn) -> bool:
    return understanding.second_request(turn.parse) == "recommend_plan"


async def _offer_meant(turn: Turn, phone: str, current: Plan, meant: list[Plan]) -> None:
    """The plans she said by price or direction: none that way, the one to confirm, or a list to pick from."""
    if not meant:
        turn.say(replies.no_plan_that_way(current))
        turn.set("pending", "plan_which")
    elif len(meant) == 1:
        await propose(turn, phone, meant[0].code, current)
    else:
        shown = meant[: replies.SHOWN_ITEMS]  # the list she picks from is the list remembered
        turn.say(replies.plans_to_pick(shown, current, turn.elder))
        turn.set("pending", "plan_pick:" + ",".join(p.code for p in shown))


async def pick_reply(turn: Turn, ref: str, number: Optional[int]) -> None:
    """The answer to a numbered list of plans: a number from it, or a plan's name (else asked again)."""
    codes = [code for code in ref.split(",") if code]
    if number is not None and 1 <= number <= len(codes):
        phone = await account_phone(turn, "change_plan")
        if phone:
            await propose(turn, phone, codes[number - 1])
    elif turn.entity("plan"):
        await change_plan(turn)
    else:
        turn.say(replies.pick_plan_again(len(codes)))
        turn.set("pending", f"plan_pick:{ref}")


async def propose(turn: Turn, phone: str, code: str, current: Optional[Plan] = None) -> None:
    """Ask her to confirm the change to `code`; `current`: her plan, when the caller has read it."""
    target = await _find_plan(turn, code)
    if target is None:
        turn.say(replies.unknown_plan())
        turn.set("pending", "plan_which")
        return
    current = current or await _subscriber_plan(turn, phone)
    if target.code == current.code:
        turn.say(replies.plan_same(target))
    elif target.requires_in_person or current.requires_in_person:
        turn.say(replies.plan_needs_in_person(target if target.requires_in_person else current))
    else:
        turn.say(replies.confirm_plan_change(current, target))
        turn.set("pending", f"plan_confirm:{target.code}")


async def _find_plan(turn: Turn, code_or_name: str) -> Optional[Plan]:
    plan = await turn.services.billing.get_plan(code_or_name)
    if plan is None:
        # An alias the synonym table does not know yet: try the plans' own names.
        plans = await turn.services.billing.list_plans()
        plan = next((p for p in plans if code_or_name and code_or_name in p.name), None)
    return plan if plan and plan.available else None


async def confirm(turn: Turn, code: str) -> None:
    phone = await account_phone(turn, "change_plan")
    if not phone:
        return
    target = await _find_plan(turn, code)
    if target is None or target.requires_in_person:
        # `pending` names a plan no proposal of ours could have offered: never pass it on.
        turn.say(replies.unknown_plan())
        turn.set("pending", "plan_which")
        return
    result = await turn.services.billing.change_plan(phone, target.code)
    if result.outcome == PlanChangeOutcome.CHANGED and target:
        turn.say(replies.plan_changed(target, result.effective_date))
    elif result.outcome == PlanChangeOutcome.SAME_PLAN and target:
        turn.say(replies.plan_same(target))
    elif result.outcome == PlanChangeOutcome.NEEDS_IN_PERSON and target:
        turn.say(replies.plan_needs_in_person(target))
    elif result.outcome == PlanChangeOutcome.LINE_NOT_ACTIVE:
        turn.say(replies.plan_line_not_active())
    else:
        turn.say(replies.unknown_plan())
        turn.set("pending", "plan_which")


class ActionCheckPlan(FlowAction):
    action_name = "action_check_plan"

    async def flow(self, turn: Turn) -> None:
        await check_plan(turn)


class ActionListPlans(FlowAction):
    action_name = "action_list_plans"

    async def flow(self, turn: Turn) -> None:
        await list_plans(turn)


class ActionRecommendPlan(FlowAction):
    action_name = "action_recommend_plan"

    async def flow(self, turn: Turn) -> None:
        await recommend(turn)
