"""Payment orders of top-ups: who pays, which line is credited, and the one credit per payment.

A top-up is credited only here, from a payment notification the gateway has verified
(`settle`). The subscriber's 「1」 only starts a payment (`start`): it returns the link token.

States: CREATED (the subscriber was asked to confirm) -> AWAITING (confirmed, payment link sent)
-> PREPAID (WeChat Pay order made, prepay_id kept) -> PAID; or CLOSED (cancelled). Only the openid
that asked (`payer_openid`) can confirm or cancel, which is what lets 亲情付 name someone else's
number: the payer named it and confirmed it, and the receipt says whose line was credited.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass
from enum import Enum

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.backend import BillingBackend, BillingError, OrderNotFound, TopUpOrder
from billing.models import payment_notifications, payment_orders
from billing.periods import Clock, utc_now

log = logging.getLogger(__name__)

PREPAY_TTL = dt.timedelta(hours=2) - dt.timedelta(minutes=5)  # WeChat Pay keeps a prepay_id for 2 h


class PaymentState(str, Enum):
    CREATED = "created"
    AWAITING = "awaiting"
    PREPAID = "prepaid"
    PAID = "paid"
    CLOSED = "closed"


OPEN_STATES = (PaymentState.CREATED.value, PaymentState.AWAITING.value, PaymentState.PREPAID.value)


class SettleOutcome(str, Enum):
    CREDITED = "credited"  # this notification paid the order
    DUPLICATE = "duplicate"  # the same transaction again: nothing new
    UNKNOWN_ORDER = "unknown_order"
    AMOUNT_MISMATCH = "amount_mismatch"
    PAYER_MISMATCH = "payer_mismatch"
    CONFLICT = "conflict"  # the order was paid by another transaction, or was closed


@dataclass(frozen=True)
class PaymentOrder:
    order_no: str  # the top-up order, also WeChat Pay's out_trade_no
    payer_openid: str
    phone: str  # the line credited
    for_other: bool  # 亲情付: a number the payer named, not one bound to her
    amount_fen: int
    state: PaymentState
    pay_token: str  # the payment link's secret part
    prepay_id: str | None = None
    prepay_at: dt.datetime | None = None
    transaction_id: str | None = None
    balance_after_fen: int | None = None


@dataclass(frozen=True)
class PaymentNotice:
    """A verified TRANSACTION.SUCCESS notification, as the gateway read it."""

    order_no: str
    transaction_id: str
    amount_fen: int
    payer_openid: str


@dataclass(frozen=True)
class Settlement:
    outcome: SettleOutcome
    payment: PaymentOrder | None
    top_up: TopUpOrder | None = None

    @property
    def accepted(self) -> bool:
        """WeChat Pay should stop sending it (credited now or before)."""
        return self.outcome in (SettleOutcome.CREDITED, SettleOutcome.DUPLICATE)


class Payments:
    def __init__(self, engine: AsyncEngine, billing: BillingBackend, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._billing = billing
        self._clock = clock

    async def open(self, top_up: TopUpOrder, payer_openid: str, *, for_other: bool) -> PaymentOrder:
        """The payment of a new top-up order, asked for by `payer_openid` (not yet confirmed)."""
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(payment_orders).values(
                    order_no=top_up.order_no,
                    payer_openid=payer_openid,
                    phone=top_up.phone,
                    for_other=for_other,
                    amount_fen=top_up.amount_fen,
                    state=PaymentState.CREATED.value,
                    pay_token=secrets.token_urlsafe(24),
                    created_at=self._clock(),
                )
            )
        payment = await self.get(top_up.order_no)
        assert payment is not None
        return payment

    async def get(self, order_no: str) -> PaymentOrder | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(payment_orders).where(payment_orders.c.order_no == order_no))).first()
        return _payment(row) if row is not None else None

    async def by_token(self, pay_token: str) -> PaymentOrder | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(payment_orders).where(payment_orders.c.pay_token == pay_token))).first()
        return _payment(row) if row is not None else None

    async def start(self, order_no: str, payer_openid: str) -> PaymentOrder:
        """The payer confirmed: the order awaits payment (idempotent). Nothing is credited.

        OrderNotFound when the order is not this openid's (a forged `pending`), untouched."""
        async with self._engine.begin() as conn:
            await conn.execute(
                update(payment_orders)
                .where(
                    payment_orders.c.order_no == order_no,
                    payment_orders.c.payer_openid == payer_openid,
                    payment_orders.c.state == PaymentState.CREATED.value,
                )
                .values(state=PaymentState.AWAITING.value)
            )
        payment = await self.get(order_no)
        if payment is None or payment.payer_openid != payer_openid:
            raise OrderNotFound(order_no)
        return payment

    async def cancel(self, order_no: str, payer_openid: str) -> PaymentOrder:
        """Close an unpaid payment and cancel its top-up; a paid one stays paid (BillingError).

        Closing and `settle`'s claim are conditional updates on the same open states, so a
        cancellation racing a payment notification cannot cancel a top-up that is being paid."""
        async with self._engine.begin() as conn:
            await conn.execute(
                update(payment_orders)
                .where(
                    payment_orders.c.order_no == order_no,
                    payment_orders.c.payer_openid == payer_openid,
                    payment_orders.c.state.in_(OPEN_STATES),
                )
                .values(state=PaymentState.CLOSED.value)
            )
        payment = await self.get(order_no)
        if payment is None or payment.payer_openid != payer_openid:
            raise OrderNotFound(order_no)
        if payment.state is not PaymentState.CLOSED:
            # Paid (its notification claimed it first): the top-up is left for the credit.
            raise BillingError(f"order {order_no} is paid")
        await self._billing.cancel_top_up(order_no)
        return payment

    async def record_prepay(self, order_no: str, prepay_id: str) -> PaymentOrder | None:
        """Keep WeChat Pay's prepay_id of an order awaiting payment (None: no longer payable)."""
        async with self._engine.begin() as conn:
            await conn.execute(
                update(payment_orders)
                .where(
                    payment_orders.c.order_no == order_no,
                    payment_orders.c.state.in_((PaymentState.AWAITING.value, PaymentState.PREPAID.value)),
                )
                .values(state=PaymentState.PREPAID.value, prepay_id=prepay_id, prepay_at=self._clock())
            )
        payment = await self.get(order_no)
        return payment if payment is not None and payment.state == PaymentState.PREPAID else None

    def prepay_valid(self, payment: PaymentOrder) -> bool:
        return (
            payment.prepay_id is not None
            and payment.prepay_at is not None
            and (self._clock() - payment.prepay_at < PREPAY_TTL)
        )

    async def settle(self, notice: PaymentNotice) -> Settlement:
        """Credit the order of a verified notification, once per transaction_id.

        The conditional update (state still open) lets one notification win; a second delivery of
        the same transaction is DUPLICATE and completes an interrupted credit (the backend's
        confirmation is itself idempotent) without crediting again.
        """
        payment = await self.get(notice.order_no)
        outcome: SettleOutcome
        top_up: TopUpOrder | None = None
        if payment is None:
            outcome = SettleOutcome.UNKNOWN_ORDER
        elif notice.amount_fen != payment.amount_fen:
            outcome = SettleOutcome.AMOUNT_MISMATCH
        elif notice.payer_openid != payment.payer_openid:
            outcome = SettleOutcome.PAYER_MISMATCH
        else:
            now = self._clock()
            async with self._engine.begin() as conn:
                claimed = await conn.execute(
                    update(payment_orders)
                    .where(
                        payment_orders.c.order_no == notice.order_no,
                        payment_orders.c.state.in_(OPEN_STATES),
                        payment_orders.c.transaction_id.is_(None),
                    )
                    .values(state=PaymentState.PAID.value, transaction_id=notice.transaction_id, paid_at=now)
                )
            if claimed.rowcount == 1:
                outcome = SettleOutcome.CREDITED
            else:
                current = await self.get(notice.order_no)
                same = current is not None and current.transaction_id == notice.transaction_id
                outcome = SettleOutcome.DUPLICATE if same else SettleOutcome.CONFLICT
            if outcome is not SettleOutcome.CONFLICT:
                top_up = await self._billing.confirm_top_up(notice.order_no)
                async with self._engine.begin() as conn:
                    await conn.execute(
                        update(payment_orders)
                        .where(payment_orders.c.order_no == notice.order_no)
                        .values(balance_after_fen=top_up.balance_after_fen)
                    )
            payment = await self.get(notice.order_no)
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(payment_notifications).values(
                    transaction_id=notice.transaction_id,
                    order_no=notice.order_no,
                    amount_fen=notice.amount_fen,
                    outcome=outcome.value,
                    received_at=self._clock(),
                )
            )
        if outcome not in (SettleOutcome.CREDITED, SettleOutcome.DUPLICATE):
            log.error(
                "payment notification %s for %s not credited: %s", notice.transaction_id, notice.order_no, outcome.value
            )
        return Settlement(outcome, payment, top_up)

    async def claim_receipt(self, order_no: str) -> bool:
        """True once per paid order: whoever gets True tells the payer."""
        async with self._engine.begin() as conn:
            claimed = await conn.execute(
                update(payment_orders)
                .where(
                    payment_orders.c.order_no == order_no,
                    payment_orders.c.state == PaymentState.PAID.value,
                    payment_orders.c.receipt_at.is_(None),
                )
                .values(receipt_at=self._clock())
            )
        return claimed.rowcount == 1


def _payment(row: Row) -> PaymentOrder:
    return PaymentOrder(
        order_no=row.order_no,
        payer_openid=row.payer_openid,
        phone=row.phone,
        for_other=bool(row.for_other),
        amount_fen=int(row.amount_fen),
        state=PaymentState(row.state),
        pay_token=row.pay_token,
        prepay_id=row.prepay_id,
        prepay_at=row.prepay_at,
        transaction_id=row.transaction_id,
        balance_after_fen=int(row.balance_after_fen) if row.balance_after_fen is not None else None,
    )
