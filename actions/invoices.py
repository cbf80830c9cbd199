"""Invoices (发票): the recent paid top-ups, whether each has an e-invoice, and where to get it.

Honest by design: the assistant sends no invoice anywhere; it says which exist (with their
numbers) and where they are downloaded or requested.
"""

from __future__ import annotations

from typing import Optional

from actions import replies
from actions.account import account_phone, asked_month, current_month
from actions.turn import FlowAction, Turn
from billing.backend import Payment

RECENT = 10  # payments read for 「最近的」
LOOK_BACK = 24  # payments read when a month is asked


async def payments_of(turn: Turn, phone: str, month: Optional[str]) -> list[Payment]:
    payments = await turn.services.billing.list_payments(phone, limit=RECENT if month is None else LOOK_BACK)
    if month is None:
        return payments
    return [p for p in payments if replies.local_month(p.paid_at) == month]


async def request_invoice(turn: Turn) -> None:
    month = asked_month(turn)
    phone = await account_phone(turn, f"invoice:{month}" if month else "invoice")
    if not phone:
        return
    payments = await payments_of(turn, phone, month)
    turn.say(replies.invoices(payments, month, current_month(turn), turn.elder))
    if len(payments) > replies.SHOWN_ITEMS and not turn.elder:
        turn.set("pending", f"more:payments:{month or ''}")


async def more_payments(turn: Turn, month: Optional[str]) -> None:
    phone = await account_phone(turn, "invoice")
    if not phone:
        return
    rest = [replies.payment_line(p) for p in await payments_of(turn, phone, month)][replies.SHOWN_ITEMS :]
    if not rest:
        turn.say(replies.nothing_more())
    else:
        turn.say(replies.more_lines(rest, "更早的充值：", replies.INVOICE_WHERE))


class ActionRequestInvoice(FlowAction):
    action_name = "action_request_invoice"

    async def flow(self, turn: Turn) -> None:
        await request_invoice(turn)
