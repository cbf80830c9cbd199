"""Helpers for the handoff tests: a settable clock,
the service wired to the real PostgreSQL/Redis, the gateway's real Outbox and CsWindow, the
real billing backend and binding service."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import uuid
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import bcrypt
import redis.asyncio as aioredis
from gateway_fixtures import WAIT_S
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from billing import load_backend
from billing.binding import BindingService, load_sms_sender
from core.conversations import conversations
from core.tickets import ticket_events, tickets
from gateway.outbox import Outbox
from handoff import live as handoff_live
from handoff.agent_store import Agent
from handoff.config import HandoffSettings
from handoff.live import LiveState
from handoff.models import metadata as handoff_metadata
from handoff.profile import ProfileSource
from handoff.rasa_history import RasaHistory
from handoff.service import HandoffService
from handoff.store import HandoffStore
from handoff.ticket_store import TicketStore
from wechat.messages import InboundMessage
from wechat.window import CsWindow

SHANGHAI = ZoneInfo("Asia/Shanghai")
TEST_SECRET = "handoff-test-secret"
PASSWORD = "correct-horse-42"
# 梁秀兰 (13800000019, born 1956-12-24) is 70 on this day; the desk (08:00-20:00) is open.
ELDER_70 = "13800000019"
MORNING = dt.datetime(2027, 1, 5, 10, 0, tzinfo=SHANGHAI)
_counter = itertools.count(1)


class Clock:
    def __init__(self, start: dt.datetime) -> None:
        self.now = start.astimezone(dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def settings(**env: str) -> HandoffSettings:
    # the test client speaks plain HTTP: `Secure` cookies explicitly off, as for a local console
    return HandoffSettings.from_env({"AGENT_SESSION_SECRET": TEST_SECRET, "AGENT_COOKIE_SECURE": "0", **env})


def build_service(
    engine: AsyncEngine,
    redis: aioredis.Redis,
    clock: Clock,
    history: RasaHistory | None = None,
    voice_store: object | None = None,
    **env: str,
) -> HandoffService:
    config = settings(**env)
    billing = load_backend(engine)
    window = CsWindow(engine)
    return HandoffService(
        store=HandoffStore(engine),
        live=LiveState(redis),
        settings=config,
        profiles=ProfileSource(
            billing, BindingService(engine, load_sms_sender(engine), billing=billing), config.timezone, clock
        ),
        outbox=Outbox(engine, window),
        window=window,
        history=history,
        voice_store=voice_store,
        clock=clock,
    )


async def clean_handoff_tables(engine: AsyncEngine) -> None:
    """Empty the handoff area's tables (tickets included); the canned replies go back to the
    migration's six."""
    async with engine.begin() as conn:
        await conn.execute(delete(ticket_events))
        await conn.execute(delete(handoff_metadata.tables["ho_surveys"]))
        await conn.execute(delete(tickets))
        await conn.execute(delete(conversations))  # its foreign key to ho_agents is the database's only
        for table in reversed(handoff_metadata.sorted_tables):
            await conn.execute(delete(table))
    for queue in ("general", "elder"):
        await TicketStore(engine).replace_canned(queue, list(FIRST_CANNED), "test", dt.datetime.now(dt.timezone.utc))


# The first version's six canned replies, which migration handoff_0004_tickets put in the table.
FIRST_CANNED = (
    "您好，我是人工客服，请问有什么可以帮您？",
    "请稍等，我帮您查一下。",
    "您别着急，慢慢说，我一直在。",
    "我给您打个电话说，方便吗？",
    "您的问题已经处理好了。",
    "还有别的问题吗？没有的话我就把您转回智能助手了。",
)


def new_openid(label: str = "sub") -> str:
    return f"o_{label}_{next(_counter)}_{uuid.uuid4().hex[:8]}"


async def bind(engine: AsyncEngine, openid: str, phone: str) -> None:
    billing = load_backend(engine)
    await BindingService(engine, load_sms_sender(engine), billing=billing).bind_directly(openid, phone, "test")


async def add_agent(
    store: HandoffStore, name: str, skills: tuple[str, ...] = (), capacity: int = 3, role: str = "agent"
) -> Agent:
    # a cheap bcrypt cost keeps the suite fast; production hashes use the default cost
    password_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    return await store.agents.add_agent(name, password_hash, role, skills, capacity, dt.datetime.now(dt.timezone.utc))


def text_message(openid: str, content: str) -> InboundMessage:
    n = next(_counter)
    return InboundMessage(
        openid=openid, msg_key=f"{openid}:{n}", msg_type="text", create_time=1_700_000_000 + n, content=content
    )


async def record_inbound(engine: AsyncEngine, message: InboundMessage) -> None:
    """What the gateway does when it stores an inbound message: the 48-h window and quota restart."""
    async with engine.begin() as conn:
        await CsWindow(engine).record_interaction(conn, message)


async def wait_for_event_subscribers(redis: aioredis.Redis, count: int) -> None:
    """Until `count` clients listen on the console events channel: Redis drops what is published
    before a subscriber is there, so a test publishes only after this (no guessed sleep)."""
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while True:
        [(_, listening)] = await redis.pubsub_numsub(handoff_live.EVENTS_CHANNEL)
        if listening >= count:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{listening} of {count} subscribers on the events channel after {WAIT_S}s")
        await asyncio.sleep(0.02)


async def next_published(pubsub: aioredis.client.PubSub) -> dict:
    """The next message published on a subscribed channel (subscribe confirmations skipped)."""
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while asyncio.get_running_loop().time() < deadline:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
        if message is not None:
            return message
    raise AssertionError(f"nothing published within {WAIT_S}s")
