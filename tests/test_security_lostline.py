"""Issue 9, item 8: a WeChat binding never lifts a 挂失. A lost phone is still logged in to
WeChat, so neither the chat nor an agent's green channel may reactivate a line reported lost;
only a supervisor after a recorded identity check (`csbot line reactivate-lost`)."""

from __future__ import annotations

import pytest
from handoff_support import add_agent, bind, build_service, clean_handoff_tables, new_openid
from sqlalchemy import select
from test_actions import Conversation, services
from test_billing_backend import audit_rows, make_subscriber
from test_handoff_service import clock, online

from actions.account import ActionCheckBalance
from actions.services import Services
from billing import load_backend
from billing.backend import BillingError, IdentityCheck, LineStatus, SuspendReason
from billing.demo import seed_demo_data
from billing.sql import SqlBillingBackend
from core.audit import audit_log
from handoff.errors import ConsoleError
from handoff.store import HandoffStore

LOST_DEMO_LINE = "13800000003"  # 李桂兰, 78, 挂失停机


async def lost_line(engine, balance_fen: int = 3500) -> str:
    return await make_subscriber(
        engine, balance_fen=balance_fen, status=LineStatus.SUSPENDED, reason=SuspendReason.REPORTED_LOST
    )


async def test_the_green_channel_backend_call_refuses_a_lost_line(seeded_engine) -> None:
    backend = SqlBillingBackend(seeded_engine)
    phone = await lost_line(seeded_engine)
    with pytest.raises(BillingError):
        await backend.reactivate_line(phone, actor="agent:wang")
    after = await backend.get_balance(phone)
    assert (after.status, after.suspend_reason) == (LineStatus.SUSPENDED, SuspendReason.REPORTED_LOST)
    assert await audit_rows(seeded_engine, phone) == []


async def test_a_supervisor_lifts_a_loss_only_with_a_recorded_identity_check(seeded_engine) -> None:
    backend = SqlBillingBackend(seeded_engine)
    phone = await lost_line(seeded_engine)
    for supervisor, reference in [("", "R1"), ("  ", "R1"), ("陈主管", ""), ("陈主管", "   ")]:
        with pytest.raises(BillingError):
            await backend.reactivate_lost_line(phone, supervisor, IdentityCheck.SHOP_ID, reference)
    assert (await backend.get_balance(phone)).status == LineStatus.SUSPENDED

    balance = await backend.reactivate_lost_line(phone, "陈主管", IdentityCheck.SHOP_ID, "YYT-2026-0042")

    assert (balance.status, balance.suspend_reason) == (LineStatus.ACTIVE, None)
    rows = await audit_rows(seeded_engine, phone)
    assert [(r.actor, r.action) for r in rows] == [("supervisor:陈主管", "reactivate_lost_line")]
    assert "shop_id" in rows[0].detail and "YYT-2026-0042" in rows[0].detail
    with pytest.raises(BillingError):  # nothing left to lift
        await backend.reactivate_lost_line(phone, "陈主管", IdentityCheck.SHOP_ID, "YYT-2026-0042")


async def test_the_supervisor_path_does_not_lift_other_suspensions(seeded_engine) -> None:
    backend = SqlBillingBackend(seeded_engine)
    for reason in (SuspendReason.VOLUNTARY, SuspendReason.REAL_NAME, SuspendReason.ARREARS):
        phone = await make_subscriber(seeded_engine, balance_fen=100, status=LineStatus.SUSPENDED, reason=reason)
        with pytest.raises(BillingError):
            await backend.reactivate_lost_line(phone, "陈主管", IdentityCheck.HOTLINE, "CALL-1")
        assert (await backend.get_balance(phone)).suspend_reason == reason


def test_cli_reactivate_lost_is_audited(seeded_engine, seeded_database_url, monkeypatch, capsys) -> None:
    import asyncio

    from bot.cli import main

    monkeypatch.setenv("DATABASE_URL", seeded_database_url)
    phone = asyncio.run(_lost_line_on_own_engine(seeded_database_url))
    with pytest.raises(SystemExit):  # --reference is required
        main(["line", "reactivate-lost", phone, "--supervisor", "陈主管", "--check", "hotline"])
    with pytest.raises(SystemExit):  # unknown check method
        main(["line", "reactivate-lost", phone, "--supervisor", "x", "--check", "wechat", "--reference", "R"])

    code = main(
        ["line", "reactivate-lost", phone, "--supervisor", "陈主管", "--check", "hotline", "--reference", "CALL-77"]
    )

    assert code == 0
    assert "active" in capsys.readouterr().out
    rows = asyncio.run(_audit_on_own_engine(seeded_database_url, phone))
    assert [(r.actor, r.action) for r in rows] == [("supervisor:陈主管", "reactivate_lost_line")]
    assert "hotline" in rows[0].detail and "CALL-77" in rows[0].detail


async def _lost_line_on_own_engine(url: str) -> str:
    from core.db import create_engine

    engine = create_engine(url)
    try:
        return await lost_line(engine)
    finally:
        await engine.dispose()


async def _audit_on_own_engine(url: str, phone: str) -> list:
    from core.db import create_engine

    engine = create_engine(url)
    try:
        return await audit_rows(engine, phone)
    finally:
        await engine.dispose()


async def test_the_console_green_channel_refuses_a_lost_line_with_an_explanation(
    seeded_engine,
    redis,
    clock,
) -> None:
    await seed_demo_data(seeded_engine, reset=True)
    await clean_handoff_tables(seeded_engine)
    store = HandoffStore(seeded_engine)
    service = build_service(seeded_engine, redis, clock)
    agent = await add_agent(store, "王芳", ("elder",))
    await online(service, agent)
    openid = new_openid()
    await bind(seeded_engine, openid, LOST_DEMO_LINE)
    await service.request_handoff(openid, "request_human", "elder", None)
    chat = await store.open_chat_for(openid)
    assert chat is not None
    await service.take(chat.id, agent)

    assert not (await service.profile_of(chat)).green_channel_allowed(65)
    with pytest.raises(ConsoleError, match="营业厅") as refused:
        await service.green_channel(chat.id, agent)

    assert "挂失" in str(refused.value) and len(str(refused.value)) < 80
    assert (await load_backend(seeded_engine).get_subscriber(LOST_DEMO_LINE)).status == LineStatus.SUSPENDED
    async with seeded_engine.connect() as conn:
        rows = (await conn.execute(select(audit_log).where(audit_log.c.chat_id == chat.id))).mappings().all()
    assert [(r["actor"], r["action"]) for r in rows if r["action"].startswith("green")] == [
        ("王芳", "green_channel_refused")
    ]


async def test_the_chat_sends_a_lost_line_to_a_shop_not_to_an_agent(services: Services, seeded_engine) -> None:
    await seed_demo_data(seeded_engine, reset=True)
    chat = Conversation(services)
    await chat.bind(LOST_DEMO_LINE)
    reply = await chat.say(ActionCheckBalance(), "查余额", "check_balance")
    assert "挂失" in reply
    assert "身份证" in reply and "营业厅" in reply
    assert "复机" in reply and "回复0" not in reply  # no agent can lift it from the chat
