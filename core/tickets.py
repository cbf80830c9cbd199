"""Tickets: everything promised to a subscriber (a complaint, a fault report, a call-back, a
follow-up), one table for all, with a readable number, a due time and a status history.

Shared like the audit log: the action server opens complaints and fault reports from the chat,
the handoff area (console, call-backs) works on them. The table is the call-back table of the
first version (`ho_tasks`), renamed and extended by migration handoff_0004_tickets, which also
carried the billing area's `fault_tickets` rows over.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    select,
    update,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.db import UtcDateTime, inserted_id
from core.env import SettingsError
from core.vocabulary import TicketCategory, TicketKind, TicketStatus

metadata = MetaData()

# chat_id and agent_id point at conversations / ho_agents (foreign keys in the database, not declared
# here: those tables belong to the handoff area's metadata).
tickets = Table(
    "tickets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("number", String(20), nullable=True, unique=True),  # T20261204-0007, set right after insert
    Column("kind", String(16), nullable=False),  # TicketKind
    Column("category", String(16), nullable=False),  # TicketCategory
    Column("status", String(16), nullable=False),  # TicketStatus
    Column("openid", String(64), nullable=False),
    Column("phone", String(20), nullable=True),  # the number to reach the subscriber on
    Column("chat_id", Integer, nullable=True),  # the conversation it came from (the transcript)
    Column("reason", String(32), nullable=False),
    Column("note", Text, nullable=True),  # what the subscriber said
    Column("address", Text, nullable=True),  # where (typed, or a shared location's label)
    Column("attachments", Text, nullable=True),  # JSON list: locations and photos the subscriber sent
    Column("time_slot", String(32), nullable=True),  # when a technician may come
    Column("queue", String(16), nullable=False, default="general"),  # the owning desk
    Column("agent_id", Integer, nullable=True),  # the owning agent, when one took it
    Column("is_elder", Boolean, nullable=False, default=False),
    Column("due_at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("labels", Text, nullable=False, default=""),  # comma-separated
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("first_response_at", UtcDateTime, nullable=True),
    Column("escalated_at", UtcDateTime, nullable=True),
    Column("outcome", String(32), nullable=True),
    Column("outcome_note", Text, nullable=True),
    Column("resolution", Text, nullable=True),  # what the subscriber was told
    Column("done_at", UtcDateTime, nullable=True),
    Column("done_by", String(64), nullable=True),
    UniqueConstraint("chat_id", "kind", name="uq_ho_tasks_chat_kind"),
    Index("ix_ho_tasks_open", "done_at", "due_at"),
    Index("ix_ho_tasks_openid", "openid"),
    Index("ix_tickets_status", "status", "due_at"),
)

# Status changes, assignments, private notes, labels and messages to the subscriber: the history.
ticket_events = Table(
    "ticket_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # TicketEventKind
    Column("status", String(16), nullable=True),  # the status after a status change
    Column("text", Text, nullable=True),
    Index("ix_ticket_events_ticket", "ticket_id", "id"),
)

OPEN_STATUSES = (TicketStatus.OPEN.value, TicketStatus.IN_PROGRESS.value)

# The promise per category, in hours (TICKET_PROMISE_HOURS overrides any of them).
DEFAULT_PROMISE_HOURS: dict[TicketCategory, int] = {
    TicketCategory.BILLING: 24,
    TicketCategory.REFUND: 72,
    TicketCategory.SERVICE: 24,
    TicketCategory.NETWORK: 24,
    TicketCategory.BROADBAND: 24,
    TicketCategory.OTHER: 48,
    TicketCategory.CALLBACK: 24,
    TicketCategory.FOLLOW_UP: 24,
}


def promise_hours(env: Mapping[str, str] | None = None) -> dict[TicketCategory, int]:
    """TICKET_PROMISE_HOURS, e.g. "billing=24,refund=72": hours per category; others keep the default."""
    hours = dict(DEFAULT_PROMISE_HOURS)
    raw = (env if env is not None else os.environ).get("TICKET_PROMISE_HOURS", "").strip()
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, _, value = item.partition("=")
        try:
            category = TicketCategory(name.strip())
            number = int(value)
        except ValueError as exc:
            raise SettingsError(f"TICKET_PROMISE_HOURS: bad entry {item!r}") from exc
        if number <= 0:
            raise SettingsError(f"TICKET_PROMISE_HOURS: {name} must be positive")
        hours[category] = number
    return hours


@dataclass(frozen=True)
class Attachment:
    """A location or photo the subscriber sent about the ticket."""

    kind: str  # location | image
    label: str = ""
    latitude: str = ""
    longitude: str = ""
    url: str = ""

    def describe(self) -> str:
        if self.kind == "location":
            return f"位置：{self.label or ''}（{self.latitude},{self.longitude}）"
        return f"图片：{self.url}"


@dataclass(frozen=True)
class Ticket:
    id: int
    number: str
    kind: str
    category: str
    status: str
    openid: str
    phone: str | None
    chat_id: int | None
    reason: str
    note: str | None
    address: str | None
    time_slot: str | None
    queue: str
    agent_id: int | None
    is_elder: bool
    due_at: dt.datetime
    attempts: int
    labels: tuple[str, ...]
    created_at: dt.datetime
    created_by: str
    first_response_at: dt.datetime | None
    escalated_at: dt.datetime | None
    outcome: str | None
    outcome_note: str | None
    resolution: str | None
    done_at: dt.datetime | None
    done_by: str | None
    attachments: tuple[Attachment, ...] = field(default_factory=tuple)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def overdue(self, now: dt.datetime) -> bool:
        return self.is_open and self.due_at < now


@dataclass(frozen=True)
class NewTicket:
    """What a ticket starts with; `due_at` from the category's promise when not given."""

    kind: TicketKind
    category: TicketCategory
    openid: str
    phone: str | None
    reason: str
    note: str | None
    created_by: str
    queue: str = "general"
    is_elder: bool = False
    chat_id: int | None = None
    address: str | None = None
    time_slot: str | None = None
    attachments: tuple[Attachment, ...] = ()
    due_at: dt.datetime | None = None


def ticket_number(created_at: dt.datetime, ticket_id: int, tz: dt.tzinfo) -> str:
    return f"T{created_at.astimezone(tz):%Y%m%d}-{ticket_id:04d}"


def _attachments_json(attachments: tuple[Attachment, ...]) -> str | None:
    if not attachments:
        return None
    return json.dumps([a.__dict__ for a in attachments], ensure_ascii=False)


def _attachments(raw: str | None) -> tuple[Attachment, ...]:
    if not raw:
        return ()
    try:
        items = json.loads(raw)
    except ValueError:
        return ()
    return tuple(
        Attachment(**{k: str(v) for k, v in item.items() if k in Attachment.__dataclass_fields__}) for item in items
    )


def ticket_from_row(row: RowMapping) -> Ticket:
    values = {name: row[name] for name in Ticket.__dataclass_fields__ if name not in ("labels", "attachments")}
    values["labels"] = tuple(label for label in (row["labels"] or "").split(",") if label)
    values["attachments"] = _attachments(row["attachments"])
    values["number"] = row["number"] or f"#{row['id']}"
    return Ticket(**values)


async def insert_ticket(
    conn: AsyncConnection, values: dict[str, Any], now: dt.datetime, tz: dt.tzinfo, actor: str
) -> int:
    """Insert a ticket row (the caller's transaction), give it its number and record its creation."""
    values = {"status": TicketStatus.OPEN.value, "attempts": 0, "labels": "", **values}
    values.setdefault("category", values["kind"])
    ticket_id = inserted_id(await conn.execute(insert(tickets).values(created_at=now, **values)))
    await conn.execute(
        update(tickets).where(tickets.c.id == ticket_id).values(number=ticket_number(now, ticket_id, tz))
    )
    await record_event(conn, ticket_id, now, actor, "created", status=values["status"], text=values.get("note"))
    return ticket_id


async def record_event(
    conn: AsyncConnection,
    ticket_id: int,
    at: dt.datetime,
    actor: str,
    kind: str,
    *,
    status: str | None = None,
    text: str | None = None,
) -> None:
    await conn.execute(
        insert(ticket_events).values(ticket_id=ticket_id, at=at, actor=actor, kind=kind, status=status, text=text)
    )


async def open_ticket(
    engine: AsyncEngine, new: NewTicket, now: dt.datetime, tz: dt.tzinfo, hours: Mapping[TicketCategory, int]
) -> Ticket:
    """A complaint or fault report from the chat: recorded with its number and due time."""
    due = new.due_at or now + dt.timedelta(hours=hours[new.category])
    values = {
        "kind": new.kind.value,
        "category": new.category.value,
        "openid": new.openid,
        "phone": new.phone,
        "chat_id": new.chat_id,
        "reason": new.reason,
        "note": new.note,
        "address": new.address,
        "time_slot": new.time_slot,
        "attachments": _attachments_json(new.attachments),
        "queue": new.queue,
        "is_elder": new.is_elder,
        "due_at": due,
        "created_by": new.created_by,
    }
    async with engine.begin() as conn:
        ticket_id = await insert_ticket(conn, values, now, tz, new.created_by)
        row = (await conn.execute(select(tickets).where(tickets.c.id == ticket_id))).mappings().one()
    return ticket_from_row(row)


async def tickets_of(engine: AsyncEngine, openid: str, limit: int = 5) -> list[Ticket]:
    """The subscriber's tickets, newest first (call-backs and follow-ups too)."""
    query = select(tickets).where(tickets.c.openid == openid).order_by(tickets.c.id.desc()).limit(limit)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    return [ticket_from_row(row) for row in rows]


async def add_attachment(engine: AsyncEngine, ticket_id: int, attachment: Attachment, now: dt.datetime) -> None:
    """A location or photo the subscriber sent later, added to the ticket and its history."""
    async with engine.begin() as conn:
        raw = (await conn.execute(select(tickets.c.attachments).where(tickets.c.id == ticket_id))).scalar()
        found = _attachments(raw) + (attachment,)
        await conn.execute(
            update(tickets).where(tickets.c.id == ticket_id).values(attachments=_attachments_json(found))
        )
        await record_event(conn, ticket_id, now, "subscriber", "attachment", text=attachment.describe())
