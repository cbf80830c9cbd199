"""The gateway's façade for the webhook: accept a push, and give the passive reply it may carry.

The webhook (gateway/webhook.py) is a thin HTTP adapter over these two verbs; everything about
storage, dedup, per-subscriber order and the passive-reply slot stays behind them.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from core.metrics import Metrics
from core.redact import mask_msg_key
from gateway.inbox import Inbox
from gateway.processor import Arrivals, PassiveSlots, Processor
from wechat.messages import InboundMessage

log = logging.getLogger(__name__)


class StorageUnavailable(Exception):
    """The push could not be stored, so it must not be acknowledged: WeChat will push it again."""


class Intake:
    def __init__(
        self, arrivals: Arrivals, inbox: Inbox, processor: Processor, slots: PassiveSlots, metrics: Metrics
    ) -> None:
        self._arrivals = arrivals
        self._inbox = inbox
        self._processor = processor
        self._slots = slots
        self._metrics = metrics

    async def accept(self, msg: InboundMessage) -> bool:
        """Store a push unless it was seen before; True for a new one (its processing is scheduled)."""
        try:
            return await self._store(msg)
        except (SQLAlchemyError, RedisError) as exc:
            raise StorageUnavailable(str(exc)) from exc

    async def passive_reply(self, msg_key: str, is_new: bool, deadline: float) -> str | None:
        """The text to answer in the HTTP response if it is ready by `deadline` (monotonic), else None."""
        try:
            if not is_new and await self._inbox.status(msg_key) in ("done", "failed"):
                return await self._slots.peek(msg_key)
            return await self._slots.wait(msg_key, deadline)
        except (RedisError, SQLAlchemyError):
            log.exception("passive reply unavailable for %s: answering success", mask_msg_key(msg_key))
            return None

    async def _store(self, msg: InboundMessage) -> bool:
        try:
            first = await self._arrivals.first_delivery(msg.msg_key)
            seq: int | None = await self._arrivals.begin(msg.openid) if first else None
        except RedisError:
            log.warning("Redis unavailable for dedup and ordering: relying on the database")
            first, seq = True, None
        try:
            row_id = await self._inbox.record(msg, seq) if first else None
        except SQLAlchemyError:
            await self._arrivals.forget(msg.msg_key)
            raise
        finally:
            if seq is not None:
                await self._arrivals.end(msg.openid)
        if row_id is not None:
            self._processor.schedule(msg.openid)
            return True
        self._metrics.dedup_hits.inc()
        return False
