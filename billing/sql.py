"""The billing backend on our own database (SQLite or PostgreSQL): serves the demo data.

Plan changes: `change_plan` never touches the plan in force. It stores the target in
`subscribers.pending_plan_code` (+ `pending_plan_effective`, the 1st of next month) and a
`plan_changes` row with status "scheduled". `get_subscriber` keeps returning the current
plan until that date; the first read on or after it applies the change (status "applied").
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Collection
from typing import Any

from sqlalchemy import Select, Table, and_, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from billing.backend import (
    Balance,
    Bill,
    BillingError,
    BillItem,
    Charge,
    ChargeKind,
    IdentityCheck,
    InvalidAmount,
    InvoiceStatus,
    LineStatus,
    OrderNotFound,
    OrderStatus,
    Payment,
    Plan,
    PlanChange,
    PlanChangeOutcome,
    Points,
    PointsReward,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    SuspendReason,
    TopUpOrder,
    UnknownSubscriber,
    Usage,
    ValueAddedService,
)
from billing.models import (
    bill_items,
    charges,
    invoices,
    plan_changes,
    plans,
    points_accounts,
    points_rewards,
    subscribers,
    topup_orders,
    usage_records,
    vas_catalog,
    vas_subscriptions,
)
from billing.money import format_yuan
from billing.periods import Clock, first_of_next_month, local_date, month_of, parse_month, shift_month, utc_now
from core import audit

log = logging.getLogger(__name__)

MIN_TOP_UP_FEN = 100  # 1 元
MAX_TOP_UP_FEN = 500_000  # 5000 元
# A WeChat binding proves nothing about a lost phone (it is still logged in): an agent clears
# voluntary suspensions only; a 挂失 needs reactivate_lost_line.
AGENT_CLEARABLE = frozenset({SuspendReason.VOLUNTARY})
_NUMBER_ATTEMPTS = 5


class SqlBillingBackend:
    """`BillingBackend` over the tables in `billing.models`."""

    def __init__(self, engine: AsyncEngine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    # ---- subscribers and balances -------------------------------------------------------

    async def get_subscriber(self, phone: str) -> Subscriber | None:
        async with self._engine.begin() as conn:
            row = await self._load_subscriber(conn, phone)
        return _subscriber(row) if row is not None else None

    async def list_subscribers(self) -> list[Subscriber]:
        async with self._engine.begin() as conn:
            await self._apply_due_plan_changes(conn, phone=None)
            rows = (await conn.execute(select(subscribers).order_by(subscribers.c.phone))).all()
        return [_subscriber(row) for row in rows]

    async def get_note(self, phone: str) -> str | None:
        """The support note on a subscriber (for the agent's profile panel), if any."""
        async with self._engine.connect() as conn:
            return (await conn.execute(select(subscribers.c.note).where(subscribers.c.phone == phone))).scalar()

    async def get_balance(self, phone: str) -> Balance:
        async with self._engine.begin() as conn:
            row = await self._require_subscriber(conn, phone)
        return _balance(row)

    # ---- bills and usage ----------------------------------------------------------------

    async def get_bill(self, phone: str, month: str | None = None) -> Bill:
        """The bill of `month` ("2026-11"; default: the last completed month).

        A month without any bill lines gives a Bill with no items and a total of 0.
        """
        if month is None:
            month = shift_month(self._current_month(), -1)
        else:
            try:
                parse_month(month)
            except ValueError as exc:
                raise BillingError(str(exc)) from exc
        async with self._engine.begin() as conn:
            await self._require_subscriber(conn, phone)
            rows = (
                await conn.execute(
                    select(bill_items.c.name, bill_items.c.amount_fen)
                    .where(bill_items.c.phone == phone, bill_items.c.month == month)
                    .order_by(bill_items.c.line_no)
                )
            ).all()
        items = tuple(BillItem(name=row.name, amount_fen=int(row.amount_fen)) for row in rows)
        return Bill(phone=phone, month=month, items=items, total_fen=sum(item.amount_fen for item in items))

    async def get_usage(self, phone: str) -> Usage:
        """This month's usage (China calendar month); allowances are those of the month's plan."""
        month = self._current_month()
        async with self._engine.begin() as conn:
            subscriber = await self._require_subscriber(conn, phone)
            record = (
                await conn.execute(
                    select(usage_records).where(usage_records.c.phone == phone, usage_records.c.month == month)
                )
            ).first()
            plan_rows = await self._plans_by_code(conn)
        if record is None:
            return _usage(phone, month, 0, 0, plan_rows.get(subscriber.plan_code))
        return _usage_from_record(record, plan_rows, subscriber.plan_code)

    async def get_usage_history(self, phone: str, months: int = 3) -> list[Usage]:
        """Usage of up to `months` completed months before this one, oldest first.

        Months without a usage record (e.g. before the line existed) are left out.
        """
        if months < 1:
            return []
        current = self._current_month()
        wanted = [shift_month(current, -offset) for offset in range(months, 0, -1)]
        async with self._engine.begin() as conn:
            subscriber = await self._require_subscriber(conn, phone)
            records = (
                await conn.execute(
                    select(usage_records)
                    .where(usage_records.c.phone == phone, usage_records.c.month.in_(wanted))
                    .order_by(usage_records.c.month)
                )
            ).all()
            plan_rows = await self._plans_by_code(conn)
        return [_usage_from_record(record, plan_rows, subscriber.plan_code) for record in records]

    # ---- plans --------------------------------------------------------------------------

    async def get_plan(self, code: str) -> Plan | None:
        """Any plan by code (case-insensitive), including ones no longer on sale."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(plans).where(plans.c.code == _plan_code(code)))).first()
        return _plan(row) if row is not None else None

    async def list_plans(self) -> list[Plan]:
        """Plans on sale, cheapest first."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(plans).where(plans.c.available.is_(True)).order_by(plans.c.monthly_fee_fen, plans.c.code)
                )
            ).all()
        return [_plan(row) for row in rows]

    async def change_plan(self, phone: str, plan_code: str) -> PlanChange:
        code = _plan_code(plan_code)
        now = self._clock()
        effective = first_of_next_month(local_date(now))
        async with self._engine.begin() as conn:
            subscriber = await self._require_subscriber(conn, phone, for_update=True)
            current = subscriber.plan_code

            def outcome(kind: PlanChangeOutcome, date: dt.date | None = None) -> PlanChange:
                return PlanChange(outcome=kind, phone=phone, from_plan=current, to_plan=code, effective_date=date)

            target_row = (await conn.execute(select(plans).where(plans.c.code == code))).first()
            if target_row is None or not target_row.available:
                return outcome(PlanChangeOutcome.UNKNOWN_PLAN)
            if code == current:
                return outcome(PlanChangeOutcome.SAME_PLAN)
            current_row = (await conn.execute(select(plans).where(plans.c.code == current))).first()
            if target_row.requires_in_person or (current_row is not None and current_row.requires_in_person):
                return outcome(PlanChangeOutcome.NEEDS_IN_PERSON)
            if subscriber.status != LineStatus.ACTIVE.value:
                return outcome(PlanChangeOutcome.LINE_NOT_ACTIVE)
            if subscriber.pending_plan_code == code:
                # Asked again for the change already scheduled: nothing new to record.
                return outcome(PlanChangeOutcome.CHANGED, subscriber.pending_plan_effective)
            await conn.execute(
                update(plan_changes)
                .where(plan_changes.c.phone == phone, plan_changes.c.status == "scheduled")
                .values(status="superseded")
            )
            await conn.execute(
                insert(plan_changes).values(
                    phone=phone,
                    from_plan=current,
                    to_plan=code,
                    status="scheduled",
                    requested_at=now,
                    effective_date=effective,
                )
            )
            await conn.execute(
                update(subscribers)
                .where(subscribers.c.phone == phone)
                .values(pending_plan_code=code, pending_plan_effective=effective, updated_at=now)
            )
        return outcome(PlanChangeOutcome.CHANGED, effective)

    async def get_pending_plan_change(self, phone: str) -> PlanChange | None:
        """The change scheduled for the 1st of next month, if any (outcome CHANGED)."""
        async with self._engine.begin() as conn:
            row = await self._require_subscriber(conn, phone)
        if row.pending_plan_code is None:
            return None
        return PlanChange(
            outcome=PlanChangeOutcome.CHANGED,
            phone=phone,
            from_plan=row.plan_code,
            to_plan=row.pending_plan_code,
            effective_date=row.pending_plan_effective,
        )

    # ---- top-ups ------------------------------------------------------------------------

    async def create_top_up(self, phone: str, amount_fen: int) -> TopUpOrder:
        """A pending order; 1..5000 元. Nothing is credited until `confirm_top_up`."""
        if isinstance(amount_fen, bool) or not isinstance(amount_fen, int):
            raise InvalidAmount(f"amount must be an int number of fen, got {amount_fen!r}")
        if not MIN_TOP_UP_FEN <= amount_fen <= MAX_TOP_UP_FEN:
            raise InvalidAmount(
                f"top-up of {format_yuan(amount_fen)} outside {format_yuan(MIN_TOP_UP_FEN)}..{format_yuan(MAX_TOP_UP_FEN)}"
            )
        now = self._clock()
        async with self._engine.begin() as conn:
            subscriber = await self._require_subscriber(conn, phone)
            if subscriber.status == LineStatus.CLOSED.value:
                raise BillingError(f"line {phone} is closed")
        order_no = await self._insert_numbered(
            "TU",
            now,
            topup_orders,
            "order_no",
            dict(phone=phone, amount_fen=amount_fen, status=OrderStatus.PENDING.value, created_at=now),
        )
        return TopUpOrder(
            order_no=order_no, phone=phone, amount_fen=amount_fen, status=OrderStatus.PENDING, created_at=now
        )

    async def get_top_up(self, order_no: str) -> TopUpOrder | None:
        async with self._engine.connect() as conn:
            row = await _order_row(conn, order_no)
        return _order(row) if row is not None else None

    async def confirm_top_up(self, order_no: str, owners: Collection[str] | None = None) -> TopUpOrder:
        """Pay a pending order and credit the balance, exactly once.

        The conditional UPDATE (status still pending, and the order's number among `owners` when
        given) lets only one of several concurrent confirmations win; the credit happens in the
        same transaction. Confirming a paid order returns it unchanged; a cancelled one raises
        BillingError; an order of a number outside `owners` is OrderNotFound, untouched.
        """
        now = self._clock()
        async with self._engine.begin() as conn:
            claimed = await conn.execute(
                update(topup_orders)
                .where(
                    topup_orders.c.order_no == order_no,
                    topup_orders.c.status == OrderStatus.PENDING.value,
                    *_owned_by(owners),
                )
                .values(status=OrderStatus.PAID.value, paid_at=now)
            )
            if claimed.rowcount == 1:
                order = await _order_row(conn, order_no)
                assert order is not None
                balance_after = await self._credit(conn, order.phone, int(order.amount_fen), order_no, now)
                await conn.execute(
                    update(topup_orders)
                    .where(topup_orders.c.order_no == order_no)
                    .values(balance_after_fen=balance_after)
                )
            row = await _order_row(conn, order_no)
        if row is None or (owners is not None and row.phone not in owners):
            raise OrderNotFound(order_no)
        if row.status == OrderStatus.CANCELLED.value:
            raise BillingError(f"order {order_no} was cancelled")
        return _order(row)

    async def cancel_top_up(self, order_no: str, owners: Collection[str] | None = None) -> TopUpOrder:
        """Cancel a pending order (idempotent); a paid order cannot be cancelled (BillingError);
        an order of a number outside `owners` (when given) is OrderNotFound, untouched."""
        async with self._engine.begin() as conn:
            await conn.execute(
                update(topup_orders)
                .where(
                    topup_orders.c.order_no == order_no,
                    topup_orders.c.status == OrderStatus.PENDING.value,
                    *_owned_by(owners),
                )
                .values(status=OrderStatus.CANCELLED.value)
            )
            row = await _order_row(conn, order_no)
        if row is None or (owners is not None and row.phone not in owners):
            raise OrderNotFound(order_no)
        if row.status == OrderStatus.PAID.value:
            raise BillingError(f"order {order_no} is already paid")
        return _order(row)

    async def _credit(self, conn: AsyncConnection, phone: str, amount_fen: int, order_no: str, now: dt.datetime) -> int:
        await conn.execute(
            update(subscribers)
            .where(subscribers.c.phone == phone)
            .values(balance_fen=subscribers.c.balance_fen + amount_fen, updated_at=now)
        )
        row = (await conn.execute(select(subscribers).where(subscribers.c.phone == phone))).one()
        balance = int(row.balance_fen)
        if (
            row.status == LineStatus.SUSPENDED.value
            and row.suspend_reason == SuspendReason.ARREARS.value
            and balance >= 0
        ):
            await conn.execute(
                update(subscribers)
                .where(subscribers.c.phone == phone)
                .values(status=LineStatus.ACTIVE.value, suspend_reason=None, updated_at=now)
            )
            await audit.record(
                conn, now, "system:top_up", "reactivate_line", phone=phone, detail=f"arrears cleared by {order_no}"
            )
        return balance

    # ---- line status and tickets --------------------------------------------------------

    async def reactivate_line(self, phone: str, actor: str) -> Balance:
        """Green channel: an agent clears a VOLUNTARY suspension (audited).

        If the balance is negative the line stays suspended, now for ARREARS.
        """
        if not actor or not actor.strip():
            raise BillingError("reactivation needs the acting agent's name")
        return await self._clear_suspension(phone, AGENT_CLEARABLE, actor.strip(), "reactivate_line", "")

    async def reactivate_lost_line(self, phone: str, supervisor: str, check: IdentityCheck, reference: str) -> Balance:
        """A supervisor lifts a REPORTED_LOST suspension after an identity check (audited with
        the check's method and reference)."""
        if not supervisor or not supervisor.strip():
            raise BillingError("lifting a reported loss needs the supervisor's name")
        if not reference or not reference.strip():
            raise BillingError("lifting a reported loss needs the identity check's reference")
        check = IdentityCheck(check)
        note = f"identity check {check.value} ref {reference.strip()}; "
        actor = f"supervisor:{supervisor.strip()}"[:64]
        return await self._clear_suspension(
            phone, frozenset({SuspendReason.REPORTED_LOST}), actor, "reactivate_lost_line", note
        )

    async def _clear_suspension(
        self, phone: str, clearable: frozenset[SuspendReason], actor: str, action: str, note: str
    ) -> Balance:
        now = self._clock()
        async with self._engine.begin() as conn:
            row = await self._require_subscriber(conn, phone, for_update=True)
            reason = SuspendReason(row.suspend_reason) if row.suspend_reason else None
            if row.status != LineStatus.SUSPENDED.value or reason not in clearable:
                allowed = " or ".join(sorted(r.value for r in clearable))
                raise BillingError(
                    f"line {phone} is {row.status}"
                    + (f" ({reason.value})" if reason else "")
                    + f": only {allowed} suspensions can be cleared this way"
                )
            in_arrears = int(row.balance_fen) < 0
            values: dict[str, Any] = (
                {"suspend_reason": SuspendReason.ARREARS.value}
                if in_arrears
                else {"status": LineStatus.ACTIVE.value, "suspend_reason": None}
            )
            await conn.execute(update(subscribers).where(subscribers.c.phone == phone).values(updated_at=now, **values))
            detail = note + f"cleared {reason.value}" + ("; still suspended for arrears" if in_arrears else "")
            await audit.record(conn, now, actor, action, phone=phone, detail=detail)
            row = await self._require_subscriber(conn, phone)
        return _balance(row)

    # ---- charges, value-added services, points, invoices ---------------------------------

    async def list_charges(self, phone: str, month: str | None = None) -> list[Charge]:
        """Deductions of `month` (default: this month) up to today, oldest first."""
        today = local_date(self._clock())
        if month is None:
            month = month_of(today)
        else:
            try:
                parse_month(month)
            except ValueError as exc:
                raise BillingError(str(exc)) from exc
        async with self._engine.begin() as conn:
            await self._require_subscriber(conn, phone)
            rows = (
                await conn.execute(
                    select(charges)
                    .where(charges.c.phone == phone, charges.c.month == month, charges.c.charged_on <= today)
                    .order_by(charges.c.charged_on, charges.c.id)
                )
            ).all()
        return [
            Charge(
                date=row.charged_on,
                name=row.name,
                amount_fen=int(row.amount_fen),
                kind=ChargeKind(row.kind),
                service_code=row.service_code,
            )
            for row in rows
        ]

    async def list_service_catalog(self) -> list[ValueAddedService]:
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(vas_catalog)
                    .where(vas_catalog.c.available.is_(True))
                    .order_by(vas_catalog.c.monthly_fee_fen, vas_catalog.c.code)
                )
            ).all()
        return [_service(row) for row in rows]

    async def list_services(self, phone: str) -> list[Subscription]:
        """Active services on `phone`, dearest first."""
        async with self._engine.begin() as conn:
            await self._require_subscriber(conn, phone)
            rows = (
                await conn.execute(
                    _subscription_query()
                    .where(
                        vas_subscriptions.c.phone == phone,
                        vas_subscriptions.c.status == SubscriptionStatus.ACTIVE.value,
                    )
                    .order_by(vas_catalog.c.monthly_fee_fen.desc(), vas_catalog.c.code)
                )
            ).all()
        return [_subscription(row) for row in rows]

    async def cancel_service(self, phone: str, code: str, actor: str) -> Subscription:
        """Cancel `code` on `phone` from now on (this month's fee already taken stays taken).

        Only a service on that very number can be cancelled; the cancellation is audited
        with the actor. Cancelling a cancelled service returns it unchanged and records nothing.
        """
        if not actor or not actor.strip():
            raise BillingError("a cancellation needs the actor")
        now = self._clock()
        where = (vas_subscriptions.c.phone == phone, vas_subscriptions.c.service_code == (code or "").strip().upper())
        async with self._engine.begin() as conn:
            await self._require_subscriber(conn, phone)
            cancelled = await conn.execute(
                update(vas_subscriptions)
                .where(*where, vas_subscriptions.c.status == SubscriptionStatus.ACTIVE.value)
                .values(status=SubscriptionStatus.CANCELLED.value, cancelled_at=now, cancelled_by=actor.strip())
            )
            row = (await conn.execute(_subscription_query().where(*where))).first()
            if row is None:
                raise BillingError(f"service {code!r} is not on {phone}")
            if cancelled.rowcount == 1:
                await audit.record(
                    conn,
                    now,
                    actor.strip(),
                    "cancel_service",
                    phone=phone,
                    detail=f"{row.service_code} {row.name} ({format_yuan(int(row.monthly_fee_fen))}/month)",
                )
        return _subscription(row)

    async def get_points(self, phone: str) -> Points:
        """The points balance; a number without a points account has 0."""
        async with self._engine.begin() as conn:
            await self._require_subscriber(conn, phone)
            row = (await conn.execute(select(points_accounts).where(points_accounts.c.phone == phone))).first()
        if row is None:
            return Points(phone=phone, balance=0)
        expiring = min(int(row.expiring), int(row.balance))
        return Points(
            phone=phone,
            balance=int(row.balance),
            expiring=expiring,
            expires_on=row.expires_on if expiring else None,
        )

    async def list_point_rewards(self) -> list[PointsReward]:
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(points_rewards)
                    .where(points_rewards.c.available.is_(True))
                    .order_by(points_rewards.c.points, points_rewards.c.code)
                )
            ).all()
        return [PointsReward(code=row.code, name=row.name, points=int(row.points)) for row in rows]

    async def list_payments(self, phone: str, limit: int = 3) -> list[Payment]:
        if limit < 1:
            return []
        async with self._engine.begin() as conn:
            await self._require_subscriber(conn, phone)
            rows = (
                await conn.execute(
                    select(topup_orders, invoices.c.invoice_no)
                    .select_from(topup_orders.outerjoin(invoices, invoices.c.order_no == topup_orders.c.order_no))
                    .where(topup_orders.c.phone == phone, topup_orders.c.status == OrderStatus.PAID.value)
                    .order_by(topup_orders.c.paid_at.desc(), topup_orders.c.id.desc())
                    .limit(limit)
                )
            ).all()
        return [
            Payment(
                order_no=row.order_no,
                phone=row.phone,
                amount_fen=int(row.amount_fen),
                paid_at=row.paid_at,
                invoice_status=InvoiceStatus.ISSUED if row.invoice_no else InvoiceStatus.NOT_ISSUED,
                invoice_no=row.invoice_no,
            )
            for row in rows
        ]

    # ---- helpers ------------------------------------------------------------------------

    async def _insert_numbered(self, prefix: str, now: dt.datetime, table: Table, column: str, values: dict) -> str:
        """Insert a row under a fresh readable number (prefix + local date + 6 random digits)."""
        for _ in range(_NUMBER_ATTEMPTS):
            number = f"{prefix}{local_date(now):%Y%m%d}{secrets.randbelow(10**6):06d}"
            try:
                async with self._engine.begin() as conn:
                    await conn.execute(insert(table).values({column: number, **values}))
            except IntegrityError:
                continue  # number already taken today: draw another
            return number
        raise BillingError(f"could not allocate a free {column}")

    def _current_month(self) -> str:
        return month_of(local_date(self._clock()))

    async def _load_subscriber(self, conn: AsyncConnection, phone: str, for_update: bool = False) -> Row | None:
        await self._apply_due_plan_changes(conn, phone=phone)
        query = select(subscribers).where(subscribers.c.phone == phone)
        if for_update:
            query = query.with_for_update()
        return (await conn.execute(query)).first()

    async def _require_subscriber(self, conn: AsyncConnection, phone: str, for_update: bool = False) -> Row:
        row = await self._load_subscriber(conn, phone, for_update=for_update)
        if row is None:
            raise UnknownSubscriber(phone)
        return row

    async def _apply_due_plan_changes(self, conn: AsyncConnection, phone: str | None) -> None:
        now = self._clock()
        today = local_date(now)
        due = and_(subscribers.c.pending_plan_code.is_not(None), subscribers.c.pending_plan_effective <= today)
        if phone is not None:
            due = and_(due, subscribers.c.phone == phone)
        # Look before writing, so that plain reads never take a write lock (SQLite).
        if (await conn.execute(select(subscribers.c.phone).where(due).limit(1))).first() is None:
            return
        applied = await conn.execute(
            update(subscribers)
            .where(due)
            .values(
                plan_code=subscribers.c.pending_plan_code,
                pending_plan_code=None,
                pending_plan_effective=None,
                updated_at=now,
            )
        )
        if applied.rowcount:
            done = and_(plan_changes.c.status == "scheduled", plan_changes.c.effective_date <= today)
            if phone is not None:
                done = and_(done, plan_changes.c.phone == phone)
            await conn.execute(update(plan_changes).where(done).values(status="applied"))

    async def _plans_by_code(self, conn: AsyncConnection) -> dict[str, Row]:
        return {row.code: row for row in (await conn.execute(select(plans))).all()}


def _owned_by(owners: Collection[str] | None) -> list[Any]:
    """The extra condition of an account-changing update made for a subscriber's numbers."""
    return [] if owners is None else [topup_orders.c.phone.in_(list(owners))]


async def _order_row(conn: AsyncConnection, order_no: str) -> Row | None:
    return (await conn.execute(select(topup_orders).where(topup_orders.c.order_no == order_no))).first()


def _subscription_query() -> Select[Any]:
    return select(
        vas_subscriptions,
        vas_catalog.c.name,
        vas_catalog.c.monthly_fee_fen,
        vas_catalog.c.aliases,
    ).select_from(vas_subscriptions.join(vas_catalog, vas_catalog.c.code == vas_subscriptions.c.service_code))


def _service(row: Row) -> ValueAddedService:
    return ValueAddedService(
        code=row.code,
        name=row.name,
        monthly_fee_fen=int(row.monthly_fee_fen),
        aliases=tuple(str(alias) for alias in row.aliases or ()),
    )


def _subscription(row: Row) -> Subscription:
    return Subscription(
        phone=row.phone,
        service=ValueAddedService(
            code=row.service_code,
            name=row.name,
            monthly_fee_fen=int(row.monthly_fee_fen),
            aliases=tuple(str(alias) for alias in row.aliases or ()),
        ),
        status=SubscriptionStatus(row.status),
        since=row.since,
        renew_day=int(row.renew_day),
        cancelled_at=row.cancelled_at,
    )


def _plan_code(code: str) -> str:
    return (code or "").strip().upper()


def _plan(row: Row) -> Plan:
    return Plan(
        code=row.code,
        name=row.name,
        monthly_fee_fen=int(row.monthly_fee_fen),
        data_mb=int(row.data_mb),
        voice_minutes=int(row.voice_minutes),
        description=row.description,
        elder_friendly=bool(row.elder_friendly),
        requires_in_person=bool(row.requires_in_person),
        available=bool(row.available),
    )


def _subscriber(row: Row) -> Subscriber:
    return Subscriber(
        phone=row.phone,
        name=row.name,
        birth_date=row.birth_date,
        plan_code=row.plan_code,
        balance_fen=int(row.balance_fen),
        status=LineStatus(row.status),
        suspend_reason=SuspendReason(row.suspend_reason) if row.suspend_reason else None,
        tags=tuple(row.tags or ()),
        dialect=row.dialect,
    )


def _balance(row: Row) -> Balance:
    return Balance(
        phone=row.phone,
        balance_fen=int(row.balance_fen),
        status=LineStatus(row.status),
        suspend_reason=SuspendReason(row.suspend_reason) if row.suspend_reason else None,
    )


def _order(row: Row) -> TopUpOrder:
    return TopUpOrder(
        order_no=row.order_no,
        phone=row.phone,
        amount_fen=int(row.amount_fen),
        status=OrderStatus(row.status),
        created_at=row.created_at,
        paid_at=row.paid_at,
        balance_after_fen=int(row.balance_after_fen) if row.balance_after_fen is not None else None,
    )


def _usage(phone: str, month: str, data_used_mb: int, voice_used: int, plan_row: Row | None) -> Usage:
    return Usage(
        phone=phone,
        month=month,
        data_used_mb=data_used_mb,
        data_total_mb=int(plan_row.data_mb) if plan_row is not None else 0,
        voice_used_minutes=voice_used,
        voice_total_minutes=int(plan_row.voice_minutes) if plan_row is not None else 0,
    )


def _usage_from_record(record: Row, plan_rows: dict[str, Row], fallback_plan: str) -> Usage:
    plan_row = plan_rows.get(record.plan_code or fallback_plan)
    return _usage(record.phone, record.month, int(record.data_used_mb), int(record.voice_used_minutes), plan_row)
