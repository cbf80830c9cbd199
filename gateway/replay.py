"""One use per (timestamp, nonce): a push URL seen once cannot carry another message.

WeChat's signature covers the token, timestamp and nonce (and, in safe mode, the ciphertext),
so within the replay window an observed URL could be sent again. Each pair is recorded in Redis
with SET NX for as long as its timestamp can pass the window check, bound to the message it
carried: the same pair with the same message is WeChat's own retry (answered by the dedup as
before), the same pair with any other message is refused.
"""

from __future__ import annotations

import hashlib

import redis.asyncio as aioredis

from core.redis_store import as_text


class ReplayedPush(Exception):
    """This (timestamp, nonce) already carried another message."""


class NonceLedger:
    def __init__(self, redis: aioredis.Redis, window_s: int) -> None:
        self._redis = redis
        # A timestamp passes while |now - timestamp| <= window: up to 2 windows after first use.
        self._ttl_s = 2 * window_s + 60

    async def use(self, timestamp: str, nonce: str, msg_key: str) -> None:
        """Record the pair for `msg_key`; ReplayedPush when it was used for another message.
        RedisError propagates: without the ledger a push is not accepted (503, WeChat retries)."""
        pair = hashlib.sha256(f"{timestamp}\n{nonce}".encode()).hexdigest()
        key = f"gw:nonce:{pair}"
        if await self._redis.set(key, msg_key, nx=True, ex=self._ttl_s):
            return
        first = await self._redis.get(key)
        if first is not None and as_text(first) != msg_key:
            raise ReplayedPush("timestamp and nonce already used for another message")
