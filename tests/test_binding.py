"""Account binding on real PostgreSQL: codes, wrong-code lock, rate limit, unbinding, isolation.

Every test uses fresh openids; the demo numbers are only read (is it one of ours?).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.binding import (
    BindingError,
    BindingService,
    LogSmsSender,
    StartOutcome,
    VerifyOutcome,
    load_sms_sender,
)
from billing.models import binding_states, bindings, sms_outbox
from core.audit import audit_log
from core.db import create_engine

ALICE_PHONE = "13800000001"
BOB_PHONE = "13800000002"


class FakeClock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


class RecordingSms:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send(self, phone: str, text: str) -> None:
        self.sent.append((phone, text))

    def last_code(self) -> str:
        match = re.search(r"验证码是(\d{6})", self.sent[-1][1])
        assert match, self.sent[-1]
        return match.group(1)


class BrokenSms:
    async def send(self, phone: str, text: str) -> None:
        raise ConnectionError("SMS gateway down")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sms() -> RecordingSms:
    return RecordingSms()


@pytest.fixture
def service(seeded_engine: AsyncEngine, sms: RecordingSms, clock: FakeClock) -> BindingService:
    return BindingService(seeded_engine, sms, clock=clock)


def new_openid() -> str:
    return f"o-test-{uuid.uuid4().hex[:16]}"


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


async def audit_for(engine: AsyncEngine, openid: str) -> list[tuple[str, str, str | None]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(audit_log).where(audit_log.c.openid == openid).order_by(audit_log.c.id))
        return [(row.actor, row.action, row.phone) for row in rows]


async def test_unknown_numbers_get_no_sms_and_invalid_ones_are_refused(
    service: BindingService, sms: RecordingSms
) -> None:
    openid = new_openid()
    assert (await service.start_binding(openid, "12345")).outcome == StartOutcome.INVALID_PHONE
    assert (await service.start_binding(openid, "13899999999")).outcome == StartOutcome.SENT  # said as for ours
    assert sms.sent == []
    assert (await service.verify_code(openid, "123456")).outcome == VerifyOutcome.WRONG
    assert await service.bound_phones(openid) == []


async def test_code_binds_the_number(
    service: BindingService, sms: RecordingSms, clock: FakeClock, seeded_engine: AsyncEngine
) -> None:
    openid = new_openid()
    started = await service.start_binding(openid, "+86 138 0000 0001")
    assert (started.outcome, started.phone) == (StartOutcome.SENT, ALICE_PHONE)
    assert started.expires_at == clock.now + dt.timedelta(minutes=5)
    assert sms.sent[-1][0] == ALICE_PHONE
    code = sms.last_code()
    async with seeded_engine.connect() as conn:
        state = (await conn.execute(select(binding_states).where(binding_states.c.openid == openid))).one()
    assert state.code_hash and code not in state.code_hash  # only a salted hash is stored
    assert await service.bound_phones(openid) == []  # nothing before the code is verified

    clock.advance(minutes=4)
    result = await service.verify_code(openid, code)
    assert (result.outcome, result.phone) == (VerifyOutcome.OK, ALICE_PHONE)
    assert await service.bound_phones(openid) == [ALICE_PHONE]
    assert await service.is_bound(openid, ALICE_PHONE)
    assert await audit_for(seeded_engine, openid) == [("subscriber", "bind", ALICE_PHONE)]
    # The code is used up.
    assert (await service.verify_code(openid, code)).outcome == VerifyOutcome.NOTHING_PENDING
    again = await service.start_binding(openid, ALICE_PHONE)
    assert again.outcome == StartOutcome.ALREADY_BOUND
    assert len(sms.sent) == 2 and "已绑定微信公众号" in sms.sent[-1][1]  # the code, then the notice


async def test_wrong_codes_count_down(service: BindingService, sms: RecordingSms) -> None:
    openid = new_openid()
    await service.start_binding(openid, ALICE_PHONE)
    code = sms.last_code()
    results = [await service.verify_code(openid, wrong(code)) for _ in range(3)]
    assert [(r.outcome, r.attempts_left) for r in results] == [
        (VerifyOutcome.WRONG, 4),
        (VerifyOutcome.WRONG, 3),
        (VerifyOutcome.WRONG, 2),
    ]
    # Malformed input cannot match a code, so it does not use up an attempt.
    assert (await service.verify_code(openid, "好的")).attempts_left == 2
    assert (await service.verify_code(openid, "12345")).attempts_left == 2
    # Full-width digits and spaces (voice transcripts) are understood.
    full_width = code.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    ok = await service.verify_code(openid, " ".join(full_width))
    assert ok.outcome == VerifyOutcome.OK
    assert await service.bound_phones(openid) == [ALICE_PHONE]


async def test_five_wrong_codes_lock_binding_for_fifteen_minutes(
    service: BindingService, sms: RecordingSms, clock: FakeClock, seeded_engine: AsyncEngine, database_url: str
) -> None:
    openid = new_openid()
    await service.start_binding(openid, ALICE_PHONE)
    code = sms.last_code()
    for _ in range(4):
        assert (await service.verify_code(openid, wrong(code))).outcome == VerifyOutcome.WRONG
    locked = await service.verify_code(openid, wrong(code))
    assert (locked.outcome, locked.attempts_left) == (VerifyOutcome.LOCKED, 0)
    assert locked.locked_until == clock.now + dt.timedelta(minutes=15)
    assert ("system", "binding_locked", ALICE_PHONE) in await audit_for(seeded_engine, openid)

    # The right code no longer helps, nor does asking for a new one, in this process or another.
    assert (await service.verify_code(openid, code)).outcome == VerifyOutcome.LOCKED
    assert (await service.start_binding(openid, ALICE_PHONE)).outcome == StartOutcome.LOCKED
    other_engine = create_engine(database_url)
    try:
        other_process = BindingService(other_engine, RecordingSms(), clock=clock)
        refused = await other_process.start_binding(openid, BOB_PHONE)
        assert (refused.outcome, refused.locked_until) == (StartOutcome.LOCKED, locked.locked_until)
    finally:
        await other_engine.dispose()
    assert await service.bound_phones(openid) == []

    clock.advance(minutes=14, seconds=59)
    assert (await service.verify_code(openid, code)).outcome == VerifyOutcome.LOCKED
    clock.advance(seconds=1)
    # The lock has expired; the old code was withdrawn when it locked.
    assert (await service.verify_code(openid, code)).outcome == VerifyOutcome.NOTHING_PENDING
    assert (await service.start_binding(openid, ALICE_PHONE)).outcome == StartOutcome.SENT
    # A fresh start gets the full five attempts again.
    assert (await service.verify_code(openid, wrong(sms.last_code()))).attempts_left == 4
    assert (await service.verify_code(openid, sms.last_code())).outcome == VerifyOutcome.OK


async def test_lock_is_per_openid(service: BindingService, sms: RecordingSms) -> None:
    victim, attacker = new_openid(), new_openid()
    await service.start_binding(attacker, BOB_PHONE)
    for _ in range(5):
        await service.verify_code(attacker, "000000" if sms.last_code() != "000000" else "111111")
    assert (await service.start_binding(attacker, BOB_PHONE)).outcome == StartOutcome.LOCKED
    assert (await service.start_binding(victim, BOB_PHONE)).outcome == StartOutcome.SENT


async def test_expired_code(service: BindingService, sms: RecordingSms, clock: FakeClock) -> None:
    openid = new_openid()
    await service.start_binding(openid, ALICE_PHONE)
    clock.advance(minutes=5)
    expired = await service.verify_code(openid, sms.last_code())
    assert (expired.outcome, expired.phone) == (VerifyOutcome.EXPIRED, ALICE_PHONE)
    assert (await service.verify_code(openid, sms.last_code())).outcome == VerifyOutcome.NOTHING_PENDING
    assert await service.bound_phones(openid) == []


async def test_nothing_pending(service: BindingService) -> None:
    assert (await service.verify_code(new_openid(), "123456")).outcome == VerifyOutcome.NOTHING_PENDING


async def test_one_code_per_minute(service: BindingService, sms: RecordingSms, clock: FakeClock) -> None:
    openid = new_openid()
    assert (await service.start_binding(openid, ALICE_PHONE)).outcome == StartOutcome.SENT
    first_code = sms.last_code()
    clock.advance(seconds=30)
    too_soon = await service.start_binding(openid, BOB_PHONE)  # another number does not help
    assert (too_soon.outcome, too_soon.retry_after_seconds) == (StartOutcome.TOO_SOON, 30)
    assert len(sms.sent) == 1
    clock.advance(seconds=30)
    assert (await service.start_binding(openid, ALICE_PHONE)).outcome == StartOutcome.SENT
    second_code = sms.last_code()
    if second_code != first_code:
        assert (await service.verify_code(openid, first_code)).outcome == VerifyOutcome.WRONG
    assert (await service.verify_code(openid, second_code)).outcome == VerifyOutcome.OK


async def test_concurrent_requests_send_one_code(service: BindingService, sms: RecordingSms) -> None:
    openid = new_openid()
    results = await asyncio.gather(*(service.start_binding(openid, ALICE_PHONE) for _ in range(5)))
    assert sorted(r.outcome.value for r in results) == ["sent"] + ["too_soon"] * 4
    assert len(sms.sent) == 1


async def test_failed_sms_is_withdrawn_and_can_be_retried_after_the_usual_wait(
    seeded_engine: AsyncEngine, clock: FakeClock, sms: RecordingSms
) -> None:
    openid = new_openid()
    broken = BindingService(seeded_engine, BrokenSms(), clock=clock)
    # answered as a sent code (a failure only for our numbers would tell which numbers are ours)
    assert (await broken.start_binding(openid, ALICE_PHONE)).outcome == StartOutcome.SENT
    await broken.settle()
    assert (await broken.verify_code(openid, "123456")).outcome == VerifyOutcome.NOTHING_PENDING
    working = BindingService(seeded_engine, sms, clock=clock)
    assert (await working.start_binding(openid, ALICE_PHONE)).outcome == StartOutcome.TOO_SOON
    clock.advance(seconds=61)
    assert (await working.start_binding(openid, ALICE_PHONE)).outcome == StartOutcome.SENT


async def test_unbind(service: BindingService, seeded_engine: AsyncEngine) -> None:
    openid = new_openid()
    assert await service.bind_directly(openid, ALICE_PHONE, actor="agent:zhao")
    assert await service.unbind(openid, ALICE_PHONE, actor=f"wechat:{openid}")
    assert await service.bound_phones(openid) == []
    assert not await service.unbind(openid, ALICE_PHONE, actor=f"wechat:{openid}")
    assert await audit_for(seeded_engine, openid) == [
        ("agent:zhao", "bind", ALICE_PHONE),
        (f"wechat:{openid}", "unbind", ALICE_PHONE),
    ]


async def test_openids_never_see_each_others_numbers(
    service: BindingService, sms: RecordingSms, clock: FakeClock
) -> None:
    alice, bob = new_openid(), new_openid()
    await service.start_binding(alice, ALICE_PHONE)
    alice_code = sms.last_code()
    await service.start_binding(bob, BOB_PHONE)
    bob_code = sms.last_code()
    # Alice cannot use Bob's code, even while she has her own pending.
    if bob_code != alice_code:
        assert (await service.verify_code(alice, bob_code)).outcome == VerifyOutcome.WRONG
    assert (await service.verify_code(bob, bob_code)).outcome == VerifyOutcome.OK
    assert await service.bound_phones(alice) == []
    assert (await service.verify_code(alice, alice_code)).outcome == VerifyOutcome.OK
    assert await service.bound_phones(alice) == [ALICE_PHONE]
    assert await service.bound_phones(bob) == [BOB_PHONE]
    assert not await service.is_bound(alice, BOB_PHONE)
    # Unbinding someone else's number does nothing.
    assert not await service.unbind(alice, BOB_PHONE, actor="x")
    assert await service.bound_phones(bob) == [BOB_PHONE]


async def test_bind_directly_by_staff(service: BindingService, clock: FakeClock, seeded_engine: AsyncEngine) -> None:
    openid = new_openid()
    assert await service.bind_directly(openid, ALICE_PHONE, actor="agent:zhao")
    assert not await service.bind_directly(openid, ALICE_PHONE, actor="agent:zhao")
    clock.advance(minutes=1)
    assert await service.bind_directly(openid, BOB_PHONE, actor="agent:qian")
    assert await service.bound_phones(openid) == [ALICE_PHONE, BOB_PHONE]  # her own line first
    with pytest.raises(BindingError):
        await service.bind_directly(openid, "13899999999", actor="agent:zhao")
    with pytest.raises(BindingError):
        await service.bind_directly(openid, "not a phone", actor="agent:zhao")
    with pytest.raises(BindingError):
        await service.bind_directly(openid, ALICE_PHONE, actor=" ")
    async with seeded_engine.connect() as conn:
        rows = (await conn.execute(select(bindings).where(bindings.c.openid == openid))).all()
    assert {(r.phone, r.bound_by) for r in rows} == {(ALICE_PHONE, "agent:zhao"), (BOB_PHONE, "agent:qian")}


async def test_log_sms_sender(seeded_engine: AsyncEngine, caplog: pytest.LogCaptureFixture) -> None:
    text = f"【营业厅】测试短信 {uuid.uuid4().hex}"
    with caplog.at_level(logging.INFO, logger="billing.binding"):
        await LogSmsSender(seeded_engine).send(ALICE_PHONE, text)
    assert "138****0001" in caplog.text and ALICE_PHONE not in caplog.text
    async with seeded_engine.connect() as conn:
        row = (await conn.execute(select(sms_outbox).where(sms_outbox.c.text == text))).one()
    assert row.phone == ALICE_PHONE and row.created_at.tzinfo is not None


async def test_load_sms_sender(seeded_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMS_SENDER", raising=False)
    assert isinstance(load_sms_sender(seeded_engine), LogSmsSender)
    monkeypatch.setenv("SMS_SENDER", "billing.binding")
    with pytest.raises(ValueError):
        load_sms_sender(seeded_engine)
