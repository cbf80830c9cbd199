"""Top-up: amount -> confirm -> payment link; the balance is credited only when WeChat Pay's
verified notification reaches the gateway (billing.payments). Confirming twice sends the same link.

亲情付: a number named in the request that is not bound to the sender is someone else's line;
「给我妈充五十」 names a relative but no number, so that number is asked for (never her own).
It is shown back in full (she typed it) and must be confirmed; the payment order records the payer
(this openid) and the line credited, and only this openid can confirm or cancel it.
"""

from __future__ import annotations

import logging
from typing import Any

from actions import replies, understanding
from actions.account import account_phone, monthly_fees
from actions.turn import Turn
from billing.backend import BillingError, LineStatus, OrderNotFound
from billing.money import yuan_to_fen
from core.privacy import mask_phone
from core.redact import mask_openid

log = logging.getLogger(__name__)

MIN_YUAN, MAX_YUAN = 1, 5000


async def top_up(turn: Turn) -> None:
    # 「闺女啊 我想充个话费」: 闺女 is the assistant she speaks to, not whose line it is.
    relative = bool(turn.entity("relative")) and not understanding.kin_only_called(turn.text)
    await _top_up(turn, for_relative=relative)


async def top_up_for_relative(turn: Turn) -> None:
    """「给我妈充五十」: a family member's line. Never her own line by default: she names that
    number, or picks one of her bound numbers."""
    await _top_up(turn, for_relative=True)


async def _top_up(turn: Turn, *, for_relative: bool) -> None:
    if refuse_invalid_amount(turn):
        return
    amount = turn.entity("amount")
    named = turn.entity("phone")
    if named:
        await top_up_number(turn, str(named), amount)
    elif for_relative:
        relative = turn.entity("relative")
        await ask_whose_number(turn, str(relative) if relative else None, amount)
    else:
        phone = await account_phone(turn, "top_up")
        if phone:
            await _with_amount(turn, phone, amount)


async def top_up_number(turn: Turn, phone: str, amount: Any) -> None:
    """A top-up of a number she named or picked: one of her bound numbers, or someone else's
    line (亲情付), which must be ours and in use."""
    for_other = phone not in await turn.services.binding.bound_phones(turn.openid)
    if for_other and not await _is_our_line(turn, phone):
        turn.say(replies.top_up_number_not_ours(phone))
        return
    await _with_amount(turn, phone, amount, for_other=for_other, named=True)


async def ask_whose_number(turn: Turn, relative: str | None, amount: Any) -> None:
    bound = await turn.services.binding.bound_phones(turn.openid)
    turn.say(replies.ask_number_to_top_up(relative, [mask_phone(phone) for phone in bound]))
    turn.set("pending", f"topup_number:{int(amount) if amount is not None else ''}")


async def _with_amount(turn: Turn, phone: str, amount: Any, *, for_other: bool = False, named: bool = False) -> None:
    if amount is None:
        question = replies.ask_amount(turn.elder)
        if not for_other and understanding.asks_how_much_to_top_up(turn.text):
            # 「不知道充多少 一般充多少合适」: what the 1st of each month takes, in the same message.
            question = replies.top_up_suggestion(await monthly_fees(turn, phone)) + "\n" + question
        turn.say(question)
        # A number she named is kept with the question (she may have several bound).
        turn.set("pending", f"topup_amount:{phone}" if named else "topup_amount")
        return
    await propose(turn, phone, int(amount), for_other=for_other)


def refuse_invalid_amount(turn: Turn) -> bool:
    """An amount nlu/ could not take as written (negative, 1e3, a fraction, twenty digits) is
    refused with the reason, and the amount asked again; True when it did so."""
    problem = turn.entity("amount_invalid")
    if problem is None or turn.entity("amount") is not None:
        return False
    turn.say(replies.amount_invalid(str(problem)))
    turn.set("pending", "topup_amount")
    return True


async def propose(turn: Turn, phone: str, yuan: int, *, for_other: bool = False) -> None:
    if not MIN_YUAN <= yuan <= MAX_YUAN:
        turn.say(replies.amount_out_of_range())
        turn.set("pending", f"topup_amount:{phone}" if for_other else "topup_amount")
        return
    order = await turn.services.billing.create_top_up(phone, yuan_to_fen(yuan))
    await turn.services.payments.open(order, turn.openid, for_other=for_other)
    if for_other:
        turn.say(replies.confirm_top_up_for_other(phone, order.amount_fen))
    else:
        turn.say(replies.confirm_top_up(phone, order.amount_fen))
    turn.set("pending", f"topup_confirm:{order.order_no}")


def corrected_order(turn: Turn) -> str | None:
    """The top-up waiting for her 「1」 when this message names another amount for it (「等一下
    充100吧」「不对 充一百」); None otherwise (a bare 「1」 is her answer, not an amount)."""
    kind, _, order_no = str(turn.slot("pending") or "").partition(":")
    if kind != "topup_confirm" or turn.entity("amount") is None or turn.text.strip().isdigit():
        return None
    return order_no


async def change_amount(turn: Turn, order_no: str) -> None:
    """The waiting top-up is cancelled and the amount she named now proposed for the same number,
    still to be confirmed."""
    try:
        order = await turn.services.payments.cancel(order_no, turn.openid)
    except OrderNotFound:
        _refused(turn, "cancel")
        return
    except BillingError:  # paid meanwhile: it stays paid, and nothing new is proposed
        turn.say(replies.top_up_already_paid())
        return
    await propose(turn, order.phone, int(turn.entity("amount")), for_other=order.for_other)


async def confirm(turn: Turn, order_no: str) -> None:
    # The order number comes from the `pending` slot, which whoever reaches Rasa could set: only
    # the openid that asked for the top-up can start its payment. Nothing is credited here.
    try:
        payment = await turn.services.payments.start(order_no, turn.openid)
    except OrderNotFound:
        _refused(turn, "confirm")
        return
    turn.say(replies.pay_link(payment, turn.services.pay_link(payment.pay_token)))


async def cancel(turn: Turn, order_no: str) -> None:
    try:
        await turn.services.payments.cancel(order_no, turn.openid)
    except OrderNotFound:
        _refused(turn, "cancel")
        return
    except BillingError:  # paid meanwhile: it stays paid
        turn.say(replies.top_up_already_paid())
        return
    turn.say(replies.top_up_cancelled())


async def _is_our_line(turn: Turn, phone: str) -> bool:
    subscriber = await turn.services.billing.get_subscriber(phone)
    return subscriber is not None and subscriber.status != LineStatus.CLOSED


def _refused(turn: Turn, what: str) -> None:
    log.warning("top-up %s refused for %s: the order was not asked for by this openid", what, mask_openid(turn.openid))
    turn.say(replies.nothing_pending())
