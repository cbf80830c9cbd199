"""Top-up: amount -> confirm -> order paid -> short receipt. Confirming twice credits once
(the backend's confirm is idempotent and the pending question is cleared after the first)."""

from __future__ import annotations

import logging

from actions import replies
from actions.account import account_phone
from actions.turn import Turn
from billing.backend import OrderNotFound
from billing.money import yuan_to_fen
from core.redact import mask_openid

log = logging.getLogger(__name__)

MIN_YUAN, MAX_YUAN = 1, 5000


async def top_up(turn: Turn) -> None:
    if refuse_invalid_amount(turn):
        return
    phone = await account_phone(turn, "top_up")
    if not phone:
        return
    amount = turn.entity("amount")
    if amount is None:
        turn.say(replies.ask_amount(turn.elder))
        turn.set("pending", "topup_amount")
        return
    await propose(turn, phone, int(amount))


def refuse_invalid_amount(turn: Turn) -> bool:
    """An amount nlu/ could not take as written (negative, 1e3, a fraction, twenty digits) is
    refused with the reason, and the amount asked again; True when it did so."""
    problem = turn.entity("amount_invalid")
    if problem is None or turn.entity("amount") is not None:
        return False
    turn.say(replies.amount_invalid(str(problem)))
    turn.set("pending", "topup_amount")
    return True


async def propose(turn: Turn, phone: str, yuan: int) -> None:
    if not MIN_YUAN <= yuan <= MAX_YUAN:
        turn.say(replies.amount_out_of_range())
        turn.set("pending", "topup_amount")
        return
    order = await turn.services.billing.create_top_up(phone, yuan_to_fen(yuan))
    turn.say(replies.confirm_top_up(phone, order.amount_fen))
    turn.set("pending", f"topup_confirm:{order.order_no}")


async def confirm(turn: Turn, order_no: str) -> None:
    # The order number comes from the `pending` slot, which whoever reaches Rasa could set: the
    # backend pays it only if it belongs to a number bound to this sender.
    owners = await turn.services.binding.bound_phones(turn.openid)
    try:
        order = await turn.services.billing.confirm_top_up(order_no, owners=owners)
    except OrderNotFound:
        _refused(turn, "confirm")
        return
    turn.say(replies.top_up_receipt(order))


async def cancel(turn: Turn, order_no: str) -> None:
    owners = await turn.services.binding.bound_phones(turn.openid)
    try:
        await turn.services.billing.cancel_top_up(order_no, owners=owners)
    except OrderNotFound:
        _refused(turn, "cancel")
        return
    turn.say(replies.top_up_cancelled())


def _refused(turn: Turn, what: str) -> None:
    log.warning("top-up %s refused for %s: the order is not one of its bound numbers", what, mask_openid(turn.openid))
    turn.say(replies.nothing_pending())
