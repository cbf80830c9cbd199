"""SqlBillingBackend against real PostgreSQL, with the demo data loaded.

Seeded subscribers are only read here; tests that change accounts create their own
subscribers (numbers starting 139) so that they never disturb one another.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import secrets
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from billing import load_backend
from billing.backend import (
    BillingError,
    ChargeKind,
    InvalidAmount,
    InvoiceStatus,
    LineStatus,
    OrderNotFound,
    OrderStatus,
    PlanChangeOutcome,
    SubscriptionStatus,
    SuspendReason,
    UnknownSubscriber,
)
from billing.demo import DEMO_DIR, seed_demo_data
from billing.models import bill_items, plan_changes, subscribers, usage_records, vas_subscriptions
from billing.models import charges as charges_table
from billing.periods import first_of_next_month, local_date, month_of, shift_month, utc_now
from billing.sql import SqlBillingBackend
from core.audit import audit_log

DEMO_PHONES = [f"138000000{n:02d}" for n in range(1, 25)]


@pytest.fixture
def backend(seeded_engine: AsyncEngine) -> SqlBillingBackend:
    return SqlBillingBackend(seeded_engine)


async def make_subscriber(
    engine: AsyncEngine,
    *,
    plan: str = "LIVE29",
    balance_fen: int = 0,
    status: LineStatus = LineStatus.ACTIVE,
    reason: SuspendReason | None = None,
) -> str:
    phone = f"139{secrets.randbelow(10**8):08d}"
    now = utc_now()
    async with engine.begin() as conn:
        await conn.execute(
            insert(subscribers).values(
                phone=phone,
                name="测试用户",
                birth_date=dt.date(1990, 1, 1),
                plan_code=plan,
                balance_fen=balance_fen,
                status=status.value,
                suspend_reason=reason.value if reason else None,
                tags=[],
                created_at=now,
                updated_at=now,
            )
        )
    return phone


def this_month() -> str:
    return month_of(local_date(utc_now()))


async def audit_rows(engine: AsyncEngine, phone: str) -> list:
    async with engine.connect() as conn:
        return (await conn.execute(select(audit_log).where(audit_log.c.phone == phone).order_by(audit_log.c.id))).all()


# ---- subscribers, balances, bills and usage from the seed --------------------------------


async def test_demo_subscriber_of_the_readme(backend: SqlBillingBackend) -> None:
    sub = await backend.get_subscriber("13800000001")
    assert sub is not None
    assert (sub.name, sub.plan_code, sub.balance_fen, sub.status) == ("张伟", "LIVE39", 5830, LineStatus.ACTIVE)
    assert 33 <= sub.age(local_date(utc_now())) <= 35
    assert sub.suspend_reason is None
    assert await backend.get_subscriber("13899999999") is None


async def test_demo_population(backend: SqlBillingBackend) -> None:
    demo = [s for s in await backend.list_subscribers() if s.phone in DEMO_PHONES]
    today = local_date(utc_now())
    assert [s.phone for s in demo] == DEMO_PHONES
    ages = [s.age(today) for s in demo]
    assert min(ages) >= 19 and max(ages) <= 86
    assert sum(age >= 65 for age in ages) >= 6
    by_phone = {s.phone: s for s in demo}
    assert by_phone["13800000002"].plan_code == "ELDER10" and by_phone["13800000002"].age(today) >= 65
    assert 0 < by_phone["13800000002"].balance_fen < 2000
    assert by_phone["13800000003"].dialect == "sichuanese"
    assert by_phone["13800000003"].suspend_reason == SuspendReason.REPORTED_LOST
    assert by_phone["13800000006"].dialect == "cantonese" and by_phone["13800000006"].age(today) >= 65
    assert by_phone["13800000007"].suspend_reason == SuspendReason.REAL_NAME
    assert {"FAMILY99", "CAMPUS25"} <= {s.plan_code for s in demo}
    assert "老年客户" in by_phone["13800000002"].tags


async def test_balance_with_arrears_and_suspension(backend: SqlBillingBackend) -> None:
    balance = await backend.get_balance("13800000004")
    assert balance.balance_fen == -2350
    assert balance.arrears_fen == 2350
    assert (balance.status, balance.suspend_reason) == (LineStatus.SUSPENDED, SuspendReason.ARREARS)
    lost = await backend.get_balance("13800000003")
    assert (lost.status, lost.suspend_reason, lost.arrears_fen) == (
        LineStatus.SUSPENDED,
        SuspendReason.REPORTED_LOST,
        0,
    )
    with pytest.raises(UnknownSubscriber):
        await backend.get_balance("13899999999")


async def test_last_months_bill_with_overage(backend: SqlBillingBackend) -> None:
    bill = await backend.get_bill("13800000004")
    assert bill.month == shift_month(this_month(), -1)
    # 6350 MB on a 5GB plan: 1230 MB over = 2 started GB at 5元; 63 minutes on 50: 13 × 0.15元.
    assert [(item.name, item.amount_fen) for item in bill.items] == [
        ("套餐月费（畅享19元卡）", 1900),
        ("套餐外流量费（超出1.2GB）", 1000),
        ("套餐外通话费（超出13分钟）", 195),
    ]
    assert bill.total_fen == 3095


async def test_bill_of_a_given_month_and_extras(backend: SqlBillingBackend) -> None:
    two_months_ago = shift_month(this_month(), -2)
    bill = await backend.get_bill("13800000016", two_months_ago)
    assert bill.month == two_months_ago
    assert [(i.name, i.amount_fen) for i in bill.items] == [
        ("套餐月费（5G尊享199元套餐）", 19900),
        ("国际漫游费", 4560),
    ]
    assert bill.total_fen == 24460
    assert (await backend.get_bill("13800000016")).total_fen == 19900
    empty = await backend.get_bill("13800000016", "2001-01")
    assert (empty.items, empty.total_fen) == ((), 0)
    with pytest.raises(BillingError):
        await backend.get_bill("13800000016", "2026-13")
    with pytest.raises(UnknownSubscriber):
        await backend.get_bill("13899999999")


async def test_usage_near_its_limit(backend: SqlBillingBackend) -> None:
    usage = await backend.get_usage("13800000005")
    assert usage.month == this_month()
    assert (usage.data_used_mb, usage.data_total_mb) == (14336, 15360)
    assert usage.data_used_mb * 100 > usage.data_total_mb * 90
    assert usage.data_left_mb == 1024
    assert (usage.voice_used_minutes, usage.voice_total_minutes, usage.voice_left_minutes) == (48, 100, 52)


async def test_usage_history_of_completed_months(backend: SqlBillingBackend) -> None:
    history = await backend.get_usage_history("13800000010")
    current = this_month()
    assert [u.month for u in history] == [shift_month(current, -3), shift_month(current, -2), shift_month(current, -1)]
    assert [u.data_used_mb for u in history] == [11020, 12480, 11790]
    assert [u.voice_used_minutes for u in history] == [45, 61, 38]
    assert {u.data_total_mb for u in history} == {5120}
    assert [u.month for u in await backend.get_usage_history("13800000010", 1)] == [shift_month(current, -1)]


async def test_usage_follows_the_china_calendar_month(seeded_engine: AsyncEngine) -> None:
    phone = await make_subscriber(seeded_engine, plan="MINI19")
    async with seeded_engine.begin() as conn:
        await conn.execute(
            insert(usage_records),
            [
                {
                    "phone": phone,
                    "month": "2031-11",
                    "plan_code": "MINI19",
                    "data_used_mb": 4000,
                    "voice_used_minutes": 40,
                },
                {"phone": phone, "month": "2031-12", "plan_code": "MINI19", "data_used_mb": 7, "voice_used_minutes": 1},
            ],
        )
    before_midnight = SqlBillingBackend(
        seeded_engine, clock=lambda: dt.datetime(2031, 11, 30, 15, 59, tzinfo=dt.timezone.utc)
    )
    after_midnight = SqlBillingBackend(
        seeded_engine, clock=lambda: dt.datetime(2031, 11, 30, 16, 1, tzinfo=dt.timezone.utc)
    )
    assert (await before_midnight.get_usage(phone)).data_used_mb == 4000
    december = await after_midnight.get_usage(phone)  # 00:01 on 1 December in Beijing
    assert (december.month, december.data_used_mb, december.data_total_mb) == ("2031-12", 7, 5120)


async def test_usage_of_a_month_without_records_is_zero(seeded_engine: AsyncEngine) -> None:
    phone = await make_subscriber(seeded_engine, plan="ELDER10")
    usage = await SqlBillingBackend(seeded_engine).get_usage(phone)
    assert (usage.data_used_mb, usage.data_total_mb, usage.voice_total_minutes) == (0, 1024, 100)
    assert await SqlBillingBackend(seeded_engine).get_usage_history(phone) == []


async def test_plans(backend: SqlBillingBackend) -> None:
    plans = await backend.list_plans()
    assert len(plans) == 13
    fees = [p.monthly_fee_fen for p in plans]
    assert fees == sorted(fees) and plans[0].code == "GUARD8"
    elder = await backend.get_plan("elder10")
    assert elder is not None
    assert (elder.name, elder.monthly_fee_fen, elder.data_mb, elder.voice_minutes, elder.elder_friendly) == (
        "智慧养老卡",
        1000,
        1024,
        100,
        True,
    )
    family = await backend.get_plan("FAMILY99")
    assert family is not None and family.requires_in_person and "宽带" in family.description
    assert await backend.get_plan("NOPE") is None


# ---- top-ups --------------------------------------------------------------------------


async def test_top_up_is_pending_until_confirmed_and_credits_once(seeded_engine: AsyncEngine) -> None:
    backend = SqlBillingBackend(seeded_engine)
    phone = await make_subscriber(seeded_engine, balance_fen=1234)
    order = await backend.create_top_up(phone, 5000)
    assert re.fullmatch(r"TU\d{8}\d{6}", order.order_no)
    assert order.order_no[2:10] == local_date(order.created_at).strftime("%Y%m%d")
    assert (order.status, order.amount_fen, order.balance_after_fen) == (OrderStatus.PENDING, 5000, None)
    assert (await backend.get_balance(phone)).balance_fen == 1234

    paid = await backend.confirm_top_up(order.order_no)
    assert (paid.status, paid.balance_after_fen) == (OrderStatus.PAID, 6234)
    assert paid.paid_at is not None and paid.paid_at.tzinfo is not None
    again = await backend.confirm_top_up(order.order_no)
    assert again == paid
    assert (await backend.get_balance(phone)).balance_fen == 6234
    assert await backend.get_top_up(order.order_no) == paid


async def test_concurrent_confirmations_credit_once(seeded_engine: AsyncEngine) -> None:
    phone = await make_subscriber(seeded_engine, balance_fen=0)
    backend = SqlBillingBackend(seeded_engine)
    order = await backend.create_top_up(phone, 10000)
    # Separate backend objects, as separate action-server requests would have.
    results = await asyncio.gather(*(SqlBillingBackend(seeded_engine).confirm_top_up(order.order_no) for _ in range(6)))
    assert {r.status for r in results} == {OrderStatus.PAID}
    assert {r.balance_after_fen for r in results} == {10000}
    assert (await backend.get_balance(phone)).balance_fen == 10000


async def test_two_orders_confirmed_concurrently_both_count(seeded_engine: AsyncEngine) -> None:
    phone = await make_subscriber(seeded_engine, balance_fen=100)
    backend = SqlBillingBackend(seeded_engine)
    first, second = await backend.create_top_up(phone, 2000), await backend.create_top_up(phone, 3000)
    assert first.order_no != second.order_no
    await asyncio.gather(backend.confirm_top_up(first.order_no), backend.confirm_top_up(second.order_no))
    assert (await backend.get_balance(phone)).balance_fen == 5100


@pytest.mark.parametrize("amount", [0, 99, -100, 500_001, 10**9])
async def test_invalid_top_up_amounts(backend: SqlBillingBackend, amount: int) -> None:
    with pytest.raises(InvalidAmount):
        await backend.create_top_up("13800000024", amount)


async def test_top_up_limits_and_bad_input(seeded_engine: AsyncEngine) -> None:
    backend = SqlBillingBackend(seeded_engine)
    phone = await make_subscriber(seeded_engine)
    assert (await backend.create_top_up(phone, 100)).amount_fen == 100  # 1 元
    assert (await backend.create_top_up(phone, 500_000)).amount_fen == 500_000  # 5000 元
    with pytest.raises(InvalidAmount):
        await backend.create_top_up(phone, 50.0)
    with pytest.raises(UnknownSubscriber):
        await backend.create_top_up("13899999999", 1000)
    closed = await make_subscriber(seeded_engine, status=LineStatus.CLOSED)
    with pytest.raises(BillingError):
        await backend.create_top_up(closed, 1000)
    assert (await backend.get_balance(phone)).balance_fen == 0  # nothing confirmed, nothing credited


async def test_cancel_top_up(seeded_engine: AsyncEngine) -> None:
    backend = SqlBillingBackend(seeded_engine)
    phone = await make_subscriber(seeded_engine, balance_fen=500)
    order = await backend.create_top_up(phone, 2000)
    cancelled = await backend.cancel_top_up(order.order_no)
    assert cancelled.status == OrderStatus.CANCELLED
    assert (await backend.cancel_top_up(order.order_no)).status == OrderStatus.CANCELLED
    with pytest.raises(BillingError):
        await backend.confirm_top_up(order.order_no)
    assert (await backend.get_balance(phone)).balance_fen == 500

    paid = await backend.confirm_top_up((await backend.create_top_up(phone, 1000)).order_no)
    with pytest.raises(BillingError):
        await backend.cancel_top_up(paid.order_no)
    with pytest.raises(OrderNotFound):
        await backend.confirm_top_up("TU0000000000000")
    with pytest.raises(OrderNotFound):
        await backend.cancel_top_up("TU0000000000000")


async def test_top_up_clearing_arrears_reactivates_the_line(seeded_engine: AsyncEngine) -> None:
    backend = SqlBillingBackend(seeded_engine)
    phone = await make_subscriber(
        seeded_engine, balance_fen=-2350, status=LineStatus.SUSPENDED, reason=SuspendReason.ARREARS
    )
    partial = await backend.confirm_top_up((await backend.create_top_up(phone, 2000)).order_no)
    assert partial.balance_after_fen == -350
    still = await backend.get_balance(phone)
    assert (still.status, still.suspend_reason) == (LineStatus.SUSPENDED, SuspendReason.ARREARS)

    enough = await backend.confirm_top_up((await backend.create_top_up(phone, 350)).order_no)
    assert enough.balance_after_fen == 0
    cleared = await backend.get_balance(phone)
    assert (cleared.status, cleared.suspend_reason) == (LineStatus.ACTIVE, None)
    rows = await audit_rows(seeded_engine, phone)
    assert [(r.actor, r.action) for r in rows] == [("system:top_up", "reactivate_line")]
    assert enough.order_no in rows[0].detail


async def test_top_up_does_not_lift_other_suspensions(seeded_engine: AsyncEngine) -> None:
    backend = SqlBillingBackend(seeded_engine)
    phone = await make_subscriber(
        seeded_engine, balance_fen=100, status=LineStatus.SUSPENDED, reason=SuspendReason.REAL_NAME
    )
    await backend.confirm_top_up((await backend.create_top_up(phone, 5000)).order_no)
    balance = await backend.get_balance(phone)
    assert (balance.balance_fen, balance.status, balance.suspend_reason) == (
        5100,
        LineStatus.SUSPENDED,
        SuspendReason.REAL_NAME,
    )


# ---- plan changes ---------------------------------------------------------------------


async def test_plan_change_outcomes(seeded_engine: AsyncEngine) -> None:
    backend = SqlBillingBackend(seeded_engine)
    phone = await make_subscriber(seeded_engine, plan="LIVE29")
    assert (await backend.change_plan(phone, "NOPE")).outcome == PlanChangeOutcome.UNKNOWN_PLAN
    assert (await backend.change_plan(phone, "live29")).outcome == PlanChangeOutcome.SAME_PLAN
    to_family = await backend.change_plan(phone, "FAMILY99")
    assert (to_family.outcome, to_family.from_plan, to_family.to_plan) == (
        PlanChangeOutcome.NEEDS_IN_PERSON,
        "LIVE29",
        "FAMILY99",
    )
    assert (await backend.change_plan(phone, "CAMPUS25")).outcome == PlanChangeOutcome.NEEDS_IN_PERSON

    student = await make_subscriber(seeded_engine, plan="CAMPUS25")
    assert (await backend.change_plan(student, "LIVE39")).outcome == PlanChangeOutcome.NEEDS_IN_PERSON

    suspended = await make_subscriber(
        seeded_engine, status=LineStatus.SUSPENDED, reason=SuspendReason.ARREARS, balance_fen=-10
    )
    assert (await backend.change_plan(suspended, "5G59")).outcome == PlanChangeOutcome.LINE_NOT_ACTIVE
    with pytest.raises(UnknownSubscriber):
        await backend.change_plan("13899999999", "5G59")
    async with seeded_engine.connect() as conn:
        count = (
            await conn.execute(
                select(func.count())
                .select_from(plan_changes)
                .where(plan_changes.c.phone.in_([phone, student, suspended]))
            )
        ).scalar()
    assert count == 0  # refusals record nothing


async def test_plan_change_takes_effect_on_the_first_of_next_month(seeded_engine: AsyncEngine) -> None:
    backend = SqlBillingBackend(seeded_engine)
    phone = await make_subscriber(seeded_engine, plan="LIVE29")
    change = await backend.change_plan(phone, "5g59")
    next_month = first_of_next_month(local_date(utc_now()))
    assert (change.outcome, change.from_plan, change.to_plan, change.effective_date) == (
        PlanChangeOutcome.CHANGED,
        "LIVE29",
        "5G59",
        next_month,
    )
    assert (await backend.get_subscriber(phone)).plan_code == "LIVE29"
    assert (await backend.get_usage(phone)).data_total_mb == 15360
    assert await backend.get_pending_plan_change(phone) == change
    assert (await backend.change_plan(phone, "5G59")) == change  # asked again: nothing new

    final = await backend.change_plan(phone, "LIVE39")  # changed mind before the 1st
    assert final.to_plan == "LIVE39"
    async with seeded_engine.connect() as conn:
        rows = (
            await conn.execute(select(plan_changes).where(plan_changes.c.phone == phone).order_by(plan_changes.c.id))
        ).all()
    assert [(r.to_plan, r.status) for r in rows] == [("5G59", "superseded"), ("LIVE39", "scheduled")]

    first_day = dt.datetime.combine(next_month, dt.time(0, 5), tzinfo=dt.timezone(dt.timedelta(hours=8)))
    later = SqlBillingBackend(seeded_engine, clock=lambda: first_day.astimezone(dt.timezone.utc))
    assert (await later.get_subscriber(phone)).plan_code == "LIVE39"
    assert await later.get_pending_plan_change(phone) is None
    async with seeded_engine.connect() as conn:
        statuses = (
            (
                await conn.execute(
                    select(plan_changes.c.status).where(plan_changes.c.phone == phone).order_by(plan_changes.c.id)
                )
            )
            .scalars()
            .all()
        )
    assert statuses == ["superseded", "applied"]


# ---- reactivation (green channel) -----------------------------------------------------


async def test_agent_reactivates_a_voluntary_suspension(seeded_engine: AsyncEngine) -> None:
    reason = SuspendReason.VOLUNTARY
    backend = SqlBillingBackend(seeded_engine)
    phone = await make_subscriber(seeded_engine, balance_fen=3500, status=LineStatus.SUSPENDED, reason=reason)
    balance = await backend.reactivate_line(phone, actor="agent:wang")
    assert (balance.status, balance.suspend_reason, balance.balance_fen) == (LineStatus.ACTIVE, None, 3500)
    rows = await audit_rows(seeded_engine, phone)
    assert [(r.actor, r.action) for r in rows] == [("agent:wang", "reactivate_line")]
    assert reason.value in rows[0].detail


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (LineStatus.SUSPENDED, SuspendReason.ARREARS),
        (LineStatus.SUSPENDED, SuspendReason.REAL_NAME),
        (LineStatus.SUSPENDED, SuspendReason.REPORTED_LOST),  # a supervisor's identity check only
        (LineStatus.ACTIVE, None),
        (LineStatus.CLOSED, None),
    ],
)
async def test_other_states_cannot_be_cleared_by_an_agent(
    seeded_engine: AsyncEngine, status: LineStatus, reason: SuspendReason | None
) -> None:
    backend = SqlBillingBackend(seeded_engine)
    phone = await make_subscriber(
        seeded_engine, balance_fen=-500 if reason == SuspendReason.ARREARS else 500, status=status, reason=reason
    )
    with pytest.raises(BillingError):
        await backend.reactivate_line(phone, actor="agent:wang")
    after = await backend.get_balance(phone)
    assert (after.status, after.suspend_reason) == (status, reason)
    assert await audit_rows(seeded_engine, phone) == []


async def test_reactivation_in_arrears_leaves_an_arrears_suspension(seeded_engine: AsyncEngine) -> None:
    backend = SqlBillingBackend(seeded_engine)
    phone = await make_subscriber(
        seeded_engine, balance_fen=-800, status=LineStatus.SUSPENDED, reason=SuspendReason.VOLUNTARY
    )
    balance = await backend.reactivate_line(phone, actor="agent:li")
    assert (balance.status, balance.suspend_reason) == (LineStatus.SUSPENDED, SuspendReason.ARREARS)
    with pytest.raises(BillingError):
        await backend.reactivate_line(phone, actor="  ")


# ---- plumbing -------------------------------------------------------


async def test_load_backend_honours_billing_backend(
    seeded_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BILLING_BACKEND", raising=False)
    assert isinstance(load_backend(seeded_engine), SqlBillingBackend)
    monkeypatch.setenv("BILLING_BACKEND", "billing.sql:SqlBillingBackend")
    assert isinstance(load_backend(seeded_engine), SqlBillingBackend)
    monkeypatch.setenv("BILLING_BACKEND", "billing.sql")
    with pytest.raises(ValueError):
        load_backend(seeded_engine)
    monkeypatch.setenv("BILLING_BACKEND", "billing.sql:NoSuchBackend")
    with pytest.raises(AttributeError):
        load_backend(seeded_engine)


# ---- seeding --------------------------------------------------------------------------


async def _counts(engine: AsyncEngine, phones: list[str]) -> tuple[int, int, list[tuple[str, int, str]]]:
    async with engine.connect() as conn:
        usage = (
            await conn.execute(select(func.count()).select_from(usage_records).where(usage_records.c.phone.in_(phones)))
        ).scalar()
        bills = (
            await conn.execute(select(func.count()).select_from(bill_items).where(bill_items.c.phone.in_(phones)))
        ).scalar()
        accounts = (
            await conn.execute(
                select(subscribers.c.phone, subscribers.c.balance_fen, subscribers.c.status)
                .where(subscribers.c.phone.in_(phones))
                .order_by(subscribers.c.phone)
            )
        ).all()
    return usage, bills, [tuple(row) for row in accounts]


async def test_seeding_again_changes_nothing(seeded_engine: AsyncEngine) -> None:
    before = await _counts(seeded_engine, DEMO_PHONES)
    assert before[0] == 24 * 4 and before[1] >= 24 * 3
    await seed_demo_data(seeded_engine)
    assert await _counts(seeded_engine, DEMO_PHONES) == before


async def test_reseed_keeps_live_state_unless_reset(seeded_engine: AsyncEngine, tmp_path: Path) -> None:
    phone = f"137{secrets.randbelow(10**8):08d}"
    shutil.copy(DEMO_DIR / "plans.yml", tmp_path / "plans.yml")
    (tmp_path / "subscribers.yml").write_text(
        f"""subscribers:
  - phone: "{phone}"
    name: 测试甲
    birth_date: 1950-01-01
    plan: ELDER10
    balance_yuan: "-1.50"
    status: suspended
    suspend_reason: arrears
    data_mb: [100, 200, 300, 400]
    voice_minutes: [10, 20, 30, 40]
""",
        encoding="utf-8",
    )
    await seed_demo_data(seeded_engine, directory=tmp_path)
    backend = SqlBillingBackend(seeded_engine)
    await backend.confirm_top_up((await backend.create_top_up(phone, 1000)).order_no)
    assert (await backend.change_plan(phone, "ELDER18")).outcome == PlanChangeOutcome.CHANGED
    await seed_demo_data(seeded_engine, directory=tmp_path)
    kept = await backend.get_balance(phone)
    assert (kept.balance_fen, kept.status) == (850, LineStatus.ACTIVE)
    assert await backend.get_pending_plan_change(phone) is not None
    assert (await _counts(seeded_engine, [phone]))[:2] == (4, 3)

    await seed_demo_data(seeded_engine, directory=tmp_path, reset=True)
    reset = await backend.get_balance(phone)
    assert (reset.balance_fen, reset.status, reset.suspend_reason) == (
        -150,
        LineStatus.SUSPENDED,
        SuspendReason.ARREARS,
    )
    assert await backend.get_pending_plan_change(phone) is None
    async with seeded_engine.connect() as conn:
        statuses = (
            (await conn.execute(select(plan_changes.c.status).where(plan_changes.c.phone == phone))).scalars().all()
        )
    assert statuses == ["cancelled"]
    assert (await _counts(seeded_engine, [phone]))[:2] == (4, 3)


# ---- charges, value-added services, points, invoices ---------------------------------


async def subscribe(engine: AsyncEngine, phone: str, *codes: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            insert(vas_subscriptions),
            [
                {"phone": phone, "service_code": code, "status": "active", "since": dt.date(2026, 1, 1), "renew_day": 1}
                for code in codes
            ],
        )


async def test_this_months_charges_so_far(backend: SqlBillingBackend) -> None:
    charges = await backend.list_charges("13800000001")
    assert [(c.name, c.amount_fen, c.kind) for c in charges] == [
        ("套餐月费（乐享39元套餐）", 3900, ChargeKind.PLAN),
        ("彩铃", 500, ChargeKind.SERVICE),
        ("视频会员（自动续费）", 1500, ChargeKind.SERVICE),
    ]
    today = local_date(utc_now())
    assert all(c.date is not None and c.date <= today and month_of(c.date) == this_month() for c in charges)
    assert charges[2].service_code == "VIDEO15"
    one_off = [c for c in await backend.list_charges("13800000013") if c.kind == ChargeKind.ONE_OFF]
    assert [(c.name, c.amount_fen) for c in one_off] == [("语音点播信息费", 300)]
    assert await backend.list_charges("13800000004") == []  # suspended: nothing taken this month
    assert await backend.list_charges("13800000001", "2001-01") == []
    with pytest.raises(BillingError):
        await backend.list_charges("13800000001", "2026-13")
    with pytest.raises(UnknownSubscriber):
        await backend.list_charges("13899999999")


async def test_charges_of_the_future_are_not_listed(seeded_engine: AsyncEngine) -> None:
    phone = await make_subscriber(seeded_engine)
    today = local_date(utc_now())
    async with seeded_engine.begin() as conn:
        await conn.execute(
            insert(charges_table),
            [
                {
                    "phone": phone,
                    "month": this_month(),
                    "charged_on": today,
                    "name": "今天",
                    "amount_fen": 100,
                    "kind": "one_off",
                },
                {
                    "phone": phone,
                    "month": this_month(),
                    "charged_on": today + dt.timedelta(days=40),
                    "name": "以后",
                    "amount_fen": 100,
                    "kind": "one_off",
                },
            ],
        )
    assert [c.name for c in await SqlBillingBackend(seeded_engine).list_charges(phone)] == ["今天"]


async def test_services_in_the_bills_and_the_catalogue(backend: SqlBillingBackend) -> None:
    last = await backend.get_bill("13800000001")
    assert ("增值业务：彩铃", 500) in [(i.name, i.amount_fen) for i in last.items]
    assert "视频会员" not in str(last.items)  # free trial last month: first charged this month
    assert ("增值业务：视频会员", 1500) in [
        (i.name, i.amount_fen) for i in (await backend.get_bill("13800000020")).items
    ]
    catalog = {s.code: s for s in await backend.list_service_catalog()}
    assert catalog["VIDEO15"].monthly_fee_fen == 1500 and "爱奇艺会员" in catalog["VIDEO15"].aliases
    assert catalog["CRBT5"].name == "彩铃" and catalog["VRBT6"].monthly_fee_fen == 600
    services = await backend.list_services("13800000014")
    assert [s.service.code for s in services][:2] == ["VIDEO15", "DATA10"]  # dearest first
    assert len(services) == 5 and {s.status for s in services} == {SubscriptionStatus.ACTIVE}
    assert await backend.list_services("13800000024") == []


async def test_cancel_service_is_idempotent_audited_and_only_on_the_own_number(seeded_engine: AsyncEngine) -> None:
    backend = SqlBillingBackend(seeded_engine)
    phone, other = await make_subscriber(seeded_engine), await make_subscriber(seeded_engine)
    await subscribe(seeded_engine, phone, "CRBT5", "VIDEO15")
    await subscribe(seeded_engine, other, "SMS5")
    cancelled = await backend.cancel_service(phone, "crbt5", actor="wechat:o-1")
    assert (cancelled.service.code, cancelled.status) == ("CRBT5", SubscriptionStatus.CANCELLED)
    assert cancelled.cancelled_at is not None
    again = await backend.cancel_service(phone, "CRBT5", actor="wechat:o-1")
    assert again == cancelled
    assert [s.service.code for s in await backend.list_services(phone)] == ["VIDEO15"]
    rows = await audit_rows(seeded_engine, phone)
    assert [(r.actor, r.action) for r in rows] == [("wechat:o-1", "cancel_service")]
    assert "CRBT5" in rows[0].detail and "5元" in rows[0].detail

    with pytest.raises(BillingError):
        await backend.cancel_service(phone, "SMS5", actor="wechat:o-1")  # on the other number
    assert [s.service.code for s in await backend.list_services(other)] == ["SMS5"]
    with pytest.raises(BillingError):
        await backend.cancel_service(phone, "VIDEO15", actor=" ")
    with pytest.raises(UnknownSubscriber):
        await backend.cancel_service("13899999999", "CRBT5", actor="x")


async def test_points_and_rewards(backend: SqlBillingBackend, seeded_engine: AsyncEngine) -> None:
    points = await backend.get_points("13800000001")
    assert (points.balance, points.expiring) == (3260, 800)
    assert points.expires_on == dt.date(local_date(utc_now()).year, 12, 31)
    assert (await backend.get_points("13800000005")).expires_on is None
    nobody = await backend.get_points(await make_subscriber(seeded_engine))
    assert (nobody.balance, nobody.expiring, nobody.expires_on) == (0, 0, None)
    rewards = await backend.list_point_rewards()
    assert [r.points for r in rewards] == sorted(r.points for r in rewards)
    assert ("10元话费", 1000) in [(r.name, r.points) for r in rewards]


async def test_payments_with_their_invoices(backend: SqlBillingBackend, seeded_engine: AsyncEngine) -> None:
    payments = await backend.list_payments("13800000014", limit=10)
    assert len(payments) >= 4
    assert [p.paid_at for p in payments] == sorted((p.paid_at for p in payments), reverse=True)
    issued = [p for p in payments if p.invoice_status == InvoiceStatus.ISSUED]
    assert issued and all(p.invoice_no and p.invoice_no.startswith("FP") for p in issued)
    assert len(await backend.list_payments("13800000014")) == 3
    assert await backend.list_payments("13800000014", limit=0) == []

    phone = await make_subscriber(seeded_engine)
    order = await backend.confirm_top_up((await backend.create_top_up(phone, 2000)).order_no)
    await backend.create_top_up(phone, 1000)  # pending: not a payment
    [payment] = await backend.list_payments(phone)
    assert (payment.order_no, payment.amount_fen, payment.invoice_status, payment.invoice_no) == (
        order.order_no,
        2000,
        InvoiceStatus.NOT_ISSUED,
        None,
    )
