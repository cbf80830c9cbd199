"""The spool: pushes accepted while the database is down, kept in a Redis stream in arrival order.

WeChat retries a push three times within about 15 seconds and then drops it, so answering 503
for the length of a database outage would lose messages. Instead a push the database refuses is
appended to the stream `gw:spool` (with its arrival number), acknowledged, and written to the
inbox by the replayer, oldest first, once the database answers again. While the spool holds
anything, new pushes queue behind it there, so a subscriber's order survives the outage.
Durability is Redis's: run it with persistence (`appendonly yes`) in production.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Awaitable, Callable

import redis.asyncio as aioredis

from core.locks import RedisLock
from core.redis_store import as_text
from wechat.messages import InboundMessage

log = logging.getLogger(__name__)

STREAM = "gw:spool"
REPLAY_LOCK = "gw:spool:replay"
BATCH = 100

# Writes one spooled push to the inbox; None when it is stored already. Raises while the database is down.
Record = Callable[[InboundMessage, "int | None"], Awaitable["int | None"]]


class Spool:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    async def add(self, message: InboundMessage, arrival_seq: int | None) -> None:
        entry = json.dumps({"message": message.to_dict(), "seq": arrival_seq}, ensure_ascii=False)
        await self._redis.xadd(STREAM, {"push": entry})

    async def size(self) -> int:
        return int(await self._redis.xlen(STREAM))

    async def replay(self, record: Record, on_stored: Callable[[str], None]) -> int:
        """Write spooled pushes to the inbox in order, one worker at a time; the number written.

        An entry leaves the stream only after its row is committed (or found already there), so a
        worker killed mid-replay loses nothing: the next replay writes it (or finds it) again.
        Stops at the first database error, leaving the rest for the next round.
        """
        lock = RedisLock(self._redis, REPLAY_LOCK, ttl_s=60)
        if not await lock.acquire(timeout_s=0):
            return 0
        written = 0
        try:
            while True:
                entries = await self._redis.xrange(STREAM, count=BATCH)
                if not entries:
                    return written
                for entry_id, fields in entries:
                    if entry_id is None:
                        continue
                    data = json.loads(as_text((fields or {}).get("push")))
                    message = InboundMessage.from_dict(data["message"])
                    if await record(message, data.get("seq")) is not None:
                        written += 1
                    await self._redis.xdel(STREAM, entry_id)
                    on_stored(message.openid)
                await lock.extend()
        finally:
            await lock.release()

    async def run(self, record: Record, on_stored: Callable[[str], None], poll_s: float) -> None:
        """Replay whenever the spool holds something (the retry worker's companion)."""
        while True:
            try:
                if await self.size():
                    written = await self.replay(record, on_stored)
                    if written:
                        log.info("replayed %d spooled pushes into the inbox", written)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database or Redis still down: try again next round
                log.warning("spool replay postponed: %s", type(exc).__name__)
            await asyncio.sleep(poll_s)
