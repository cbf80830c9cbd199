"""「怎么扣了这么多」: what was charged, in plain words, then one offer: a person checks it.

Never a top-up or a plan prompt here: a subscriber contesting money is not sold anything.
The offer leaves pending "dispute_offer:<month>:<what they said>", so that 「1」 hands off
with the subscriber's own words in the agent's summary.
"""

from __future__ import annotations

from actions import replies, ticket_form, understanding, value_added
from actions.account import (
    account_phone,
    asked_month,
    balance,
    charges_explained,
    current_month,
    top_ups_arrived,
    usage,
)
from actions.turn import FlowAction, Turn
from billing.money import format_yuan
from billing.periods import shift_month
from core.vocabulary import TicketCategory

DISPUTE_INTENT = "dispute_charge"


async def dispute(turn: Turn) -> None:
    month = asked_month(turn)
    phone = await account_phone(turn, f"dispute:{month}" if month else "dispute")
    if not phone:
        return
    billing = turn.services.billing
    current = current_month(turn)
    said = _said_in_dispute(turn)
    if understanding.says_network_slow(said):  # 「我的网络怎么这么慢」: no money in it
        await usage(turn)
        return
    if understanding.says_calls_fail(said):  # 「为什么我打电话总是没声音」: a fault report
        await ticket_form.start_fault(turn)
        return
    if understanding.says_balance_negative(said):  # 「我的话费怎么变成负的了」: whether she owes
        await balance(turn)
        return
    if understanding.says_top_up_missing(said):
        await top_ups_arrived(turn, phone, said)
        return
    if understanding.says_data_goes_fast(said):
        # Her data went faster than she thinks it should: what she used, what uses it, and the offer.
        turn.say(replies.data_used_fast(await billing.get_usage(phone), turn.elder))
        turn.set("pending", f"dispute_offer:{current}:{said}")
        return
    if understanding.asks_how_charges_work(said):  # 「话费是怎么扣的」: asked, not contested
        await charges_explained(turn)
        return
    if await value_added.explain_how_it_began(turn, phone):  # 「我没开通过什么彩铃 为什么扣我钱」
        return
    this_month = await billing.list_charges(phone)
    if month is None or month >= current:
        month = current
        answer = replies.dispute_this_month(this_month, current, turn.elder)
    else:
        so_far = sum(c.amount_fen for c in this_month) if month == shift_month(current, -1) else None
        answer = replies.dispute_bill(await billing.get_bill(phone, month), current, so_far, turn.elder)
    if understanding.compares_with_before(said):  # 「比平时多了十块」: the months before, beside it
        before = [await billing.get_bill(phone, shift_month(month, -k)) for k in (1, 2)]
        lines = answer.split("\n")
        answer = "\n".join([*lines[:-1], replies.months_before(before, current), lines[-1]])
    turn.say(answer)
    # The whole of what they said goes to the agent if they take the offer (not its first words).
    turn.set("pending", f"dispute_offer:{month}:{said}")


def _said_in_dispute(turn: Turn) -> str:
    """What the subscriber said about the charge: this message, or, when it is only an answer
    (the SMS code after binding, 「1」 to a clarifying question), the last one classified as a
    dispute, else the last one with words in it."""
    if turn.intent == DISPUTE_INTENT:
        return turn.words
    said = [e for e in turn.tracker.events if e.get("event") == "user"]
    for event in reversed(said):
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if intent == DISPUTE_INTENT:
            return str(event.get("text") or "")
    for event in reversed(said):
        text = str(event.get("text") or "")
        if len(text) > 3 and not text.isdigit():
            return text
    return turn.words


async def more_charges(turn: Turn, month: str) -> None:
    """ "更多" after a dispute answer: the rest of that month's charges (or bill lines)."""
    phone = await account_phone(turn, "dispute")
    if not phone:
        return
    current = current_month(turn)
    if month >= current:
        ordered = replies.dispute_order(await turn.services.billing.list_charges(phone))
        lines = [replies.charge_line(c) for c in ordered]
    else:
        bill = await turn.services.billing.get_bill(phone, month)
        lines = [f"· {item.name} {format_yuan(item.amount_fen)}" for item in bill.items]
    rest = lines[replies.SHOWN_ITEMS :]
    if not rest:
        turn.say(replies.nothing_more())
        return
    turn.say(replies.more_lines(rest, "其余的扣费：", replies.DISPUTE_OFFER))


async def dispute_reply(turn: Turn, ref: str, yes: bool, no: bool, more: bool) -> None:
    """The answer to the dispute offer. Anything else asks again: a reply here (「我充了50」)
    must never turn into a top-up or a plan offer."""
    month, _, said = ref.partition(":")
    if yes:
        # The offer opens a complaint ticket (乱扣费) and asks what happened.
        await ticket_form.start_complaint(turn, TicketCategory.BILLING, said=f"{month} 扣费异议：{said}".strip())
    elif no:
        turn.say(replies.dispute_declined())
    elif more and month:
        await more_charges(turn, month)
        turn.set("pending", f"dispute_offer:{ref}")
    else:
        turn.say(replies.dispute_offer_again())
        turn.set("pending", f"dispute_offer:{ref}")


class ActionDisputeCharge(FlowAction):
    action_name = "action_dispute_charge"

    async def flow(self, turn: Turn) -> None:
        await dispute(turn)
