"""Balance, bill and usage; and the account gate every account question goes through."""

from __future__ import annotations

from typing import Optional

from actions import binding_flow, plan_lists, replies, understanding
from actions.service import hand_off_operator_errand
from actions.turn import FlowAction, Turn
from billing.backend import LineStatus
from billing.periods import month_asked, month_of, months_back_asked, shift_month
from core.privacy import mask_phone


async def account_phone(turn: Turn, after: str) -> Optional[str]:
    """The number the question is about: a bound number she named (「13900000002的流量」), else
    her first bound number; None after asking her to bind one.

    No account data is shown to an openid until it has proven a number by SMS code;
    `after` names the flow to resume once binding succeeds. A number she names that is not
    bound to her is proven the same way (the code goes to that phone): a question about it is
    never answered with her own line's figures.
    """
    phones = await turn.services.binding.bound_phones(turn.openid)
    named = turn.about_phone or (str(turn.entity("phone")) if turn.entity("phone") else None)
    if named in phones:
        return named
    if named:
        if phones:  # someone else's line; with nothing bound yet, most likely her own
            turn.say(replies.relative_needs_binding(mask_phone(named)))
        await binding_flow.send_code(turn, named)
        turn.set("after_bind", after)
        return None
    if phones:
        return phones[0]
    turn.say(replies.ask_phone_to_bind(turn.elder))
    turn.set("pending", "bind_phone")
    turn.set("after_bind", after)
    return None


async def balance(turn: Turn) -> None:
    phone = await account_phone(turn, "balance")
    if not phone:
        return
    if understanding.says_top_up_missing(turn.text):  # 「我儿子给我充了一百 到了没有」
        await top_ups_arrived(turn, phone, turn.words)
        return
    if understanding.asks_monthly_cost(turn.text):  # 「我每个月话费要好多钱」: not what is left
        await charges_explained(turn)
        return
    b = await turn.services.billing.get_balance(phone)
    asked, down = understanding.asks_line_status(turn.text), understanding.says_line_down(turn.text)
    lasts = understanding.asks_if_balance_lasts(turn.text) and b.status == LineStatus.ACTIVE
    # 「够不够用到月底」: the balance against next month's fees, which ends with its own top-up offer.
    answer = replies.balance(b, turn.elder, asked_status=asked, cannot_call=down, offer_top_up=not lasts)
    if lasts:
        answer += "\n" + replies.balance_lasts(b, await monthly_fees(turn, phone), turn.elder)
    turn.say(answer)


async def monthly_fees(turn: Turn, phone: str) -> int:
    """What the 1st of next month takes, about: her plan's fee and her services' (a plan change she
    made takes effect then, at its own fee: 「约」 in the reply)."""
    billing = turn.services.billing
    subscriber = await billing.get_subscriber(phone)
    assert subscriber is not None, "a bound number always belongs to a subscriber"
    plan = await billing.get_plan(subscriber.plan_code)
    services = await billing.list_services(phone)
    return (plan.monthly_fee_fen if plan else 0) + sum(s.service.monthly_fee_fen for s in services)


async def top_ups_arrived(turn: Turn, phone: str, said: str) -> None:
    """A top-up she does not see: what reached her line and her balance (the charges would not
    show a top-up at all), and the offer to have it checked."""
    billing = turn.services.billing
    payments = await billing.list_payments(phone, limit=replies.SHOWN_ITEMS)
    turn.say(replies.top_ups_arrived(payments, await billing.get_balance(phone), turn.elder))
    turn.set("pending", f"dispute_offer:{current_month(turn)}:{said}")


def asked_month(turn: Turn) -> Optional[str]:
    """The month the question names ("2026-10"), also when resumed after binding; else None."""
    if turn.resumed is not None:
        return turn.resumed or None
    # 「这个月怎么比上个月多」: the month set against another is the one before 比.
    compared = understanding.COMPARED_WITH_BEFORE.search(turn.text)
    text = turn.text[: compared.start()] if compared is not None else turn.text
    return month_asked(text, turn.services.today())


def current_month(turn: Turn) -> str:
    return month_of(turn.services.today())


async def bill(turn: Turn) -> None:
    """The bill of the month asked (上个月, 10月, 2026年10月 ...; default: last month's)."""
    if understanding.asks_for_call_records(turn.text):  # 「我想看看我的通话记录」: not the bill's totals
        await hand_off_operator_errand(turn)
        return
    if understanding.asks_how_charges_work(turn.text):  # 「每月扣费规则是什么」: not a month's bill
        await charges_explained(turn)
        return
    month = asked_month(turn)
    phone = await account_phone(turn, f"bill:{month}" if month else "bill")
    if not phone:
        return
    current = current_month(turn)
    back = months_back_asked(turn.text) if month is None else None
    if back is not None:  # 「最近三个月的账单」: each month's total, newest first
        months = [shift_month(current, -k) for k in range(1, back + 1)]
        bills = [await turn.services.billing.get_bill(phone, m) for m in months]
        turn.say(replies.bill_totals(bills, current, turn.elder))
        return
    if month is not None and month >= current:
        charges = await turn.services.billing.list_charges(phone) if month == current else []
        answer = replies.bill_not_out(month, current, sum(c.amount_fen for c in charges))
        if understanding.asks_balance_too(turn.text) or understanding.second_request(turn.parse) == "check_balance":
            # 「这个月扣了多少钱 然后还有多少钱」: both, in the one message the passive reply carries.
            answer += "\n" + replies.balance(await turn.services.billing.get_balance(phone), turn.elder)
            turn.also_answered.add("check_balance")
        turn.say(answer)
        return
    result = await turn.services.billing.get_bill(phone, month)
    if not result.items:
        turn.say(replies.no_bill(result.month, current))
    else:
        turn.say(replies.bill(result, turn.elder))
        if not turn.elder and replies.bill_is_cut(result):
            turn.set("pending", f"more:bill:{result.month}")


async def charges_explained(turn: Turn) -> None:
    """「我每个月的话费是怎么扣的」: how her line is charged, shown on this month's deductions."""
    phone = await account_phone(turn, "how_charged")
    if phone:
        charges = await turn.services.billing.list_charges(phone)
        turn.say(replies.how_charged(charges, current_month(turn), turn.elder))


async def more_bill(turn: Turn, month: str) -> None:
    """「更多」 after a bill cut to its three dearest lines: the other lines."""
    phone = await account_phone(turn, f"bill:{month}")
    if phone:
        turn.say(replies.more_bill(await turn.services.billing.get_bill(phone, month)))


async def usage(turn: Turn) -> None:
    if understanding.asks_for_a_data_pack(turn.text):
        await hand_off_operator_errand(turn)
        return
    if understanding.asks_plan_with_more_minutes(turn.text):  # 「我主要打电话 想要通话时间长的套餐」
        plan_lists.most_minutes(turn, [p for p in await turn.services.billing.list_plans() if p.available])
        return
    month = asked_month(turn)
    phone = await account_phone(turn, f"usage:{month}" if month else "usage")
    if not phone:
        return
    if month is not None and month < current_month(turn):  # 「上个月打了多少分钟电话」
        await _past_usage(turn, phone, month)
        return
    if understanding.says_data_goes_fast(turn.text):  # as in a dispute (actions/charges.py)
        turn.say(replies.data_used_fast(await turn.services.billing.get_usage(phone), turn.elder))
        turn.set("pending", f"dispute_offer:{current_month(turn)}:{turn.words}")
        return
    answer = replies.usage(await turn.services.billing.get_usage(phone), turn.elder)
    if understanding.says_line_down(turn.text) or understanding.says_network_slow(turn.text):
        # 「手机为啥上不了网了 流量还有的嘛」: data left, so whether her line works, and where to
        # report; in the same message, so that the passive reply carries all of it.
        b = await turn.services.billing.get_balance(phone)
        answer += "\n" + replies.balance(b, turn.elder, asked_status=True, cannot_call=True)
    turn.say(answer)


USAGE_KEPT_MONTHS = 12


async def _past_usage(turn: Turn, phone: str, month: str) -> None:
    """What she used in a month gone by (the billing keeps a year of it)."""
    current = current_month(turn)
    back = next((k for k in range(1, USAGE_KEPT_MONTHS + 1) if shift_month(current, -k) == month), None)
    history = await turn.services.billing.get_usage_history(phone, back) if back else []
    used = next((u for u in history if u.month == month), None)
    if used is None:
        turn.say(replies.no_usage_record(month, current))
    else:
        turn.say(replies.past_usage(used, current, turn.elder))


class ActionCheckBalance(FlowAction):
    action_name = "action_check_balance"

    async def flow(self, turn: Turn) -> None:
        await balance(turn)


class ActionCheckBill(FlowAction):
    action_name = "action_check_bill"

    async def flow(self, turn: Turn) -> None:
        await bill(turn)


class ActionCheckUsage(FlowAction):
    action_name = "action_check_usage"

    async def flow(self, turn: Turn) -> None:
        await usage(turn)
