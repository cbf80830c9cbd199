"""The customer-service message window: what WeChat allows us to send outside a passive reply.

Customer-service (API) messages are allowed for 48 hours after the subscriber's last interaction.
Each interaction allows a limited number of them (a message: 5; a menu click, a follow or a QR
scan: 3) and the count restarts with the next interaction. Counting here, atomically in the
database, lets the outbox refuse the message WeChat would drop (45015/45047) with a clear reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable

from sqlalchemy import CTE, Insert, bindparam, false, literal, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.db import upsert
from wechat.messages import InboundMessage
from wechat.store import cs_windows

WINDOW = dt.timedelta(hours=48)
MESSAGE_QUOTA = 5
EVENT_QUOTA = 3
# Events that are the subscriber's own action (the rest, e.g. periodic location reports, are not).
INTERACTION_EVENTS = frozenset({"subscribe", "click", "view", "scan"})


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class WindowClosed(Exception):
    """No customer-service message is allowed: 48 h passed since the last interaction, or never opened."""


class QuotaExhausted(Exception):
    """The messages allowed for the subscriber's last interaction are used up until they write again."""


@dataclass(frozen=True)
class WindowState:
    expires_at: dt.datetime | None
    remaining: int
    open: bool


def quota_for(message: InboundMessage) -> int | None:
    """How many API messages this inbound message allows (None: it does not open the window)."""
    if message.msg_type != "event":
        return MESSAGE_QUOTA
    if message.event in INTERACTION_EVENTS:
        return EVENT_QUOTA
    return None


def renewal_from(stored: CTE) -> Insert:
    """PostgreSQL: the window renewal for each row of `stored` (a CTE with an `openid` column), with
    `window_at` and `window_quota` as parameters (`CsWindow.renewal`), as a statement a caller can
    run in the same statement as the INSERT that stores the message: atomic without a transaction."""
    statement = postgresql.insert(cs_windows).from_select(
        ["openid", "last_interaction_at", "quota", "used", "closed"],
        select(
            stored.c.openid,
            bindparam("window_at", type_=cs_windows.c.last_interaction_at.type),
            bindparam("window_quota", type_=cs_windows.c.quota.type),
            literal(0),
            false(),
        ),
    )
    renewed = ("last_interaction_at", "quota", "used", "closed")
    return statement.on_conflict_do_update(
        index_elements=["openid"], set_={name: statement.excluded[name] for name in renewed}
    )


@dataclass(frozen=True)
class Renewal:
    """What an inbound message sets in its subscriber's window: the parameters of `renewal_from`."""

    at: dt.datetime
    quota: int

    def params(self) -> dict[str, Any]:
        return {"window_at": self.at, "window_quota": self.quota}


class CsWindow:
    def __init__(self, engine: AsyncEngine, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self._engine = engine
        self._clock = clock

    def renewal(self, message: InboundMessage) -> Renewal | None:
        """The renewal this message makes, when it only renews the window (as `record_interaction`
        would); None when it closes it (unsubscribe) or leaves it alone."""
        if message.msg_type == "event" and message.event == "unsubscribe":
            return None
        quota = quota_for(message)
        return None if quota is None else Renewal(self._clock(), quota)

    async def state(self, openid: str) -> WindowState:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(cs_windows).where(cs_windows.c.openid == openid))).first()
        return self._state_of(row)

    async def record_interaction(self, conn: AsyncConnection, message: InboundMessage) -> None:
        """Called in the transaction that stores an inbound message."""
        if message.msg_type == "event" and message.event == "unsubscribe":
            await conn.execute(update(cs_windows).where(cs_windows.c.openid == message.openid).values(closed=True))
            return
        renewal = self.renewal(message)
        if renewal is None:
            return
        values = {"last_interaction_at": renewal.at, "quota": renewal.quota, "used": 0, "closed": False}
        await upsert(conn, cs_windows, {"openid": message.openid}, values)

    async def take(self, conn: AsyncConnection, openid: str, *, keep: int = 0) -> None:
        """Use one message of the allowance, or raise WindowClosed / QuotaExhausted. `keep`: messages
        that must still be left afterwards (a voice reply keeps 1: the last one is never audio)."""
        now = self._clock()
        result = await conn.execute(
            update(cs_windows)
            .where(
                cs_windows.c.openid == openid,
                cs_windows.c.closed.is_(False),
                cs_windows.c.last_interaction_at > now - WINDOW,
                cs_windows.c.used + keep < cs_windows.c.quota,
            )
            .values(used=cs_windows.c.used + 1)
        )
        if result.rowcount == 1:
            return
        state = self._state_of((await conn.execute(select(cs_windows).where(cs_windows.c.openid == openid))).first())
        if not state.open:
            raise WindowClosed("客服消息窗口已关闭（用户最近一次互动超过48小时，或已取消关注）")
        raise QuotaExhausted("用户本次互动后可发送的客服消息已用完，需等用户再次发消息")

    def _state_of(self, row: Any) -> WindowState:
        if row is None:
            return WindowState(expires_at=None, remaining=0, open=False)
        expires_at = row.last_interaction_at + WINDOW
        is_open = not row.closed and self._clock() < expires_at
        remaining = max(0, row.quota - row.used) if is_open else 0
        return WindowState(expires_at=expires_at, remaining=remaining, open=is_open)
