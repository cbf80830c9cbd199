"""Redis connection: a real server when `REDIS_URL` is set, else an in-process stand-in.

The stand-in (fakeredis) keeps a newcomer's first run free of set-up, but it is private to
one process: run several gateway workers only with a real `REDIS_URL`.
"""

from __future__ import annotations

import logging
import os

import redis.asyncio as aioredis

log = logging.getLogger(__name__)


def redis_url() -> str | None:
    return os.environ.get("REDIS_URL", "").strip() or None


def as_text(value: object) -> str:
    """One Redis reply as text. Our clients decode responses (`decode_responses=True`), but
    redis-py's types (5+) also allow bytes, and lists or tuples for some commands."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, str):
        return value
    raise TypeError(f"expected a string reply from Redis, got {type(value).__name__}")


def create_redis(url: str | None = None) -> aioredis.Redis:
    url = url if url is not None else redis_url()
    if url:
        return aioredis.from_url(url, decode_responses=True)
    import fakeredis

    log.warning("REDIS_URL is not set: using an in-process Redis stand-in (single worker only)")
    return fakeredis.aioredis.FakeRedis(decode_responses=True)
