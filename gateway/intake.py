"""The gateway's façade for the webhook: accept a push, and give the passive reply it may carry.

The webhook (gateway/webhook.py) is a thin HTTP adapter over these two verbs; everything about
storage, dedup, per-subscriber order and the passive-reply slot stays behind them.
"""

from __future__ import annotations

import logging
from typing import Final, Literal

from redis.exceptions import RedisError

from core.locks import RedisLock
from core.metrics import Metrics
from core.redact import mask_msg_key, mask_openid
from gateway.inbox import Claimed, Inbox
from gateway.processor import Arrivals, Handover, PassiveSlots, Processor
from gateway.replay import PushNonce
from gateway.spool import Spool
from wechat.messages import InboundMessage

log = logging.getLogger(__name__)


class StorageUnavailable(Exception):
    """The push could not be stored, so it must not be acknowledged: WeChat will push it again."""


Accepted = Literal["new", "duplicate", "spooled"]
NEW: Final = "new"
DUPLICATE: Final = "duplicate"
SPOOLED: Final = "spooled"


class Intake:
    def __init__(
        self,
        arrivals: Arrivals,
        inbox: Inbox,
        processor: Processor,
        slots: PassiveSlots,
        metrics: Metrics,
        spool: Spool,
    ) -> None:
        self._arrivals = arrivals
        self._inbox = inbox
        self._processor = processor
        self._slots = slots
        self._metrics = metrics
        self._spool = spool

    async def accept(self, msg: InboundMessage, nonce: PushNonce | None = None) -> Accepted:
        """Store a push unless it was seen before.

        "new": its row is committed and its processing scheduled; "duplicate": stored before;
        "spooled": the database is down and the push waits, durable, in the spool (gateway/spool.py).
        StorageUnavailable when it could be kept nowhere (the webhook answers 503).
        `nonce`: the push's (timestamp, nonce), recorded with its arrival: ReplayedPush when it
        carried another message, StorageUnavailable when Redis cannot tell (gateway/replay.py).

        A push is marked seen in Redis only once its row (or spool entry) exists: a failure or a
        kill in between leaves WeChat's retry a first delivery. Concurrent deliveries of one push
        are told apart by the inbox's unique msg_key.
        """
        redis_up = True
        spooling = False
        stored = False
        seq: int | None = None
        row_id: int | None = None
        taken: Claimed | None = None
        alone = False
        handover: Handover | None = None
        try:
            arrival = await self._arrivals.arrive(msg.msg_key, msg.openid, nonce)
            if arrival is None:
                self._metrics.dedup_hits.inc()
                return DUPLICATE
            seq, spooling = arrival.seq, arrival.behind_spool  # keep behind what waits in the spool
            alone = arrival.alone
        except RedisError as exc:
            if nonce is not None:  # without the replay check a push is not accepted: WeChat retries
                raise StorageUnavailable(f"replay check: {type(exc).__name__}") from exc
            log.warning("Redis unavailable for dedup and ordering: relying on the database")
            redis_up = False
        try:
            if spooling:
                row_id = None
            elif alone and seq is not None:
                new = await self._inbox.take_new(msg, seq)
                row_id, taken = (new.id, new.taken) if new is not None else (None, None)
            else:
                row_id = await self._inbox.record(msg, seq)
            stored = not spooling
        except Exception as exc:  # asyncpg raises plain OSErrors, not only SQLAlchemyError
            if not redis_up:
                raise StorageUnavailable(f"database: {type(exc).__name__}") from exc
            log.warning("database unavailable (%s): spooling %s", type(exc).__name__, mask_msg_key(msg.msg_key))
        finally:
            if seq is not None:  # stored: marked seen, and her order lock tried, in the same round trip
                take = self._processor.order_lock(msg.openid) if row_id is not None else None
                handover = await self._end(msg.openid, msg.msg_key if stored else None, take)
        if not stored:
            try:
                await self._spool.add(msg, seq)
                await self._slots.offer_nothing(msg.msg_key)  # its answer will come through the API
                await self._arrivals.mark_seen(msg.msg_key)
            except RedisError as exc:
                raise StorageUnavailable(f"spool: {type(exc).__name__}") from exc
            return SPOOLED
        if seq is None:  # Redis was down at arrival: try to mark it now
            await self._mark_seen(msg.msg_key)
        if row_id is None:
            self._metrics.dedup_hits.inc()
            return DUPLICATE
        self._processor.schedule(msg.openid, handover, taken)
        return NEW

    async def store_spooled(self, msg: InboundMessage, seq: int | None) -> int | None:
        """The spool's replayer writes through here: the row, then the seen mark."""
        row_id = await self._inbox.record(msg, seq)
        await self._mark_seen(msg.msg_key)
        return row_id

    async def passive_reply(self, msg: InboundMessage, is_new: bool, deadline: float) -> str | None:
        """The text to answer in the HTTP response if it is ready by `deadline` (monotonic), else None."""
        try:
            if not is_new and await self._inbox.status(msg.msg_key) in ("done", "failed"):
                return await self._slots.peek(msg.msg_key)
            return await self._slots.wait(msg.msg_key, deadline, fresh=is_new, openid=msg.openid)
        except Exception:  # Redis or the database down: the answer goes through the API
            log.exception("passive reply unavailable for %s: answering success", mask_msg_key(msg.msg_key))
            return None

    async def _mark_seen(self, msg_key: str) -> None:
        try:
            await self._arrivals.mark_seen(msg_key)
        except RedisError:
            log.warning("could not mark %s seen: the inbox's unique key still dedups", mask_msg_key(msg_key))

    async def _end(self, openid: str, stored_key: str | None, take: RedisLock | None) -> Handover | None:
        try:
            return await self._arrivals.end(openid, stored_key, take)
        except RedisError:
            log.warning("could not end the in-flight mark of %s (it expires)", mask_openid(openid))
            if stored_key is not None:
                log.warning("could not mark %s seen: the inbox's unique key still dedups", mask_msg_key(stored_key))
            return None
