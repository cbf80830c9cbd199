"""The subscriber's consent to subscription notices (订阅通知), per openid and template id.

WeChat sends a notice only with the subscriber's consent, given in its own popup (an article's
subscribe component or `wx-open-subscribe` on a web page). It pushes what she chose
(subscribe_msg_popup_event), and later refusals from her settings (subscribe_msg_change_event);
both are recorded here in the transaction that stores the push, so each counts once. A one-time
consent allows one notice: `take` spends it when the notice is queued, `give_back` returns it
when WeChat refused the notice for another reason (it spends consent only on delivery).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.db import upsert
from wechat.messages import InboundMessage
from wechat.store import notice_consents
from wechat.window import utcnow


@dataclass(frozen=True)
class ConsentState:
    template_id: str
    remaining: int
    long_term: bool


class NoticeConsents:
    def __init__(self, engine: AsyncEngine, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self._engine = engine
        self._clock = clock

    async def record(self, conn: AsyncConnection, message: InboundMessage, long_term_templates: frozenset[str]) -> None:
        """Apply a consent event (called in the transaction that stores the push; others are ignored).

        An acceptance adds one notice for a one-time template and allows notices for a long-term
        one (`long_term_templates`); a rejection withdraws whatever was allowed.
        """
        for decision in message.consents:
            key = {"openid": message.openid, "template_id": decision.template_id}
            now = self._clock()
            if not decision.accepted:
                await upsert(conn, notice_consents, key, {"remaining": 0, "long_term": False, "updated_at": now})
                continue
            if decision.template_id in long_term_templates:
                await upsert(conn, notice_consents, key, {"long_term": True, "updated_at": now})
                continue
            found = await conn.execute(
                update(notice_consents)
                .where(notice_consents.c.openid == message.openid,
                       notice_consents.c.template_id == decision.template_id)
                .values(remaining=notice_consents.c.remaining + 1, updated_at=now)
            )  # fmt: skip
            if found.rowcount == 0:
                await upsert(conn, notice_consents, key, {"remaining": 1, "long_term": False, "updated_at": now})

    async def take(self, conn: AsyncConnection, openid: str, template_id: str) -> bool:
        """Whether a notice may be sent: True for a long-term consent, or one one-time consent spent."""
        table = notice_consents
        mine = and_(table.c.openid == openid, table.c.template_id == template_id)
        if await conn.scalar(select(table.c.long_term).where(mine)):
            return True
        spent = await conn.execute(
            update(table).where(mine, table.c.remaining > 0).values(remaining=table.c.remaining - 1,
                                                                    updated_at=self._clock())
        )  # fmt: skip
        return spent.rowcount == 1

    async def give_back(self, conn: AsyncConnection, openid: str, template_id: str) -> None:
        """Return a one-time consent `take` spent on a notice that WeChat did not deliver."""
        table = notice_consents
        await conn.execute(
            update(table)
            .where(table.c.openid == openid, table.c.template_id == template_id, table.c.long_term.is_(False))
            .values(remaining=table.c.remaining + 1, updated_at=self._clock())
        )

    async def withdraw(self, conn: AsyncConnection, openid: str, template_id: str) -> None:
        """WeChat says she has no consent (43101): forget what we thought she allowed."""
        await conn.execute(
            update(notice_consents)
            .where(notice_consents.c.openid == openid, notice_consents.c.template_id == template_id)
            .values(remaining=0, long_term=False, updated_at=self._clock())
        )

    async def states(self, openid: str) -> list[ConsentState]:
        table = notice_consents
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(table).where(table.c.openid == openid, or_(table.c.remaining > 0, table.c.long_term))
            )
            return [ConsentState(row.template_id, row.remaining, row.long_term) for row in rows]
