"""A push's arrival round trips: its (timestamp, nonce) recorded with its arrival, her order lock
taken with its end and handed to the drain it schedules, and kept by that drain for the pushes she
sends before her answer."""

from __future__ import annotations

import asyncio
import secrets

import pytest
import redis.asyncio as aioredis
from gateway_fixtures import (
    clean_gateway_tables,
    eventually,
    fake_rasa,
    gateway,
    gateway_settings,
    http,
    openid,
    standin,
)
from redis.exceptions import ConnectionError as RedisConnectionError

from core.locks import RedisLock
from gateway.inbox import Claimed, Inbox
from gateway.processor import Arrivals, Handover
from gateway.replay import NonceLedger, ReplayedPush
from wechat.messages import InboundMessage


def key() -> str:
    return secrets.token_hex(8)


async def in_flight(redis: aioredis.Redis, openid: str) -> int:
    return int(await redis.get(f"gw:inflight:{openid}") or 0)


async def test_a_nonce_that_carried_another_message_is_refused_and_counts_nothing(redis: aioredis.Redis) -> None:
    arrivals, openid = Arrivals(redis), "o-" + key()
    nonce = NonceLedger(300).nonce_of("1700000000", key())
    first, other = "msg-" + key(), "msg-" + key()

    assert await arrivals.arrive(first, openid, nonce) is not None
    await arrivals.end(openid, first)
    with pytest.raises(ReplayedPush):
        await arrivals.arrive(other, openid, nonce)
    assert await in_flight(redis, openid) == 0  # a refused push leaves no one waiting for it
    # WeChat's own retry of the first push uses the same pair: a duplicate, not a replay.
    assert await arrivals.arrive(first, openid, nonce) is None
    assert await in_flight(redis, openid) == 0


async def test_the_arrival_and_its_end_work_after_redis_lost_their_scripts(redis: aioredis.Redis) -> None:
    # Each is a Lua script run by its digest; a restarted Redis has none, and they are loaded again.
    arrivals, openid, msg_key = Arrivals(redis), "o-" + key(), "msg-" + key()
    assert await arrivals.arrive("msg-" + key(), openid) is not None
    await arrivals.end(openid)
    await redis.script_flush()

    arrival = await arrivals.arrive(msg_key, openid)
    assert arrival is not None and arrival.alone
    handover = await arrivals.end(openid, msg_key, RedisLock(redis, f"gw:order:{openid}", ttl_s=30))
    assert handover is not None and handover.settled
    assert await redis.get(f"gw:seen:{msg_key}") == "1"
    assert await in_flight(redis, openid) == 0
    await handover.lock.release()


async def test_the_end_of_a_push_takes_her_free_order_lock_for_its_drain(gateway) -> None:
    runtime, openid = gateway.runtime, "o-" + key()
    processor, arrivals = runtime.processor, Arrivals(runtime.context.redis)
    earlier, later = "msg-" + key(), "msg-" + key()
    assert await arrivals.arrive(earlier, openid) is not None
    assert await arrivals.arrive(later, openid) is not None

    handover = await arrivals.end(openid, earlier, processor.order_lock(openid))
    assert handover is not None and not handover.settled  # the later push was still in flight
    # The lock is held now: the later push's end cannot take it.
    assert await arrivals.end(openid, later, processor.order_lock(openid)) is None
    assert not await processor.order_lock(openid).acquire(timeout_s=0)

    await handover.lock.release()
    assert await arrivals.arrive("msg-" + key(), openid) is not None
    alone = await arrivals.end(openid, None, processor.order_lock(openid))
    assert alone is not None and alone.settled  # nothing of hers in flight when it was taken
    await alone.lock.release()


async def test_a_drain_waiting_for_her_lock_takes_the_one_a_push_hands_over(gateway) -> None:
    # The lock was free for a moment, and a push's end took it for a drain: the drain already
    # waiting must take it from the handover, not wait for it to expire.
    processor, openid = gateway.runtime.processor, "o-" + key()
    other_worker = processor.order_lock(openid)
    assert await other_worker.acquire(timeout_s=0)
    waiting = asyncio.create_task(processor._take_order_lock(openid))
    await asyncio.sleep(0.2)
    assert not waiting.done()

    await other_worker.release()
    handed = processor.order_lock(openid)
    assert await handed.acquire(timeout_s=0)
    processor._handovers[openid] = Handover(handed, settled=True)

    lock, settled = await asyncio.wait_for(waiting, 2)
    assert lock is handed and settled
    assert await lock.release()  # it was held, by this token


async def test_a_drain_keeps_her_lock_for_a_push_she_sent_before_her_answer(
    gateway, fake_rasa, openid: str, monkeypatch
) -> None:
    # She writes again before her first answer: the drain that holds her lock answers that push
    # too, without letting go of the lock and taking it again.
    taken, released = [], []
    acquire, release = RedisLock.acquire, RedisLock.release

    async def counted_acquire(self: RedisLock, timeout_s: float | None = None) -> bool:
        taken.append(self.name)
        return await acquire(self, timeout_s)

    async def counted_release(self: RedisLock) -> bool:
        released.append(self.name)
        return await release(self)

    monkeypatch.setattr(RedisLock, "acquire", counted_acquire)
    monkeypatch.setattr(RedisLock, "release", counted_release)
    fake_rasa.delay_s = 0.4
    first = asyncio.create_task(gateway.aes.push(gateway.aes.text_fields(openid, "你好")))
    await asyncio.sleep(0.2)  # her first turn is under way, her drain holds the lock
    second = await gateway.aes.push(gateway.aes.text_fields(openid, "查余额"))

    assert (await first).reply == "收到：你好"
    assert second.reply == "收到：查余额"
    assert fake_rasa.turns_for(openid) == ["你好", "查余额"]
    await eventually(lambda: released)  # the drain writes her second row done after the answer
    order = f"gw:order:{openid}"
    assert order not in taken  # handed over by the first push's end, then kept
    assert released == [order]  # let go once, after both
    assert await gateway.runtime.context.redis.get(order) is None


async def test_a_push_with_nothing_of_hers_before_it_is_answered_without_a_claim(
    gateway, fake_rasa, openid: str, monkeypatch
) -> None:
    # Stored and leased in one statement (Inbox.take_new): her drain answers it at once.
    claims = []
    claim_next = Inbox.claim_next

    async def counted_claim(self: Inbox, of: str) -> Claimed | None:
        claimed = await claim_next(self, of)
        claims.append(claimed)
        return claimed

    monkeypatch.setattr(Inbox, "claim_next", counted_claim)
    first = await gateway.aes.push(gateway.aes.text_fields(openid, "你好"))
    assert first.reply == "收到：你好"
    await eventually(lambda: gateway.runtime.processor._drains.get(openid) is None)
    second = await gateway.aes.push(gateway.aes.text_fields(openid, "查余额"))
    assert second.reply == "收到：查余额"
    assert fake_rasa.turns_for(openid) == ["你好", "查余额"]
    assert claims == []  # neither needed a claim of its own


async def test_a_row_leased_for_a_drain_that_never_ran_is_given_back_at_shutdown(gateway, openid: str) -> None:
    runtime = gateway.runtime
    other_worker = runtime.processor.order_lock(openid)
    assert await other_worker.acquire(timeout_s=0)  # her drain here waits for the lock
    stored = await runtime.intake._inbox.take_new(text_message_from(openid), arrival_seq=1)
    assert stored is not None and stored.taken is not None
    runtime.processor.schedule(openid, taken=stored.taken)

    await runtime.processor.close(grace_s=0.2)

    assert await runtime.intake._inbox.status(f"{openid}:taken") == "pending"  # claimable at once
    await other_worker.release()


def text_message_from(openid: str) -> InboundMessage:
    return InboundMessage(openid=openid, msg_key=f"{openid}:taken", msg_type="text", create_time=1, content="你好")


async def test_without_redis_to_record_its_nonce_a_push_is_not_acknowledged(
    gateway, fake_rasa, openid: str, monkeypatch
) -> None:
    async def redis_down(*args, **kwargs):
        raise RedisConnectionError("Redis unavailable")

    monkeypatch.setattr(gateway.runtime.intake._arrivals, "arrive", redis_down)
    fields = gateway.aes.text_fields(openid, "查余额")
    assert (await gateway.aes.push(fields)).status == 503  # WeChat pushes it again
    assert fake_rasa.turns_for(openid) == []

    monkeypatch.undo()
    retry = await gateway.aes.push(fields)
    assert retry.status == 200 and retry.reply == "收到：查余额"
