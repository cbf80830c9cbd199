"""The analytics consumer: reads Rasa's event stream from RabbitMQ into `analytics_facts`.

Rasa's pika broker publishes every tracker event to a fanout exchange (EVENT_BROKER_EXCHANGE) and
binds a durable queue (EVENT_BROKER_QUEUE) to it; this process declares the same two, so either
may start first. A message is acknowledged only after its fact is committed: a consumer that dies
in between gets it again, and the digest key records it once.

    csbot analytics consume
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import aio_pika
from aio_pika.abc import AbstractIncomingMessage
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.config import BrokerSettings
from analytics.facts import BadEvent, Fact, FactKind, fact_from_message
from analytics.store import AnalyticsStore

log = logging.getLogger(__name__)

PREFETCH = 1  # one at a time, in order: an "unrecognised" fact names the user message stored just before it
RETRY_DELAY_S = 1.0  # after a database error, before the message is taken up again


async def handle_body(store: AnalyticsStore, body: bytes) -> Fact | None:
    """Record what one event means; None when it means nothing for the figures."""
    fact = fact_from_message(body)
    if fact is None:
        return None
    if fact.kind is FactKind.UNRECOGNISED:
        fact = dataclasses.replace(fact, detail=await store.last_user_text(fact.sender_id, fact.ts))
    await store.record(fact)
    return fact


async def _on_message(store: AnalyticsStore, message: AbstractIncomingMessage) -> None:
    try:
        await handle_body(store, message.body)
    except BadEvent as exc:
        log.warning("analytics: dropped a message that is not a Rasa event (%s)", exc)
        await message.reject(requeue=False)
        return
    except Exception:
        log.exception("analytics: could not record an event; it will be delivered again")
        await asyncio.sleep(RETRY_DELAY_S)
        await message.nack(requeue=True)
        return
    await message.ack()


async def consume(settings: BrokerSettings, engine: AsyncEngine, stop: asyncio.Event) -> None:
    """Consume until `stop` is set. aio-pika's robust connection reconnects by itself."""
    store = AnalyticsStore(engine)
    connection = await aio_pika.connect_robust(settings.url)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=PREFETCH)
        # Declared exactly as Rasa's PikaEventBroker declares them (a mismatch is a channel error).
        exchange = await channel.declare_exchange(settings.exchange, aio_pika.ExchangeType.FANOUT)
        queue = await channel.declare_queue(settings.queue, durable=True)
        await queue.bind(exchange, "")
        tag = await queue.consume(lambda message: _on_message(store, message))
        print(f"analytics consumer reading queue {settings.queue!r} (exchange {settings.exchange!r})", flush=True)
        await stop.wait()
        await queue.cancel(tag)
