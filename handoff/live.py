"""Live state shared by every gateway worker through Redis: which consoles are open
(presence) and the pub/sub channel that tells consoles to refresh.

Nothing here must survive a restart: presence entries expire by themselves when a worker
dies, and consoles reconnect and re-announce themselves; queue and chats live in the database.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from core.redis_store import as_text

EVENTS_CHANNEL = "ho:events"
PRESENCE_KEY = "ho:presence"  # sorted set: "<agent_id>:<connection id>" scored by expiry (unix s)
PRESENCE_TTL_S = 45.0
# Log-in attempts are counted per source address and per (name, address), never per name alone:
# a name-only lock would let anyone lock every agent out by guessing at her name.
LOGIN_ADDRESS_KEY = "ho:login_fail:addr:{address}"
LOGIN_PAIR_KEY = "ho:login_fail:pair:{address}:{name}"  # the name as a digest: any text is a key
LOGIN_LOCK_S = 15 * 60
MAX_LOGIN_FAILURES = 5  # per name and address
MAX_LOGIN_FAILURES_PER_ADDRESS = 20
VIEW_KEY = "ho:viewed:{agent_id}:{chat_id}:{action}"
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

    async def reserve_login_attempt(self, name: str, address: str) -> bool:
        """Count an attempt before its password is checked, both counters in one transaction, so
        parallel guesses cannot all pass a check made before any of them is counted. False when
        the address or this name from this address has used up its attempts (for LOGIN_LOCK_S)."""
        pair, per_address = _login_keys(name, address)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(pair)
            pipe.expire(pair, LOGIN_LOCK_S)
            pipe.incr(per_address)
            pipe.expire(per_address, LOGIN_LOCK_S)
            pair_count, _, address_count, _ = await pipe.execute()
        return int(pair_count) <= MAX_LOGIN_FAILURES and int(address_count) <= MAX_LOGIN_FAILURES_PER_ADDRESS

    async def login_succeeded(self, name: str, address: str) -> None:
        """A right password: the name's count from this address restarts, and the attempt
        reserved for it is given back to the address (an office behind one address logs in daily)."""
        pair, per_address = _login_keys(name, address)
        await self.redis.delete(pair)
        if int(await self.redis.decr(per_address)) <= 0:
            await self.redis.delete(per_address)

    async def first_view(self, agent_id: int, chat_id: int, action: str, within_s: int) -> bool:
        """True once per agent, chat and kind of view within `within_s` (the audit of views that a
        console re-fetches on every live event stays readable)."""
        key = VIEW_KEY.format(agent_id=agent_id, chat_id=chat_id, action=action)
        return bool(await self.redis.set(key, "1", nx=True, ex=within_s))

    def dispatch_lock(self):
        # Serialises assignment across workers so no agent is given more than their capacity.
        # A short wait: a caller that cannot get it leaves the work to the holder or the next sweep.
        return self.redis.lock(DISPATCH_LOCK_KEY, timeout=10, blocking_timeout=3)


def _login_keys(name: str, address: str) -> tuple[str, str]:
    digest = hashlib.sha256(name.encode()).hexdigest()[:32]
    return LOGIN_PAIR_KEY.format(address=address, name=digest), LOGIN_ADDRESS_KEY.format(address=address)
