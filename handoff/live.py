"""Live state shared by every gateway worker through Redis: which consoles are open
(presence) and the pub/sub channel that tells consoles to refresh.

Nothing here must survive a restart: presence entries expire by themselves when a worker
dies, and consoles reconnect and re-announce themselves; queue and chats live in the database.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from core.redis_store import as_text

EVENTS_CHANNEL = "ho:events"
PRESENCE_KEY = "ho:presence"  # sorted set: "<agent_id>:<connection id>" scored by expiry (unix s)
PRESENCE_TTL_S = 45.0
LOGIN_FAILURES_KEY = "ho:login_fail:{name}"
LOGIN_LOCK_S = 15 * 60
MAX_LOGIN_FAILURES = 5
DISPATCH_LOCK_KEY = "ho:lock:dispatch"
OFFLINE_SINCE_KEY = "ho:offline_since:{agent_id}"


@dataclass(frozen=True)
class ConsoleEvent:
    """A hint for consoles to refresh; carries ids only, never message content."""

    kind: str  # queue | chat | message | tasks | agents
    chat_id: int | None = None
    agent_id: int | None = None

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "chat_id": self.chat_id, "agent_id": self.agent_id})


class LiveState:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def publish(self, *events: ConsoleEvent) -> None:
        for event in events:
            await self.redis.publish(EVENTS_CHANNEL, event.to_json())

    async def heartbeat(self, agent_id: int, connection_id: str, ttl_s: float = PRESENCE_TTL_S) -> None:
        await self.redis.zadd(PRESENCE_KEY, {f"{agent_id}:{connection_id}": time.time() + ttl_s})
        await self.redis.delete(OFFLINE_SINCE_KEY.format(agent_id=agent_id))

    async def offline_since(self, agent_id: int) -> float:
        """When we first noticed this agent offline (unix s); noting it now if not yet noted.
        Counting from the first sweep that notices (rather than from the last heartbeat) gives
        consoles time to reconnect after a Redis or gateway restart."""
        key = OFFLINE_SINCE_KEY.format(agent_id=agent_id)
        await self.redis.set(key, time.time(), nx=True, ex=24 * 3600)
        return float(await self.redis.get(key) or time.time())

    async def leave(self, agent_id: int, connection_id: str) -> None:
        await self.redis.zrem(PRESENCE_KEY, f"{agent_id}:{connection_id}")

    async def online_agent_ids(self) -> set[int]:
        now = time.time()
        await self.redis.zremrangebyscore(PRESENCE_KEY, "-inf", now)
        members = await self.redis.zrangebyscore(PRESENCE_KEY, now, "+inf")
        return {int(as_text(member).split(":", 1)[0]) for member in members}

    async def login_locked(self, name: str) -> bool:
        failures = await self.redis.get(LOGIN_FAILURES_KEY.format(name=name))
        return failures is not None and int(failures) >= MAX_LOGIN_FAILURES

    async def note_login_failure(self, name: str) -> None:
        key = LOGIN_FAILURES_KEY.format(name=name)
        await self.redis.incr(key)
        await self.redis.expire(key, LOGIN_LOCK_S)

    async def clear_login_failures(self, name: str) -> None:
        await self.redis.delete(LOGIN_FAILURES_KEY.format(name=name))

    def dispatch_lock(self):
        # Serialises assignment across workers so no agent is given more than their capacity.
        # A short wait: a caller that cannot get it leaves the work to the holder or the next sweep.
        return self.redis.lock(DISPATCH_LOCK_KEY, timeout=10, blocking_timeout=3)
