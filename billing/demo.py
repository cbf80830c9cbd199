"""Demo data: the plan catalogue and subscribers from billing/demo_data/*.yml, with usage and bills.

Usage and bills are laid out relative to the month of seeding (this month and the three
before it), computed from the YAML alone: seeding is deterministic and idempotent.

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

from billing.backend import LineStatus, SuspendReason
from billing.models import bill_items, plan_changes, plans, subscribers, usage_records
from billing.money import format_data, yuan_to_fen
from billing.periods import Clock, local_date, month_of, shift_month, utc_now
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
    )


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


def demo_bill_lines(sub: DemoSubscriber, plan: DemoPlan, months_ago: int) -> list[tuple[str, int]]:
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
    return lines


async def seed_demo_data(
    engine: AsyncEngine, *, reset: bool = False, directory: Path = DEMO_DIR, clock: Clock = utc_now
) -> None:
    """Load the demo plans and subscribers (idempotent; see the module docstring)."""
    demo_plans = load_demo_plans(directory)
    plan_by_code = {plan.code: plan for plan in demo_plans}
    demo_subscribers = load_demo_subscribers(directory, set(plan_by_code))
    now = clock()
    this_month = month_of(local_date(now))
    async with engine.begin() as conn:
        for plan in demo_plans:
            await _upsert_plan(conn, plan)
        for sub in demo_subscribers:
            await _upsert_subscriber(conn, sub, now, reset)
            await _seed_usage(conn, sub, this_month, reset)
            await _seed_bills(conn, sub, plan_by_code[sub.plan_code], this_month, reset)


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


async def _seed_bills(conn: AsyncConnection, sub: DemoSubscriber, plan: DemoPlan, this_month: str, reset: bool) -> None:
    for months_ago in range(1, MONTHS_OF_USAGE):
        month = shift_month(this_month, -months_ago)
        where = (bill_items.c.phone == sub.phone, bill_items.c.month == month)
        lines = demo_bill_lines(sub, plan, months_ago)
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


def _differs(row: Any, values: dict[str, Any]) -> bool:
    mapping = row._mapping
    return any(mapping[key] != value for key, value in values.items())
