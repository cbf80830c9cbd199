"""The one conversation record: who answers a subscriber now.

A row of `conversations` is one conversation with people, as Chatwoot's `Conversation` is: it opens
when the assistant hands a subscriber over, and its status (`ChatStatus`) says who answers her:
waiting -> nobody yet (she is in a queue), assigned -> that agent, closed -> the assistant again.
A subscriber with no open row talks to the assistant. The gateway routes each message by this
record alone (`who_answers`); Rasa is never paused, so there is no second copy of "who answers"
to keep in step. The queue entries, the transcript, the surveys and the tickets point at it.

Shared like the tickets and the audit log: the handoff area drives it (handoff/store.py), and a
gateway running without handoff/ records a request for a person here too, as a call-back promise
(`record_callback_request`) that the console lists once it runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    insert,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import UtcDateTime, inserted_id, one_of, single_statements
from core.tickets import insert_ticket
from core.vocabulary import Answerer, ChatStatus, TicketCategory, TicketKind

# The handoff area defines its tables on this MetaData too (handoff/models.py), so that their
# foreign keys to `conversations` resolve.
metadata = MetaData()

OPEN_STATUSES = (ChatStatus.WAITING.value, ChatStatus.ASSIGNED.value)

conversations = Table(
    "conversations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("openid", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # ChatStatus
    Column("queue", String(16), nullable=False),  # Queue
    Column("reason", String(32), nullable=False),  # HandoffReason
    Column("summary", Text, nullable=True),
    Column("dialect", String(32), nullable=True),
    Column("is_elder", Boolean, nullable=False, default=False),
    Column("age", Integer, nullable=True),
    Column("phone", String(20), nullable=True),
    # points at ho_agents (a foreign key in the database; that table is the handoff area's)
    Column("agent_id", Integer, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("assigned_at", UtcDateTime, nullable=True),
    Column("first_agent_reply_at", UtcDateTime, nullable=True),
    Column("callback_promised_at", UtcDateTime, nullable=True),
    Column("closed_at", UtcDateTime, nullable=True),
    Column("close_reason", String(32), nullable=True),  # handed_back | closed | callback | unsubscribed
    # the agent the subscriber has been told about (「客服小王来了」), so the notice rides on that
    # agent's first message instead of spending one of WeChat's five replies on its own
    Column("introduced_agent_id", Integer, nullable=True),
    Index("ix_conversations_openid", "openid"),
    Index("ix_conversations_status", "status"),
    Index("ix_conversations_agent", "agent_id", "status"),
    # at most one open conversation per subscriber, even with several workers racing
    Index(
        "uq_conversations_open_openid",
        "openid",
        unique=True,
        postgresql_where=text("status IN ('waiting', 'assigned')"),
        sqlite_where=text("status IN ('waiting', 'assigned')"),
    ),
)


# Asked for every message: built once (its cache key is memoised), run without a transaction.
# Parameter: `of_openid`.
OPEN_STATUS = select(conversations.c.status).where(
    conversations.c.openid == bindparam("of_openid"), one_of(conversations.c.status, OPEN_STATUSES)
)


def answerer_for(open_status: str | None) -> Answerer:
    """Who answers, from the status of her open conversation (None: she has none)."""
    return ChatStatus(open_status).answerer if open_status is not None else Answerer.BOT


async def who_answers(engine: AsyncEngine, openid: str) -> Answerer:
    """Who answers this subscriber's next message: her open conversation's status, else the assistant."""
    async with single_statements(engine).connect() as conn:
        status = (await conn.execute(OPEN_STATUS, {"of_openid": openid})).scalar()
    return answerer_for(status)


@dataclass(frozen=True)
class Routing:
    """Where a subscriber's next message goes, read in one query for every message."""

    with_human: bool  # a queue or an agent answers her: the assistant stays silent
    survey_open: bool  # a satisfaction question may wait for her answer: the handoff sees her text first


@dataclass(frozen=True)
class RoutingColumns:
    """The routing read as columns of the inbox claim, which returns them with the message it leases,
    so that routing a message costs no round trip of its own. `columns`: labelled scalar subqueries
    over the claim's `of_openid` parameter; `params()`: their other parameters' values now;
    `read(row)`: the Routing a claimed row says."""

    columns: tuple[Any, ...]
    params: Callable[[], dict[str, Any]]
    read: Callable[[Any], Routing]


async def record_callback_request(
    engine: AsyncEngine,
    *,
    openid: str,
    reason: str,
    queue: str,
    summary: str | None,
    now: dt.datetime,
    tz: dt.tzinfo,
    promise: dt.timedelta,
    actor: str,
) -> int:
    """A request for a person that nobody can take now: a conversation that is already closed with
    a call-back promised (the assistant goes on answering) and the call-back ticket that tracks the
    promise, in one transaction. Returns the conversation's id."""
    async with engine.begin() as conn:
        chat_id = inserted_id(
            await conn.execute(
                insert(conversations).values(
                    openid=openid,
                    status=ChatStatus.CLOSED.value,
                    queue=queue,
                    reason=reason,
                    summary=summary,
                    is_elder=False,
                    created_at=now,
                    callback_promised_at=now,
                    closed_at=now,
                    close_reason="callback",
                )
            )
        )
        values = {
            "kind": TicketKind.CALLBACK.value,
            "category": TicketCategory.CALLBACK.value,
            "openid": openid,
            "chat_id": chat_id,
            "reason": reason,
            "note": summary,
            "queue": queue,
            "due_at": now + promise,
            "created_by": actor,
        }
        await insert_ticket(conn, values, now, tz, actor)
    return chat_id
