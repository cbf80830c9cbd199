"""Short replies ("1", "好", "50", "482913", "养老卡") answer the question asked last.

The previous action left that question in the `pending` slot; this module is the one place
that maps a short reply to what it means there. Numbered choices: 1 yes, 2 no, 0 a human.
"""

from __future__ import annotations

import re
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import (
    account,
    binding_flow,
    charges,
    guidance,
    invoices,
    plan_lists,
    plans,
    points,
    replies,
    service,
    topup,
    understanding,
    value_added,
)
from actions.turn import FlowAction, Turn
from core.vocabulary import TURN_FAILED_PAYLOAD, HandoffReason

FLOWS: Dict[str, Callable[[Turn], Awaitable[None]]] = {
    "balance": account.balance,
    "bill": account.bill,
    "how_charged": account.charges_explained,
    "usage": account.usage,
    "top_up": topup.top_up,
    "plan": plans.check_plan,
    "list_plans": plans.list_plans,
    "recommend": plans.recommend,
    "change_plan": plans.change_plan,
    "low_balance_help": guidance.low_balance_help,
    "relative_balance": guidance.resume_relative_balance,
    "relative_usage": guidance.resume_relative_usage,
    "dispute": charges.dispute,
    "list_services": value_added.list_services,
    "cancel_service": value_added.cancel_service,
    "points": points.check_points,
    "invoice": invoices.request_invoice,
}
# The request behind each intent, for a clarifying question's or a second request's number.
INTENT_FLOWS: Dict[str, Callable[[Turn], Awaitable[None]]] = {
    "check_balance": account.balance,
    "check_bill": account.bill,
    "check_usage": account.usage,
    "top_up": topup.top_up,
    "check_plan": plans.check_plan,
    "list_plans": plans.list_plans,
    "recommend_plan": plans.recommend,
    "change_plan": plans.change_plan,
    "report_fault": service.report_fault,
    "report_broadband_fault": guidance.broadband_fault,
    "ask_relative": guidance.ask_relative,
    "real_name_suspension": guidance.real_name_suspension,
    "low_balance_help": guidance.low_balance_help,
    "complaint": guidance.complaint,
    "ticket_status": guidance.ticket_status,
    "bind_phone": binding_flow.bind,
    "unbind_phone": binding_flow.unbind,
    "dispute_charge": charges.dispute,
    "list_services": value_added.list_services,
    "cancel_service": value_added.cancel_service,
    "check_points": points.check_points,
    "request_invoice": invoices.request_invoice,
}
MENU = {1: "balance", 2: "usage", 3: "top_up", 4: "plan", 5: "recommend"}
HUMAN_CHOICE = 0
MORE = re.compile(r"更多|还有呢|还有哪些|其余|剩下的|查看全部|看全部")
# Pending questions that a reply in words may answer ("更多"; a service's name to 「要退订哪个？」):
# the fallback passes such replies on instead of saying it did not understand.


def _number(turn: Turn) -> Optional[int]:
    value = turn.entity("number")
    return int(value) if value is not None else None


def _is_yes(turn: Turn) -> bool:
    return turn.intent == "affirm" or _number(turn) == 1


def _is_no(turn: Turn) -> bool:
    return turn.intent == "deny" or _number(turn) == 2


def _wants_more(turn: Turn) -> bool:
    return bool(MORE.search(turn.text))


async def handle_reply(turn: Turn) -> None:
    pending = turn.slot("pending") or ""
    kind, _, ref = pending.partition(":")
    if _number(turn) == HUMAN_CHOICE and turn.entity("sms_code") is None:  # "0", "按0"; not "000000"
        await service.hand_off(turn, HandoffReason.ELDER if turn.elder else HandoffReason.REQUEST_HUMAN)
    elif understanding.takes_back(turn.text) and not _corrects_it(turn):
        await taken_back(turn)
    elif kind == "bind_phone":
        await _bind_phone_reply(turn)
    elif kind == "bind_code":
        await _bind_code_reply(turn, ref)
    elif kind == "topup_amount":
        await _topup_amount_reply(turn, ref)
    elif kind == "topup_number":
        await _topup_number_reply(turn, int(ref) if ref else None)
    elif kind == "topup_confirm" and topup.corrected_order(turn) is not None:
        await topup.change_amount(turn, ref)  # 「等一下 充100吧」
    elif kind == "topup_confirm":
        await _confirm_reply(turn, lambda: topup.confirm(turn, ref), lambda: topup.cancel(turn, ref))
    elif kind == "plan_confirm":
        await _confirm_reply(turn, lambda: plans.confirm(turn, ref), _say_plan_unchanged(turn))
    elif kind == "plan_which" and turn.entity("plan"):
        await plans.change_plan(turn)
    elif kind == "plan_pick":
        await plans.pick_reply(turn, ref, _number(turn))
    elif kind == "clarify":
        await _chosen_request(turn, ref.split(","))
    elif kind == "next":
        await _confirm_reply(turn, lambda: INTENT_FLOWS[ref](turn), _say_nothing_pending(turn))
    elif kind == "relative_which":
        await _relative_reply(turn, ref or "relative_balance")
    elif kind == "dispute_offer":
        await charges.dispute_reply(turn, ref, _is_yes(turn), _is_no(turn), _wants_more(turn))
    elif kind == "service_confirm":
        await _confirm_reply(turn, lambda: value_added.confirm(turn, ref), lambda: value_added.keep(turn, ref))
    elif kind == "service_which":
        await value_added.which_reply(turn, ref, _number(turn), _is_no(turn), _wants_more(turn))
    elif kind == "more" and _wants_more(turn):
        await _more(turn, ref)
    else:
        await _reply_without_context(turn)


def _corrects_it(turn: Turn) -> bool:
    """「打错了 是13800000002」: a new answer comes with the correction; the flow takes it."""
    return turn.entity("phone") is not None or turn.entity("amount") is not None or _number(turn) is not None


async def taken_back(turn: Turn) -> None:
    """「我刚才说错了 不是要充值」: what was about to be done is not done, and nothing is asked again."""
    kind, _, ref = str(turn.slot("pending") or "").partition(":")
    if kind == "topup_confirm":
        await topup.cancel(turn, ref)
    elif kind == "plan_confirm":
        turn.say(replies.plan_change_cancelled())
    elif kind == "service_confirm":
        await value_added.keep(turn, ref)
    else:
        turn.say(replies.taken_back(turn.elder))


async def _more(turn: Turn, ref: str) -> None:
    """ "更多" after a list cut at three: the rest of it."""
    what, _, arg = ref.partition(":")
    if what == "plans":
        await plans.more_plans(turn)
    elif what == "services":
        await value_added.more_services(turn)
    elif what == "bill" and arg:
        await account.more_bill(turn, arg)
    elif what == "payments":
        await invoices.more_payments(turn, arg or None)
    else:
        turn.say(replies.nothing_more())


async def _bind_phone_reply(turn: Turn) -> None:
    phone = turn.entity("phone")
    if phone:
        await _prove(turn, str(phone))
    elif _is_no(turn):
        turn.say(replies.nothing_pending())
    else:
        turn.say(replies.ask_phone_to_bind(turn.elder))
        turn.set("pending", "bind_phone")


async def _bind_code_reply(turn: Turn, phone: str) -> None:
    code = turn.entity("sms_code")
    if turn.entity("phone"):
        await _prove(turn, str(turn.entity("phone")))
        return
    if not code:
        if understanding.asks_to_resend(turn.text):  # 「没收到 再发一个」: a new one, or why not yet
            await binding_flow.send_code(turn, phone)
            return
        turn.say(replies.code_sent(phone))
        turn.set("pending", f"bind_code:{phone}")
        return
    if await binding_flow.verify(turn, phone, str(code)):
        await _after_binding(turn, phone)


async def _prove(turn: Turn, phone: str) -> None:
    """A number given to bind: its code is sent, or, when she proved it before (her mother's
    number, bound last week), what waited for the binding goes on at once."""
    if await binding_flow.send_code(turn, phone):
        await _after_binding(turn, phone)


async def _after_binding(turn: Turn, phone: str) -> None:
    """What she asked before the binding was needed (`after_bind`), now for the bound `phone`."""
    key, colon, argument = (turn.slot("after_bind") or "").partition(":")
    resume = FLOWS.get(key)
    turn.set("after_bind", None)
    if resume:
        turn.resumed = argument if colon else None
        turn.about_phone = phone
        await resume(turn)


async def _topup_amount_reply(turn: Turn, other_phone: str) -> None:
    """The amount of a top-up; `other_phone`: the someone else's number she named (亲情付)."""
    if topup.refuse_invalid_amount(turn):
        if other_phone:  # keep the named number while the amount is asked again
            turn.set("pending", f"topup_amount:{other_phone}")
        return
    amount = turn.entity("amount")
    if amount is None:
        amount = _number(turn)
    if amount is not None:
        if other_phone:
            await topup.top_up_number(turn, other_phone, amount)
            return
        phone = await account.account_phone(turn, "top_up")
        if phone:
            await topup.propose(turn, phone, int(amount))
    elif _is_no(turn):
        turn.say(replies.top_up_cancelled())
    else:
        turn.say(replies.ask_amount(turn.elder))
        turn.set("pending", f"topup_amount:{other_phone}" if other_phone else "topup_amount")


async def _topup_number_reply(turn: Turn, amount: Optional[int]) -> None:
    """Whose line a family top-up is for: a number she types, or the number of a bound line."""
    if turn.entity("amount") is not None:
        amount = int(turn.entity("amount"))
    phone = turn.entity("phone")
    number = _number(turn)
    if phone:
        await topup.top_up_number(turn, str(phone), amount)
    elif number is not None and 1 <= number <= len(bound := await turn.services.binding.bound_phones(turn.openid)):
        await topup.top_up_number(turn, bound[number - 1], amount)
    elif turn.intent == "deny":
        turn.say(replies.top_up_cancelled())
    else:
        await topup.ask_whose_number(turn, None, amount)


async def _chosen_request(turn: Turn, options: list[str]) -> None:
    number = _number(turn)
    if number is not None and 1 <= number <= len(options) and options[number - 1] in INTENT_FLOWS:
        await INTENT_FLOWS[options[number - 1]](turn)
    else:
        await _reply_without_context(turn)


async def _relative_reply(turn: Turn, flow: str) -> None:
    phones = await turn.services.binding.bound_phones(turn.openid)
    number = _number(turn)
    named = turn.entity("phone")
    if named is not None and str(named) in phones:
        await guidance.relative_answer(turn, str(named), flow)
    elif number is not None and 1 <= number <= len(phones):
        await guidance.relative_answer(turn, phones[number - 1], flow)
    else:
        await _reply_without_context(turn)


def _say_nothing_pending(turn: Turn) -> Callable[[], Awaitable[None]]:
    async def say() -> None:
        turn.say(replies.nothing_pending())

    return say


def _say_plan_unchanged(turn: Turn) -> Callable[[], Awaitable[None]]:
    async def say() -> None:
        turn.say(replies.plan_change_cancelled())

    return say


async def _confirm_reply(
    turn: Turn, on_yes: Callable[[], Awaitable[None]], on_no: Callable[[], Awaitable[None]]
) -> None:
    if _is_yes(turn):
        await on_yes()
    elif _is_no(turn):
        await on_no()
    else:
        turn.say(replies.CONFIRM_CHOICES)
        turn.set("pending", turn.slot("pending"))


async def _reply_without_context(turn: Turn) -> None:
    number = _number(turn)
    if number in MENU:
        await FLOWS[MENU[number]](turn)
    elif turn.entity("phone"):
        # 「我要查一下我的话费 我的手机号是138…」: the question, about that number (bound first if
        # it is not yet hers), rather than only 「您已绑定…」.
        asked = understanding.plain_request(turn.text, list(understanding.PLAIN_REQUESTS))
        if asked is not None:
            await INTENT_FLOWS[asked](turn)
        else:
            await binding_flow.send_code(turn, str(turn.entity("phone")))
    elif understanding.mentions_the_code(turn.text):  # 「给我发个验证码」: binding, whatever the classifier read
        await binding_flow.bind(turn)
    elif turn.entity("plan"):
        await plans.change_plan(turn)
    elif turn.entity("amount") is not None or turn.entity("amount_invalid") is not None:
        await topup.top_up(turn)
    elif (follow := _followed_up(turn)) is not None:
        await follow(turn)
    else:
        turn.say(replies.nothing_pending())


FOLLOWED_BACK = 2  # a follow-up refers to one of her last two messages, not to one long before


def _followed_up(turn: Turn) -> Optional[Callable[[Turn], Awaitable[None]]]:
    """「那通话呢」 after her usage, 「10月的呢」 after a bill: the request she made last, again, for
    what this message names (the month is read from it). Not for a relative (「那我妈的呢」)."""
    if not understanding.is_follow_up(turn.text) or turn.entity("relative"):
        return None
    said = [e for e in turn.tracker.events if e.get("event") == "user"][:-1]
    for event in reversed(said[-FOLLOWED_BACK:]):
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if intent in INTENT_FLOWS:
            if understanding.about_usage(turn.text):  # 「那流量呢」 after the balance
                return account.usage
            return INTENT_FLOWS[intent]
    return None


class ActionHandleReply(FlowAction):
    action_name = "action_handle_reply"

    async def flow(self, turn: Turn) -> None:
        await handle_reply(turn)


async def clarify(turn: Turn) -> None:
    """Not sure what was meant: ask with the likeliest meanings, numbered; a person after
    two misses in a row (an elder after one, when there is nothing sensible to offer)."""
    if understanding.takes_back(turn.text):
        await taken_back(turn)
        return
    options = [name for name in understanding.clarify_options(turn.parse) if name in INTENT_FLOWS]
    if understanding.says_top_up_missing(turn.text) and {"dispute_charge", "check_balance", "top_up"} & set(options):
        # 「我刚才充了一百 为什么显示还欠费」「我孙子给我充了一百 到了没有」: the top-ups that reached her
        # line, and the offer to check; not a top-up for the one who paid.
        await charges.dispute(turn)
        return
    if "top_up" in options and turn.entity("relative") and understanding.asks_a_top_up(turn.parse):
        # 「帮我给我妈妈的号码充五十」, top-up or her line unsure: either way her number comes first,
        # and asking it opens nothing (the top-up is still confirmed once the number is given).
        await topup.top_up_for_relative(turn)
        return
    line_asked = understanding.asks_line_status(turn.text) and {"check_balance", "report_fault"} & set(options)
    if line_asked or understanding.says_line_troubled(turn.text):
        # 「手机卡是不是被停了 发不了短信」, and 「我的号有问题」 whatever the likeliest meanings: whether her
        # line works is the balance answer's first line, with where to report a fault when it is
        # not cut off; not a numbered guess at what the problem is.
        await account.balance(turn)
        return
    if understanding.says_network_slow(turn.text):  # 「网速太慢了」: the data left, and whether the line works
        await account.usage(turn)
        return
    if understanding.asks_about_her_other_line(turn.text):  # 「帮我查一下另一个号的话费」
        await guidance.her_other_line(turn)
        return
    if understanding.complains_of_service(turn.text):  # 「你们的服务太差了」: the complaint, not 「1 投诉」
        await guidance.complaint(turn)
        return
    if understanding.says_allowance_too_small(turn.text):  # 「流量每个月都超」: a plan that fits her usage
        await plans.recommend(turn)
        return
    if {"change_plan", "recommend_plan"} & set(options) and understanding.names_a_direction(turn.text):
        # 「能不能换成便宜一点的 我一个月也用不了多少流量」: the plans that way, each still confirmed.
        await plans.recommend(turn)
        return
    if "套餐" in turn.text and plan_lists.budget_said(turn) is not None:  # 「我想换个十块钱以下的套餐」
        await plans.list_plans(turn)
        return
    if understanding.asks_for_a_data_pack(turn.text):  # 「流量不够用了 有没有那种临时加一点的」
        await account.usage(turn)
        return
    plain = understanding.plain_request(turn.text, options)
    if plain is not None:  # 「……也不知道怎么查话费」: one of the likeliest meanings, said in plain words
        await INTENT_FLOWS[plain](turn)
        return
    misses = service.consecutive_fallbacks(turn.tracker)
    if options and misses < 2:
        turn.say(replies.clarify([understanding.REQUEST_LABELS[name] for name in options], turn.elder))
        turn.set("pending", "clarify:" + ",".join(options))
    else:
        await service.fallback(turn)


async def unless_clear(turn: Turn, intent: str, flow: Callable[[Turn], Awaitable[None]]) -> None:
    """A transaction opens only on a clear request; anything vaguer, or a dispute, is asked."""
    if understanding.clear_transaction_request(turn.parse, intent):
        await flow(turn)
    else:
        await clarify(turn)


class ActionClarify(FlowAction):
    action_name = "action_clarify"

    async def flow(self, turn: Turn) -> None:
        if _answers_the_question(turn):
            await handle_reply(turn)
        else:
            await clarify(turn)


class ActionDefaultFallback(FlowAction):
    """Not understood: but a numbered choice after a question is still an answer to it."""

    action_name = "action_default_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        if _actions_failed_in_this_turn(tracker.events):
            # The action server was down and is back: Rasa predicted this fallback only because the
            # real actions failed (the session start, say), so "not understood" would be false.
            dispatcher.utter_message(json_message={TURN_FAILED_PAYLOAD: "action_server"})
            return []
        return await super().run(dispatcher, tracker, domain)

    async def flow(self, turn: Turn) -> None:
        if _answers_the_question(turn):
            await handle_reply(turn)
        else:
            await service.fallback(turn)


def _actions_failed_in_this_turn(events: List[Dict[Text, Any]]) -> bool:
    """Whether custom actions of this turn failed before this fallback: an earlier fallback in it (one
    that succeeds ends the turn), or a turn that did not start after a listen (a session start
    that failed leaves no `action_listen` before the message)."""
    starts = [i for i, event in enumerate(events) if event.get("event") == "user"]
    if not starts:
        return False
    before = [e.get("name") for e in events[: starts[-1]] if e.get("event") == "action"]
    since = events[starts[-1] + 1 :]
    fallback_before = any(
        e.get("event") == "action" and e.get("name") == ActionDefaultFallback.action_name for e in since
    )
    return fallback_before or (bool(before) and before[-1] != "action_listen")


def _answers_the_question(turn: Turn) -> bool:
    """A message the classifier did not place may still answer the question asked last:
    a number, a service name from the list, or 「更多」 after a cut list."""
    pending = turn.slot("pending") or ""
    if _number(turn) is not None and pending:
        return True
    if topup.corrected_order(turn) is not None:
        return True  # another amount for the top-up waiting for her 「1」
    if pending.startswith("bind_code:") and understanding.asks_to_resend(turn.text):
        return True  # the code again, whatever the classifier read
    if not pending and understanding.mentions_the_code(turn.text):
        return True  # binding
    return pending.startswith("service_which:") or (
        _wants_more(turn) and pending.startswith(("more:", "dispute_offer:"))
    )
