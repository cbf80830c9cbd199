"""A Redis lease lock shared by every gateway worker.

SET NX PX takes the lock; a Lua script releases or extends it only while it is still ours, in one
round trip (a drain takes and releases one per subscriber, so a WATCH/GET/MULTI transaction's
three round trips counted). The in-process Redis stand-in runs Lua too (fakeredis with lupa).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from types import TracebackType
from typing import Callable

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

_DELETE_IF_OURS = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_PEXPIRE_IF_OURS = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""


class LockTimeout(Exception):
    """The lock stayed taken for longer than the caller was willing to wait."""


class RedisLock:
    def __init__(self, redis: aioredis.Redis, name: str, ttl_s: float, poll_s: float = 0.05) -> None:
        self._redis = redis
        self.name = name
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self._poll_s = poll_s
        self._token = secrets.token_hex(16)
        self._wait_s: float | None = None
        # When our lease was last set (monotonic, taken before the command went out, so the lease
        # ends no sooner than this plus the TTL): `keep` extends it only once it has aged.
        self._leased_at: float | None = None

    def waiting(self, timeout_s: float | None) -> RedisLock:
        """Set how long `async with` waits for the lock (None: forever)."""
        self._wait_s = timeout_s
        return self

    async def acquire(self, timeout_s: float | None = None) -> bool:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            sent = time.monotonic()
            if await self._redis.set(self.name, self._token, nx=True, px=self._ttl_ms):
                self._leased_at = sent
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            await asyncio.sleep(self._poll_s)

    def tried_in_script(self) -> tuple[str, str, int]:
        """The key, token and lease (ms) for a script that tries the lock (SET key token NX PX lease)
        in a round trip with other commands; the lease counts from now."""
        self._leased_at = time.monotonic()
        return self.name, self._token, self._ttl_ms

    async def release(self) -> bool:
        return bool(await self._redis.eval(_DELETE_IF_OURS, 1, self.name, self._token))

    async def extend(self) -> bool:
        """Restart the lease; False when the lock was lost (expired and taken by someone else)."""
        sent = time.monotonic()
        extended = bool(await self._redis.eval(_PEXPIRE_IF_OURS, 1, self.name, self._token, self._ttl_ms))
        if extended:
            self._leased_at = sent
        return extended

    async def keep(self) -> bool:
        """Extend the lease once a third of it has passed, so that at least two thirds of it are
        left; False when the lock was lost. A drain keeps her lock across turns that take a few
        milliseconds each, and an extension per turn was a round trip per message."""
        if self._leased_at is not None and time.monotonic() - self._leased_at < self._ttl_ms / 3000:
            return True
        return await self.extend()

    async def __aenter__(self) -> RedisLock:
        if not await self.acquire(self._wait_s):
            raise LockTimeout(self.name)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.shield(self.release())


async def if_value_is(redis: aioredis.Redis, key: str, expected: str, command: Callable[[Pipeline], object]) -> bool:
    """Run `command` on a transaction pipeline only if `key` still holds `expected` (compare-and-set)."""
    async with redis.pipeline(transaction=True) as pipe:
        try:
            await pipe.watch(key)
            if await pipe.get(key) != expected:
                await pipe.unwatch()
                return False
            pipe.multi()
            command(pipe)
            await pipe.execute()
            return True
        except WatchError:
            return False
