"""The Redis lease lock (core/locks.py), on the real Redis and on the in-process stand-in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import fakeredis
import pytest
import redis.asyncio as aioredis

from core.locks import LockTimeout, RedisLock


@pytest.fixture(params=["redis", "stand-in"])
async def server(request, redis) -> AsyncIterator[aioredis.Redis]:
    if request.param == "redis":
        yield redis
        return
    stand_in = fakeredis.aioredis.FakeRedis(decode_responses=True)
    yield stand_in
    await stand_in.aclose()


async def test_a_lock_is_held_by_one_owner_until_released(server) -> None:
    first, second = RedisLock(server, "lock:a", ttl_s=5), RedisLock(server, "lock:a", ttl_s=5)
    assert await first.acquire(0)
    assert not await second.acquire(0.1)
    assert await first.release()
    assert await second.acquire(0)
    with pytest.raises(LockTimeout):
        async with RedisLock(server, "lock:a", ttl_s=5).waiting(0.1):
            pass


async def test_an_expired_owner_can_neither_release_nor_extend_the_next_owners_lock(server) -> None:
    expired, next_owner = RedisLock(server, "lock:b", ttl_s=0.1), RedisLock(server, "lock:b", ttl_s=5)
    assert await expired.acquire(0)
    await asyncio.sleep(0.2)
    assert await next_owner.acquire(0)
    assert not await expired.release()
    assert not await expired.extend()
    assert await server.pttl("lock:b") > 1000  # still the next owner's, with its own lease
    assert await next_owner.extend()
    assert await next_owner.release()
    assert await server.get("lock:b") is None


async def test_extend_restarts_the_lease(server) -> None:
    lock = RedisLock(server, "lock:c", ttl_s=0.3)
    assert await lock.acquire(0)
    await asyncio.sleep(0.2)
    assert await lock.extend()
    await asyncio.sleep(0.2)  # past the first lease, within the second
    assert not await RedisLock(server, "lock:c", ttl_s=1).acquire(0)


async def test_keep_extends_the_lease_only_once_a_third_of_it_has_passed(server) -> None:
    lock = RedisLock(server, "lock:d", ttl_s=0.6)
    assert await lock.acquire(0)
    await asyncio.sleep(0.05)
    assert await lock.keep()
    assert await server.pttl("lock:d") < 580  # young: left as it was, no round trip
    await asyncio.sleep(0.2)  # a third of the lease has passed
    assert await lock.keep()
    assert await server.pttl("lock:d") > 500  # extended to a whole lease again
    await asyncio.sleep(0.5)  # past the first lease, within the second
    assert not await RedisLock(server, "lock:d", ttl_s=1).acquire(0)
    await asyncio.sleep(0.5)  # the second lease ran out and another owner took it
    assert await RedisLock(server, "lock:d", ttl_s=5).acquire(0)
    assert not await lock.keep()  # lost: keep says so (the lease had aged, so it asked)
