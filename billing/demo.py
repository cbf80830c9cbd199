"""Demo data: the plan catalogue and subscribers from billing/demo_data/*.yml, with usage and bills.

Usage and bills are laid out relative to the month of seeding (this month and the three
before it), computed from the YAML alone: seeding is deterministic and idempotent. So are
value-added services (catalogue in services.yml), this month's charges, points and paid
top-ups with their e-invoices.

Re-seeding keeps live account state: a demo top-up or plan change survives `csbot db seed`.
Plans and subscriber profiles (name, birth date, tags, dialect, note) are brought in line
with the YAML; balances, line status, plans in force and existing usage/bill rows are only
written when missing, unless `reset=True` puts every account back to the YAML.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from billing.backend import ChargeKind, LineStatus, OrderStatus, SubscriptionStatus, SuspendReason
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
from billing.money import format_data, yuan_to_fen
from billing.periods import BILLING_TZ, Clock, local_date, month_of, parse_month, shift_month, utc_now
from billing.tariff import extra_data_fen, extra_voice_fen

DEMO_DIR = Path(__file__).resolve().parent / "demo_data"
MONTHS_OF_USAGE = 4  # three completed months + this month


@dataclass(frozen=True)
class DemoPlan:
    code: str
    name: str
    monthly_fee_fen: int
    data_mb: int
    voice_minutes: int
    description: str
    elder_friendly: bool
    requires_in_person: bool
    available: bool


@dataclass(frozen=True)
class BillExtra:
    name: str
    amount_fen: int
    months_ago: tuple[int, ...]


@dataclass(frozen=True)
class DemoService:
    code: str
    name: str
    monthly_fee_fen: int
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class DemoReward:
    code: str
    name: str
    points: int


@dataclass(frozen=True)
class DemoSubscription:
    code: str
    since_months_ago: int
    renew_day: int
    trial_months: int = 0

    def charged(self, months_ago: int) -> bool:
        """Whether the fee is taken in the month `months_ago` months before this one."""
        return months_ago <= self.since_months_ago - self.trial_months


@dataclass(frozen=True)
class DemoCharge:
    name: str
    amount_fen: int
    day: int


@dataclass(frozen=True)
class DemoPayment:
    amount_fen: int
    months_ago: int
    day: int
    invoice: bool


@dataclass(frozen=True)
class DemoSubscriber:
    phone: str
    name: str
    birth_date: dt.date
    plan_code: str
    balance_fen: int
    status: LineStatus
    suspend_reason: SuspendReason | None
    dialect: str | None
    tags: tuple[str, ...]
    note: str | None
    data_mb: tuple[int, ...]  # oldest month first, this month last
    voice_minutes: tuple[int, ...]
    bill_extras: tuple[BillExtra, ...]
    services: tuple[DemoSubscription, ...] = ()
    charges: tuple[DemoCharge, ...] = ()
    points: tuple[int, int] | None = None  # (balance, expiring on 31 December)
    payments: tuple[DemoPayment, ...] = ()


def load_demo_plans(directory: Path = DEMO_DIR) -> list[DemoPlan]:
    raw = _read_yaml(directory / "plans.yml")["plans"]
    return [
        DemoPlan(
            code=str(item["code"]),
            name=str(item["name"]),
            monthly_fee_fen=yuan_to_fen(Decimal(str(item["fee_yuan"]))),
            data_mb=int(item["data_mb"]),
            voice_minutes=int(item["voice_minutes"]),
            description=str(item.get("description", "")),
            elder_friendly=bool(item.get("elder_friendly", False)),
            requires_in_person=bool(item.get("requires_in_person", False)),
            available=bool(item.get("available", True)),
        )
        for item in raw
    ]


def load_demo_services(directory: Path = DEMO_DIR) -> tuple[list[DemoService], list[DemoReward]]:
    path = directory / "services.yml"
    raw = _read_yaml(path) if path.exists() else {}
    services = [
        DemoService(
            code=str(item["code"]),
            name=str(item["name"]),
            monthly_fee_fen=yuan_to_fen(Decimal(str(item["fee_yuan"]))),
            aliases=tuple(str(alias) for alias in item.get("aliases", [])),
        )
        for item in raw.get("services", [])
    ]
    rewards = [
        DemoReward(code=str(item["code"]), name=str(item["name"]), points=int(item["points"]))
        for item in raw.get("rewards", [])
    ]
    return services, rewards


def load_demo_subscribers(directory: Path = DEMO_DIR, plan_codes: set[str] | None = None) -> list[DemoSubscriber]:
    raw = _read_yaml(directory / "subscribers.yml")["subscribers"]
    result = [_demo_subscriber(item) for item in raw]
    for sub in result:
        if plan_codes is not None and sub.plan_code not in plan_codes:
            raise ValueError(f"{sub.phone}: unknown plan {sub.plan_code}")
    phones = [sub.phone for sub in result]
    if len(set(phones)) != len(phones):
        raise ValueError("duplicate phone numbers in subscribers.yml")
    return result


def _demo_subscriber(item: dict[str, Any]) -> DemoSubscriber:
    phone = str(item["phone"])
    status = LineStatus(item["status"])
    reason = SuspendReason(item["suspend_reason"]) if item.get("suspend_reason") else None
    if (status == LineStatus.SUSPENDED) != (reason is not None):
        raise ValueError(f"{phone}: a suspended line needs a suspend_reason, and only a suspended one")
    data_mb = tuple(int(v) for v in item["data_mb"])
    voice = tuple(int(v) for v in item["voice_minutes"])
    if len(data_mb) != MONTHS_OF_USAGE or len(voice) != MONTHS_OF_USAGE:
        raise ValueError(f"{phone}: data_mb and voice_minutes need {MONTHS_OF_USAGE} values each")
    extras = tuple(
        BillExtra(
            name=str(extra["name"]),
            amount_fen=yuan_to_fen(Decimal(str(extra["yuan"]))),
            months_ago=_months_ago(extra.get("months_ago")),
        )
        for extra in item.get("bill_extras", [])
    )
    return DemoSubscriber(
        phone=phone,
        name=str(item["name"]),
        birth_date=item["birth_date"],
        plan_code=str(item["plan"]),
        balance_fen=yuan_to_fen(Decimal(str(item["balance_yuan"]))),
        status=status,
        suspend_reason=reason,
        dialect=item.get("dialect"),
        tags=tuple(str(tag) for tag in item.get("tags", [])),
        note=item.get("note"),
        data_mb=data_mb,
        voice_minutes=voice,
        bill_extras=extras,
        services=tuple(
            DemoSubscription(
                code=str(entry["code"]),
                since_months_ago=int(entry["since_months_ago"]),
                renew_day=_day(entry.get("renew_day", 1)),
                trial_months=int(entry.get("trial_months", 0)),
            )
            for entry in item.get("services", [])
        ),
        charges=tuple(
            DemoCharge(
                name=str(entry["name"]), amount_fen=yuan_to_fen(Decimal(str(entry["yuan"]))), day=_day(entry["day"])
            )
            for entry in item.get("charges", [])
        ),
        points=(
            (int(item["points"]["balance"]), int(item["points"].get("expiring", 0))) if item.get("points") else None
        ),
        payments=tuple(
            DemoPayment(
                amount_fen=yuan_to_fen(Decimal(str(entry["yuan"]))),
                months_ago=int(entry["months_ago"]),
                day=_day(entry["day"]),
                invoice=bool(entry.get("invoice", False)),
            )
            for entry in item.get("payments", [])
        ),
    )


def _day(value: Any) -> int:
    day = int(value)
    if not 1 <= day <= 28:
        raise ValueError(f"day of the month must be within 1..28: {value!r}")
    return day


def _months_ago(value: Any) -> tuple[int, ...]:
    if value is None:
        return (1, 2, 3)
    values = value if isinstance(value, list) else [value]
    months = tuple(int(v) for v in values)
    if any(not 1 <= m <= MONTHS_OF_USAGE - 1 for m in months):
        raise ValueError(f"months_ago must be within 1..{MONTHS_OF_USAGE - 1}: {value!r}")
    return months


def _read_yaml(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def demo_bill_lines(
    sub: DemoSubscriber, plan: DemoPlan, months_ago: int, services: dict[str, DemoService] | None = None
) -> list[tuple[str, int]]:
    """The bill of a completed month (`months_ago` 1..3) as (item name, amount in fen)."""
    index = MONTHS_OF_USAGE - 1 - months_ago
    lines = [(f"套餐月费（{plan.name}）", plan.monthly_fee_fen)]
    data_used, voice_used = sub.data_mb[index], sub.voice_minutes[index]
    if extra_data_fen(plan, data_used):
        over = format_data(data_used - plan.data_mb)
        lines.append((f"套餐外流量费（超出{over}）", extra_data_fen(plan, data_used)))
    if extra_voice_fen(plan, voice_used):
        over_minutes = voice_used - plan.voice_minutes
        lines.append((f"套餐外通话费（超出{over_minutes}分钟）", extra_voice_fen(plan, voice_used)))
    lines.extend((extra.name, extra.amount_fen) for extra in sub.bill_extras if months_ago in extra.months_ago)
    for subscription in sub.services:
        service = (services or {}).get(subscription.code)
        if service is not None and subscription.charged(months_ago):
            lines.append((f"增值业务：{service.name}", service.monthly_fee_fen))
    return lines


async def seed_demo_data(
    engine: AsyncEngine, *, reset: bool = False, directory: Path = DEMO_DIR, clock: Clock = utc_now
) -> None:
    """Load the demo plans and subscribers (idempotent; see the module docstring)."""
    demo_plans = load_demo_plans(directory)
    plan_by_code = {plan.code: plan for plan in demo_plans}
    demo_subscribers = load_demo_subscribers(directory, set(plan_by_code))
    demo_services, demo_rewards = load_demo_services(directory)
    service_by_code = {service.code: service for service in demo_services}
    for sub in demo_subscribers:
        unknown = {s.code for s in sub.services} - set(service_by_code)
        if unknown:
            raise ValueError(f"{sub.phone}: unknown services {sorted(unknown)}")
    now = clock()
    today = local_date(now)
    this_month = month_of(today)
    async with engine.begin() as conn:
        for plan in demo_plans:
            await _upsert_plan(conn, plan)
        for service in demo_services:
            await _upsert_service(conn, service)
        for reward in demo_rewards:
            await _upsert_reward(conn, reward)
        for sub in demo_subscribers:
            await _upsert_subscriber(conn, sub, now, reset)
            await _seed_usage(conn, sub, this_month, reset)
            await _seed_bills(conn, sub, plan_by_code[sub.plan_code], this_month, reset, service_by_code)
            await _seed_subscriptions(conn, sub, today, reset)
            await _seed_charges(conn, sub, plan_by_code[sub.plan_code], service_by_code, today, reset)
            await _seed_points(conn, sub, today, reset)
            await _seed_payments(conn, sub, today)


async def _upsert_plan(conn: AsyncConnection, plan: DemoPlan) -> None:
    values = {
        "name": plan.name,
        "monthly_fee_fen": plan.monthly_fee_fen,
        "data_mb": plan.data_mb,
        "voice_minutes": plan.voice_minutes,
        "description": plan.description,
        "elder_friendly": plan.elder_friendly,
        "requires_in_person": plan.requires_in_person,
        "available": plan.available,
    }
    existing = (await conn.execute(select(plans).where(plans.c.code == plan.code))).first()
    if existing is None:
        await conn.execute(insert(plans).values(code=plan.code, **values))
    elif _differs(existing, values):
        await conn.execute(update(plans).where(plans.c.code == plan.code).values(**values))


async def _upsert_subscriber(conn: AsyncConnection, sub: DemoSubscriber, now: dt.datetime, reset: bool) -> None:
    profile = {
        "name": sub.name,
        "birth_date": sub.birth_date,
        "tags": list(sub.tags),
        "dialect": sub.dialect,
        "note": sub.note,
    }
    account = {
        "plan_code": sub.plan_code,
        "pending_plan_code": None,
        "pending_plan_effective": None,
        "balance_fen": sub.balance_fen,
        "status": sub.status.value,
        "suspend_reason": sub.suspend_reason.value if sub.suspend_reason else None,
    }
    existing = (await conn.execute(select(subscribers).where(subscribers.c.phone == sub.phone))).first()
    if existing is None:
        await conn.execute(
            insert(subscribers).values(phone=sub.phone, created_at=now, updated_at=now, **profile, **account)
        )
        return
    wanted = {**profile, **account} if reset else profile
    if _differs(existing, wanted):
        await conn.execute(update(subscribers).where(subscribers.c.phone == sub.phone).values(updated_at=now, **wanted))
    if reset and existing.pending_plan_code is not None:
        await conn.execute(
            update(plan_changes)
            .where(plan_changes.c.phone == sub.phone, plan_changes.c.status == "scheduled")
            .values(status="cancelled")
        )


async def _seed_usage(conn: AsyncConnection, sub: DemoSubscriber, this_month: str, reset: bool) -> None:
    for index in range(MONTHS_OF_USAGE):
        month = shift_month(this_month, index - (MONTHS_OF_USAGE - 1))
        values = {
            "plan_code": sub.plan_code,
            "data_used_mb": sub.data_mb[index],
            "voice_used_minutes": sub.voice_minutes[index],
        }
        where = (usage_records.c.phone == sub.phone, usage_records.c.month == month)
        existing = (await conn.execute(select(usage_records).where(*where))).first()
        if existing is None:
            await conn.execute(insert(usage_records).values(phone=sub.phone, month=month, **values))
        elif reset and _differs(existing, values):
            await conn.execute(update(usage_records).where(*where).values(**values))


async def _seed_bills(
    conn: AsyncConnection,
    sub: DemoSubscriber,
    plan: DemoPlan,
    this_month: str,
    reset: bool,
    services: dict[str, DemoService] | None = None,
) -> None:
    for months_ago in range(1, MONTHS_OF_USAGE):
        month = shift_month(this_month, -months_ago)
        where = (bill_items.c.phone == sub.phone, bill_items.c.month == month)
        lines = demo_bill_lines(sub, plan, months_ago, services)
        existing = (
            await conn.execute(
                select(bill_items.c.name, bill_items.c.amount_fen).where(*where).order_by(bill_items.c.line_no)
            )
        ).all()
        if existing and (not reset or [(row.name, int(row.amount_fen)) for row in existing] == lines):
            continue
        if existing:
            await conn.execute(delete(bill_items).where(*where))
        await conn.execute(
            insert(bill_items),
            [
                {"phone": sub.phone, "month": month, "line_no": line_no, "name": name, "amount_fen": amount}
                for line_no, (name, amount) in enumerate(lines, start=1)
            ],
        )


async def _upsert_service(conn: AsyncConnection, service: DemoService) -> None:
    values = {
        "name": service.name,
        "monthly_fee_fen": service.monthly_fee_fen,
        "aliases": list(service.aliases),
        "available": True,
    }
    existing = (await conn.execute(select(vas_catalog).where(vas_catalog.c.code == service.code))).first()
    if existing is None:
        await conn.execute(insert(vas_catalog).values(code=service.code, **values))
    elif _differs(existing, values):
        await conn.execute(update(vas_catalog).where(vas_catalog.c.code == service.code).values(**values))


async def _upsert_reward(conn: AsyncConnection, reward: DemoReward) -> None:
    values = {"name": reward.name, "points": reward.points, "available": True}
    existing = (await conn.execute(select(points_rewards).where(points_rewards.c.code == reward.code))).first()
    if existing is None:
        await conn.execute(insert(points_rewards).values(code=reward.code, **values))
    elif _differs(existing, values):
        await conn.execute(update(points_rewards).where(points_rewards.c.code == reward.code).values(**values))


def _day_in_month(month: str, day: int, today: dt.date) -> dt.date:
    """`day` of `month`, but never after today (this month's demo charges have happened, so that
    the demo shows them whatever day it is seeded on)."""
    year, number = parse_month(month)
    date = dt.date(year, number, day)
    return min(date, today) if month == month_of(today) else date


async def _seed_subscriptions(conn: AsyncConnection, sub: DemoSubscriber, today: dt.date, reset: bool) -> None:
    this_month = month_of(today)
    for subscription in sub.services:
        since = _day_in_month(shift_month(this_month, -subscription.since_months_ago), subscription.renew_day, today)
        where = (vas_subscriptions.c.phone == sub.phone, vas_subscriptions.c.service_code == subscription.code)
        existing = (await conn.execute(select(vas_subscriptions).where(*where))).first()
        values = {
            "status": SubscriptionStatus.ACTIVE.value,
            "since": since,
            "renew_day": subscription.renew_day,
            "cancelled_at": None,
            "cancelled_by": None,
        }
        if existing is None:
            await conn.execute(
                insert(vas_subscriptions).values(phone=sub.phone, service_code=subscription.code, **values)
            )
        elif reset and _differs(existing, values):
            await conn.execute(update(vas_subscriptions).where(*where).values(**values))


def demo_charges(
    sub: DemoSubscriber, plan: DemoPlan, services: dict[str, DemoService], today: dt.date
) -> list[dict[str, Any]]:
    """This month's deductions so far: plan fee on the 1st, service fees, one-off charges."""
    if sub.status != LineStatus.ACTIVE:
        return []
    month = month_of(today)
    rows: list[dict[str, Any]] = [
        {
            "charged_on": _day_in_month(month, 1, today),
            "name": f"套餐月费（{plan.name}）",
            "amount_fen": plan.monthly_fee_fen,
            "kind": ChargeKind.PLAN.value,
            "service_code": None,
        }
    ]
    for subscription in sub.services:
        service = services[subscription.code]
        if subscription.charged(0):
            renewal = "（自动续费）" if subscription.trial_months else ""
            rows.append(
                {
                    "charged_on": _day_in_month(month, subscription.renew_day, today),
                    "name": f"{service.name}{renewal}",
                    "amount_fen": service.monthly_fee_fen,
                    "kind": ChargeKind.SERVICE.value,
                    "service_code": service.code,
                }
            )
    for charge in sub.charges:
        rows.append(
            {
                "charged_on": _day_in_month(month, charge.day, today),
                "name": charge.name,
                "amount_fen": charge.amount_fen,
                "kind": ChargeKind.ONE_OFF.value,
                "service_code": None,
            }
        )
    rows.sort(key=lambda row: row["charged_on"])
    return [{"phone": sub.phone, "month": month, **row} for row in rows]


async def _seed_charges(
    conn: AsyncConnection,
    sub: DemoSubscriber,
    plan: DemoPlan,
    services: dict[str, DemoService],
    today: dt.date,
    reset: bool,
) -> None:
    where = (charges.c.phone == sub.phone, charges.c.month == month_of(today))
    existing = (await conn.execute(select(charges.c.id).where(*where).limit(1))).first()
    if existing is not None and not reset:
        return
    if existing is not None:
        await conn.execute(delete(charges).where(*where))
    rows = demo_charges(sub, plan, services, today)
    if rows:
        await conn.execute(insert(charges), rows)


async def _seed_points(conn: AsyncConnection, sub: DemoSubscriber, today: dt.date, reset: bool) -> None:
    if sub.points is None:
        return
    balance, expiring = sub.points
    values = {
        "balance": balance,
        "expiring": expiring,
        "expires_on": dt.date(today.year, 12, 31) if expiring else None,
    }
    existing = (await conn.execute(select(points_accounts).where(points_accounts.c.phone == sub.phone))).first()
    if existing is None:
        await conn.execute(insert(points_accounts).values(phone=sub.phone, **values))
    elif reset and _differs(existing, values):
        await conn.execute(update(points_accounts).where(points_accounts.c.phone == sub.phone).values(**values))


async def _seed_payments(conn: AsyncConnection, sub: DemoSubscriber, today: dt.date) -> None:
    """Paid top-ups under fixed order numbers (TU + date + last 4 digits + sequence): added once."""
    this_month = month_of(today)
    for sequence, payment in enumerate(sub.payments, start=1):
        year, number = parse_month(shift_month(this_month, -payment.months_ago))
        date = dt.date(year, number, payment.day)
        if date > today:
            continue  # later this month: not paid yet
        order_no = f"TU{date:%Y%m%d}{sub.phone[-4:]}{sequence:02d}"
        if (await conn.execute(select(topup_orders.c.id).where(topup_orders.c.order_no == order_no))).first():
            continue
        paid_at = dt.datetime.combine(date, dt.time(10, 0), tzinfo=BILLING_TZ).astimezone(dt.timezone.utc)
        await conn.execute(
            insert(topup_orders).values(
                order_no=order_no,
                phone=sub.phone,
                amount_fen=payment.amount_fen,
                status=OrderStatus.PAID.value,
                created_at=paid_at,
                paid_at=paid_at,
            )
        )
        if payment.invoice:
            await conn.execute(
                insert(invoices).values(
                    invoice_no=f"FP{date:%Y%m%d}{sub.phone[-4:]}{sequence:02d}",
                    order_no=order_no,
                    issued_at=paid_at + dt.timedelta(hours=1),
                )
            )


def _differs(row: Any, values: dict[str, Any]) -> bool:
    mapping = row._mapping
    return any(mapping[key] != value for key, value in values.items())
