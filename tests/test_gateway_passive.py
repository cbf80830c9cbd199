"""The passive-reply slot: a webhook gets the reply its own process's drain offered at once, another
worker's by polling Redis, and `success` once its deadline has passed."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from gateway.processor import POLL_MAX_S, PassiveSlots


async def test_the_drain_of_the_same_process_wakes_the_webhook_with_its_reply(redis: aioredis.Redis) -> None:
    slots = PassiveSlots(redis)
    waiting = asyncio.create_task(slots.wait("passive-local", time.monotonic() + 5))
    await asyncio.sleep(0.05)

    assert await slots.offer_text("passive-local", "您的余额为 12.30 元")
    assert await asyncio.wait_for(waiting, 1) == "您的余额为 12.30 元"
    assert await slots.peek("passive-local") == "您的余额为 12.30 元"


async def test_another_workers_reply_is_found_by_polling(redis: aioredis.Redis) -> None:
    webhook, other_worker = PassiveSlots(redis), PassiveSlots(redis)
    waiting = asyncio.create_task(webhook.wait("passive-remote", time.monotonic() + 5))
    await asyncio.sleep(1.0)  # the polls have reached their longest interval

    assert await other_worker.offer_text("passive-remote", "好的")
    # found by a later poll (at most POLL_MAX_S apart); the bound is loose so a busy machine passes
    assert await asyncio.wait_for(waiting, 10 * POLL_MAX_S) == "好的"


async def test_at_the_deadline_the_webhook_answers_success_and_a_late_reply_is_refused(
    redis: aioredis.Redis,
) -> None:
    slots = PassiveSlots(redis)

    assert await slots.wait("passive-late", time.monotonic() + 0.3) is None
    assert not await slots.offer_text("passive-late", "太晚了")
    assert await slots.peek("passive-late") is None


async def test_while_a_drain_of_this_process_holds_her_lock_the_webhook_does_not_poll(redis: aioredis.Redis) -> None:
    # Only the lock holder answers her: this process's own drain wakes the webhook itself, so Redis
    # is not read for it; once the drain lets go, the webhook reads Redis again.
    webhook, other_worker = PassiveSlots(redis), PassiveSlots(redis)
    webhook.drain_holds("held-openid")
    waiting = asyncio.create_task(webhook.wait("passive-held", time.monotonic() + 5, openid="held-openid"))
    assert await other_worker.offer_text("passive-held", "好的")  # in Redis, where only a poll would see it

    done, _ = await asyncio.wait({waiting}, timeout=3 * POLL_MAX_S)
    assert not done  # no poll found it

    webhook.drain_ended("held-openid")
    assert await asyncio.wait_for(waiting, 1) == "好的"


async def test_an_offer_that_finds_the_slot_decided_sends_the_webhook_to_read_it(redis: aioredis.Redis) -> None:
    # A message taken up again after a worker died: the slot already holds the first attempt's
    # answer, this drain's offer is refused, and the webhook reads what the slot holds at once.
    webhook, earlier_worker = PassiveSlots(redis), PassiveSlots(redis)
    webhook.drain_holds("again-openid")
    waiting = asyncio.create_task(webhook.wait("passive-again", time.monotonic() + 5, openid="again-openid"))
    assert await earlier_worker.offer_text("passive-again", "第一次的回答")

    assert not await webhook.offer_text("passive-again", "第二次的回答")
    assert await asyncio.wait_for(waiting, 1) == "第一次的回答"
