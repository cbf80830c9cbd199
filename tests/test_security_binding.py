"""Issue 9, item 5: binding budgets per number, the number told of a new binding, and unknown
numbers answered exactly like ours (real PostgreSQL)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re
import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from test_actions import Conversation, services

from actions.binding_flow import ActionBindPhone
from actions.services import Services
from billing.binding import (
    MAX_CODES_PER_PHONE,
    MAX_WRONG_CODES_PER_PHONE,
    BindingService,
    StartOutcome,
    VerifyOutcome,
)

OURS = "13800000001"
OTHER_OF_OURS = "13800000002"
NOT_OURS = "13899999999"


class FakeClock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


class RecordingSms:
    def __init__(self, delay_s: float = 0.0) -> None:
        self.sent: list[tuple[str, str]] = []
        self.delay_s = delay_s

    async def send(self, phone: str, text: str) -> None:
        await asyncio.sleep(self.delay_s)
        self.sent.append((phone, text))

    def codes_to(self, phone: str) -> list[str]:
        return [m.group(1) for p, t in self.sent if p == phone and (m := re.search(r"验证码是(\d{6})", t))]


def new_openid() -> str:
    return f"o-sec-{uuid.uuid4().hex[:16]}"


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sms() -> RecordingSms:
    return RecordingSms()


@pytest.fixture
def service(seeded_engine: AsyncEngine, sms: RecordingSms, clock: FakeClock) -> BindingService:
    return BindingService(seeded_engine, sms, clock=clock, reply_floor_s=0.05)


async def test_a_number_gets_a_limited_number_of_codes_whichever_openids_ask(
    service: BindingService, sms: RecordingSms
) -> None:
    results = [await service.start_binding(new_openid(), OURS) for _ in range(MAX_CODES_PER_PHONE + 1)]
    assert [r.outcome for r in results[:-1]] == [StartOutcome.SENT] * MAX_CODES_PER_PHONE
    assert results[-1].outcome == StartOutcome.PHONE_LIMITED and results[-1].retry_after_seconds
    assert len(sms.codes_to(OURS)) == MAX_CODES_PER_PHONE
    # another number is not affected
    assert (await service.start_binding(new_openid(), OTHER_OF_OURS)).outcome == StartOutcome.SENT


async def test_the_send_budget_is_counted_for_unknown_numbers_too(service: BindingService) -> None:
    results = [await service.start_binding(new_openid(), NOT_OURS) for _ in range(MAX_CODES_PER_PHONE + 1)]
    assert results[-1].outcome == StartOutcome.PHONE_LIMITED


async def test_wrong_codes_from_many_openids_lock_the_number(
    service: BindingService, sms: RecordingSms, clock: FakeClock
) -> None:
    """Four openids guessing four times each stay under their own limit of five, but not under the number's."""
    guessers = [new_openid() for _ in range(4)]
    for openid in guessers:
        assert (await service.start_binding(openid, OURS)).outcome == StartOutcome.SENT
    outcomes = []
    for openid in guessers:
        right = sms.codes_to(OURS)[guessers.index(openid)]
        for _ in range(4):
            outcomes.append((await service.verify_code(openid, wrong(right))).outcome)
    assert outcomes[MAX_WRONG_CODES_PER_PHONE - 1] == VerifyOutcome.LOCKED
    # the number is locked for everyone, even with the right code and a fresh openid
    late = new_openid()
    clock.advance(minutes=2)
    assert (await service.start_binding(late, OURS)).outcome == StartOutcome.LOCKED
    last = guessers[-1]
    assert (await service.verify_code(last, sms.codes_to(OURS)[-1])).outcome in (
        VerifyOutcome.LOCKED,
        VerifyOutcome.NOTHING_PENDING,
    )
    assert await service.bound_phones(last) == []


async def test_the_number_is_told_by_sms_when_it_is_bound(service: BindingService, sms: RecordingSms) -> None:
    openid = new_openid()
    await service.start_binding(openid, OURS)
    (code,) = sms.codes_to(OURS)
    assert (await service.verify_code(openid, code)).outcome == VerifyOutcome.OK
    phone, text = sms.sent[-1]
    assert phone == OURS and "已绑定微信公众号" in text and "解除绑定" in text
    assert OURS not in text  # the text itself names the number masked only

    assert await service.bind_directly(new_openid(), OTHER_OF_OURS, actor="agent:zhao")
    assert sms.sent[-1][0] == OTHER_OF_OURS and "已绑定微信公众号" in sms.sent[-1][1]


async def test_unknown_and_known_numbers_get_the_same_answer(service: BindingService, clock: FakeClock) -> None:
    ours = await service.start_binding(new_openid(), OURS)
    not_ours = await service.start_binding(new_openid(), NOT_OURS)
    assert dataclasses.replace(ours, phone=None) == dataclasses.replace(not_ours, phone=None)
    assert ours.outcome == StartOutcome.SENT


async def test_unknown_and_known_numbers_take_the_same_time(seeded_engine: AsyncEngine) -> None:
    """The answer waits a fixed floor whether an SMS is sent or not; a slow SMS goes on afterwards."""
    slow = RecordingSms(delay_s=3.0)
    service = BindingService(seeded_engine, slow, reply_floor_s=0.4)
    loop = asyncio.get_running_loop()

    async def timed(phone: str) -> float:
        started = loop.time()
        assert (await service.start_binding(new_openid(), phone)).outcome == StartOutcome.SENT
        return loop.time() - started

    not_ours = await timed(NOT_OURS)
    ours = await timed(OURS)
    assert 0.4 <= not_ours < 2.0 and 0.4 <= ours < 2.0
    assert slow.sent == []  # the code is still on its way when the answer is given
    await service.settle()
    assert len(slow.codes_to(OURS)) == 1


async def test_the_subscriber_reads_the_same_reply_for_an_unknown_number(services: Services) -> None:
    ours = await Conversation(services).say(ActionBindPhone(), f"绑定{OURS}", "bind_phone")
    not_ours = await Conversation(services).say(ActionBindPhone(), f"绑定{NOT_OURS}", "bind_phone")
    assert "验证码已发送" in ours
    assert ours.replace("138****0001", "NUMBER") == not_ours.replace("138****9999", "NUMBER")
