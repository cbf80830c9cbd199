"""Database access for tickets in the console: lists, search, history, notes, labels, owner,
resolution, escalation, canned replies and the ticket's satisfaction question.

Every change is one transaction with a condition on the current state (resolve only while
open), and writes its line of the ticket's history (core.tickets.ticket_events) with it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core import audit
from core.db import inserted_id
from core.tickets import OPEN_STATUSES, Ticket, record_event, ticket_events, ticket_from_row, tickets
from core.vocabulary import TicketStatus
from handoff.models import ho_canned_replies, ho_surveys

LIST_LIMIT = 100
MAX_LABELS = 8
MAX_LABEL_CHARS = 16


@dataclass(frozen=True)
class TicketEvent:
    id: int
    ticket_id: int
    at: dt.datetime
    actor: str
    kind: str  # created | status | assigned | note | label | message | attachment | escalated | survey
    status: str | None
    text: str | None


@dataclass(frozen=True)
class CannedReply:
    id: int
    queue: str
    position: int
    text: str


async def _audit(conn: AsyncConnection, ticket_id: int, now: dt.datetime, actor: str, action: str, text: str) -> None:
    """The one audit log (the supervisor's 操作记录) has the ticket verbs too."""
    query = select(tickets.c.number, tickets.c.openid, tickets.c.phone).where(tickets.c.id == ticket_id)
    row = (await conn.execute(query)).one()
    detail = f"{row.number}：{text}"[:500]
    await audit.record(conn, now, actor, action, openid=row.openid, phone=row.phone, detail=detail)


class TicketStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def ticket(self, ticket_id: int) -> Ticket | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(tickets).where(tickets.c.id == ticket_id))).mappings().first()
        return ticket_from_row(row) if row else None

    async def open_tickets(
        self,
        *,
        agent_id: int | None = None,
        queues: tuple[str, ...] | None = None,
        overdue_at: dt.datetime | None = None,
    ) -> list[Ticket]:
        """Open tickets, soonest due first: one agent's, a desk's (unowned ones of its queues), or overdue."""
        query = select(tickets).where(tickets.c.status.in_(OPEN_STATUSES))
        if agent_id is not None:
            query = query.where(tickets.c.agent_id == agent_id)
        if queues is not None:
            query = query.where(tickets.c.queue.in_(queues), tickets.c.agent_id.is_(None))
        if overdue_at is not None:
            query = query.where(tickets.c.due_at < overdue_at)
        query = query.order_by(tickets.c.due_at, tickets.c.id).limit(LIST_LIMIT)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [ticket_from_row(row) for row in rows]

    async def search(self, text: str) -> list[Ticket]:
        """By ticket number, phone number (or its digits) or words of what was said / labels."""
        pattern = f"%{text.strip()}%"
        query = (
            select(tickets)
            .where(
                or_(
                    tickets.c.number.ilike(pattern),
                    tickets.c.phone.like(pattern),
                    tickets.c.note.ilike(pattern),
                    tickets.c.labels.ilike(pattern),
                    tickets.c.resolution.ilike(pattern),
                    tickets.c.address.ilike(pattern),
                )
            )
            .order_by(tickets.c.id.desc())
            .limit(LIST_LIMIT)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [ticket_from_row(row) for row in rows]

    async def tickets_of_openid(self, openid: str, limit: int = 10) -> list[Ticket]:
        query = select(tickets).where(tickets.c.openid == openid).order_by(tickets.c.id.desc()).limit(limit)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [ticket_from_row(row) for row in rows]

    async def tickets_since(self, since: dt.datetime) -> list[Ticket]:
        """Tickets opened or finished since `since` (the reports)."""
        query = select(tickets).where(or_(tickets.c.created_at >= since, tickets.c.done_at >= since))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [ticket_from_row(row) for row in rows]

    async def events(self, ticket_id: int) -> list[TicketEvent]:
        query = select(ticket_events).where(ticket_events.c.ticket_id == ticket_id).order_by(ticket_events.c.id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [TicketEvent(**{name: row[name] for name in TicketEvent.__dataclass_fields__}) for row in rows]

    # ---- changes ------------------------------------------------------------------------------

    async def set_owner(self, ticket_id: int, agent_id: int, actor: str, text: str, now: dt.datetime) -> bool:
        """Take or assign: the owner changes while the ticket is open; an open ticket is now in progress."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(tickets)
                .where(tickets.c.id == ticket_id, tickets.c.status.in_(OPEN_STATUSES))
                .values(agent_id=agent_id, status=TicketStatus.IN_PROGRESS.value)
            )
            if result.rowcount != 1:
                return False
            await record_event(
                conn, ticket_id, now, actor, "assigned", status=TicketStatus.IN_PROGRESS.value, text=text
            )
            await _audit(conn, ticket_id, now, actor, "ticket_assign", text)
        return True

    async def add_note(self, ticket_id: int, actor: str, text: str, now: dt.datetime) -> None:
        async with self.engine.begin() as conn:
            await record_event(conn, ticket_id, now, actor, "note", text=text)

    async def set_labels(self, ticket_id: int, labels: tuple[str, ...], actor: str, now: dt.datetime) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(labels=",".join(labels)))
            await record_event(conn, ticket_id, now, actor, "label", text="、".join(labels) or "（无标签）")

    async def resolve(self, ticket_id: int, resolution: str, actor: str, now: dt.datetime) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(tickets)
                .where(tickets.c.id == ticket_id, tickets.c.status.in_(OPEN_STATUSES))
                .values(
                    status=TicketStatus.RESOLVED.value,
                    resolution=resolution,
                    outcome="resolved",
                    done_at=now,
                    done_by=actor,
                    first_response_at=func.coalesce(tickets.c.first_response_at, now),
                )
            )
            if result.rowcount != 1:
                return False
            await record_event(
                conn, ticket_id, now, actor, "status", status=TicketStatus.RESOLVED.value, text=resolution
            )
            await _audit(conn, ticket_id, now, actor, "ticket_resolve", resolution)
        return True

    async def record_message(self, ticket_id: int, actor: str, text: str, now: dt.datetime) -> None:
        """A message to the subscriber about the ticket (its delivery in the text); the first is the first response."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(tickets)
                .where(tickets.c.id == ticket_id, tickets.c.first_response_at.is_(None))
                .values(first_response_at=now)
            )
            await record_event(conn, ticket_id, now, actor, "message", text=text)

    async def escalate_overdue(self, now: dt.datetime) -> list[int]:
        """Open tickets past their due time, escalated once to the supervisor view."""
        async with self.engine.begin() as conn:
            ids = (
                (
                    await conn.execute(
                        select(tickets.c.id).where(
                            tickets.c.status.in_(OPEN_STATUSES),
                            tickets.c.due_at < now,
                            tickets.c.escalated_at.is_(None),
                        )
                    )
                )
                .scalars()
                .all()
            )
            for ticket_id in ids:
                result = await conn.execute(
                    update(tickets)
                    .where(tickets.c.id == ticket_id, tickets.c.escalated_at.is_(None))
                    .values(escalated_at=now)
                )
                if result.rowcount == 1:
                    await record_event(conn, ticket_id, now, "system", "escalated", text="超过承诺时间，已升级给班长")
        return list(ids)

    async def escalated(self) -> list[Ticket]:
        query = (
            select(tickets)
            .where(tickets.c.status.in_(OPEN_STATUSES), tickets.c.escalated_at.is_not(None))
            .order_by(tickets.c.due_at)
            .limit(LIST_LIMIT)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [ticket_from_row(row) for row in rows]

    # ---- the satisfaction question after a resolution ------------------------------------------

    async def create_survey(self, ticket: Ticket, now: dt.datetime) -> int:
        values = {
            "chat_id": None,
            "ticket_id": ticket.id,
            "openid": ticket.openid,
            "queue": ticket.queue,
            "is_elder": ticket.is_elder,
            "asked_at": now,
            "delivered": True,
        }
        async with self.engine.begin() as conn:
            survey_id = inserted_id(await conn.execute(insert(ho_surveys).values(**values)))
            await record_event(conn, ticket.id, now, "system", "survey", text="已请用户评价")
        return survey_id

    async def survey_scores(self, ticket_ids: list[int]) -> dict[int, int]:
        if not ticket_ids:
            return {}
        query = select(ho_surveys.c.ticket_id, ho_surveys.c.score).where(
            ho_surveys.c.ticket_id.in_(ticket_ids), ho_surveys.c.score.is_not(None)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {ticket_id: score for ticket_id, score in rows}

    # ---- canned replies per desk -------------------------------------------------------------

    async def canned(self, queue: str) -> list[CannedReply]:
        query = (
            select(ho_canned_replies)
            .where(ho_canned_replies.c.queue == queue)
            .order_by(ho_canned_replies.c.position, ho_canned_replies.c.id)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [CannedReply(**{name: row[name] for name in CannedReply.__dataclass_fields__}) for row in rows]

    async def replace_canned(self, queue: str, texts: list[str], actor: str, now: dt.datetime) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(ho_canned_replies.delete().where(ho_canned_replies.c.queue == queue))
            for position, text in enumerate(texts, start=1):
                await conn.execute(
                    insert(ho_canned_replies).values(
                        queue=queue, position=position, text=text, updated_at=now, updated_by=actor
                    )
                )
