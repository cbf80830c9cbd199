"""Database access for the handoff area: conversations with people and their queue, transcript
and surveys here; agents and their log-ins in `agents` (handoff/agent_store.py), call-back and
follow-up tasks in `tasks` (handoff/task_store.py); the audit log is core's (core/audit.py).

Every state change is one transaction with a condition on the current state (for example
"assign only while waiting"), so two gateway workers acting on the same chat cannot both win.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core import audit
from core.audit import audit_log
from core.conversations import OPEN_STATUS, OPEN_STATUSES, Routing, answerer_for, conversations, who_answers
from core.db import inserted_id, single_statements
from core.vocabulary import Answerer, ChatStatus
from handoff.agent_store import AgentStore
from handoff.models import (
    ho_messages,
    ho_queue_entries,
    ho_surveys,
)
from handoff.task_store import TaskStore


@dataclass(frozen=True)
class Chat:
    """A conversation with people: a row of the one conversation record (core/conversations.py)."""

    id: int
    openid: str
    status: str
    queue: str
    reason: str
    summary: str | None
    dialect: str | None
    is_elder: bool
    age: int | None
    phone: str | None
    agent_id: int | None
    created_at: dt.datetime
    assigned_at: dt.datetime | None
    first_agent_reply_at: dt.datetime | None
    callback_promised_at: dt.datetime | None
    closed_at: dt.datetime | None
    close_reason: str | None
    introduced_agent_id: int | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def answerer(self) -> Answerer:
        return ChatStatus(self.status).answerer


@dataclass(frozen=True)
class QueuedChat:
    chat: Chat
    entry_id: int
    enqueued_at: dt.datetime


@dataclass(frozen=True)
class Message:
    id: int
    chat_id: int
    sender: str
    msg_type: str
    text: str | None
    audio_id: int | None
    media_url: str | None
    agent_id: int | None
    delivery: str | None
    delivery_note: str | None
    outbox_id: int | None
    created_at: dt.datetime


@dataclass(frozen=True)
class Survey:
    id: int
    chat_id: int | None
    ticket_id: int | None
    openid: str
    queue: str
    is_elder: bool
    asked_at: dt.datetime
    delivered: bool
    closing_text: str | None
    score: int | None
    answered_at: dt.datetime | None


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: dt.datetime
    actor: str
    action: str
    openid: str | None
    phone: str | None
    chat_id: int | None
    detail: str | None


def _chat(row) -> Chat:
    return Chat(**{name: row[name] for name in Chat.__dataclass_fields__})


def _message(row) -> Message:
    return Message(**{name: row[name] for name in Message.__dataclass_fields__})


def _survey(row) -> Survey:
    return Survey(**{name: row[name] for name in Survey.__dataclass_fields__})


# Asked for every message: built once, so that its cache key is memoised.
_LATEST_SURVEY = (
    select(ho_surveys).where(ho_surveys.c.openid == bindparam("of_openid")).order_by(ho_surveys.c.id.desc()).limit(1)
)


# Who answers her and whether a survey asked after `asked_after` is unanswered: read with each
# message, by the inbox claim (`HandoffService.routing_columns`) or on its own (`routing`).
ROUTING_COLUMNS = (
    OPEN_STATUS.scalar_subquery().label("open_status"),
    exists()
    .where(
        ho_surveys.c.openid == bindparam("of_openid"),
        ho_surveys.c.answered_at.is_(None),
        ho_surveys.c.asked_at > bindparam("asked_after", type_=ho_surveys.c.asked_at.type),
    )
    .label("survey_open"),
)
_ROUTING = select(*ROUTING_COLUMNS)


def routing_of(row: Any) -> Routing:
    """The Routing a row with ROUTING_COLUMNS says."""
    return Routing(with_human=answerer_for(row.open_status) is not Answerer.BOT, survey_open=bool(row.survey_open))


class HandoffStore:
    def __init__(self, engine: AsyncEngine, tz: dt.tzinfo = dt.timezone.utc) -> None:
        self.engine = engine
        self.tz = tz  # ticket numbers carry the local date
        self.agents = AgentStore(engine)
        self.tasks = TaskStore(engine, tz)

    async def active_chat_counts(self) -> dict[int, int]:
        query = (
            select(conversations.c.agent_id, func.count())
            .where(conversations.c.status == ChatStatus.ASSIGNED.value)
            .group_by(conversations.c.agent_id)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {agent_id: count for agent_id, count in rows if agent_id is not None}

    # ---- chats and the queue ------------------------------------------------------------

    async def who_answers(self, openid: str) -> Answerer:
        return await who_answers(self.engine, openid)

    async def routing(self, openid: str, surveys_asked_after: dt.datetime) -> Routing:
        """Who answers her, and whether a survey asked after the given time is still unanswered."""
        async with single_statements(self.engine).connect() as conn:  # asked for every message
            row = (await conn.execute(_ROUTING, {"of_openid": openid, "asked_after": surveys_asked_after})).one()
        return routing_of(row)

    async def open_chat_for(self, openid: str) -> Chat | None:
        query = select(conversations).where(conversations.c.openid == openid, conversations.c.status.in_(OPEN_STATUSES))
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return _chat(row) if row else None

    async def chat(self, chat_id: int) -> Chat | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(conversations).where(conversations.c.id == chat_id))).mappings().first()
        return _chat(row) if row else None

    async def create_chat(self, values: dict, *, queued: bool, now: dt.datetime) -> Chat | None:
        """Insert a chat (and its queue entry when it waits) in one transaction.
        None when the subscriber already has an open chat (another worker was first)."""
        try:
            async with self.engine.begin() as conn:
                result = await conn.execute(insert(conversations).values(created_at=now, **values))
                chat_id = inserted_id(result)
                if queued:
                    await conn.execute(
                        insert(ho_queue_entries).values(
                            chat_id=chat_id, queue=values["queue"], dialect=values.get("dialect"), enqueued_at=now
                        )
                    )
        except IntegrityError:
            return None
        return await self.chat(chat_id)

    async def waiting(self) -> list[QueuedChat]:
        query = (
            select(conversations, ho_queue_entries.c.id.label("entry_id"), ho_queue_entries.c.enqueued_at)
            .select_from(ho_queue_entries.join(conversations, conversations.c.id == ho_queue_entries.c.chat_id))
            .where(ho_queue_entries.c.left_at.is_(None), conversations.c.status == ChatStatus.WAITING.value)
            .order_by(ho_queue_entries.c.enqueued_at, ho_queue_entries.c.id)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [QueuedChat(chat=_chat(row), entry_id=row["entry_id"], enqueued_at=row["enqueued_at"]) for row in rows]

    async def assign(self, chat_id: int, agent_id: int, now: dt.datetime, how: str) -> bool:
        """Waiting -> assigned to this agent. False when the chat was no longer waiting."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(conversations)
                .where(conversations.c.id == chat_id, conversations.c.status == ChatStatus.WAITING.value)
                .values(status=ChatStatus.ASSIGNED.value, agent_id=agent_id, assigned_at=now)
            )
            if result.rowcount != 1:
                return False
            await _leave_queue(conn, chat_id, now, how)
        return True

    async def transfer_to_agent(
        self, chat_id: int, from_agent_id: int | None, to_agent_id: int, now: dt.datetime
    ) -> bool:
        """An open chat goes to a named agent (out of the queue if it was waiting)."""
        condition = [conversations.c.id == chat_id, conversations.c.status.in_(OPEN_STATUSES)]
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(conversations)
                .where(*condition)
                .values(status=ChatStatus.ASSIGNED.value, agent_id=to_agent_id, assigned_at=now)
            )
            if result.rowcount != 1:
                return False
            await _leave_queue(conn, chat_id, now, "transferred")
        return True

    async def requeue(self, chat_id: int, queue: str, now: dt.datetime, enqueued_at: dt.datetime | None = None) -> bool:
        """An open chat goes (back) into a queue: at the end, or at `enqueued_at`."""
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    select(conversations.c.dialect).where(
                        conversations.c.id == chat_id, conversations.c.status.in_(OPEN_STATUSES)
                    )
                )
            ).first()
            if row is None:
                return False
            await conn.execute(
                update(conversations)
                .where(conversations.c.id == chat_id)
                .values(status=ChatStatus.WAITING.value, queue=queue, agent_id=None, assigned_at=None)
            )
            await _leave_queue(conn, chat_id, now, "transferred")
            await conn.execute(
                insert(ho_queue_entries).values(
                    chat_id=chat_id, queue=queue, dialect=row[0], enqueued_at=enqueued_at or now
                )
            )
        return True

    async def close(self, chat_id: int, reason: str, now: dt.datetime) -> Chat | None:
        """Open -> closed. None when it was already closed (someone else closed it)."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(conversations)
                .where(conversations.c.id == chat_id, conversations.c.status.in_(OPEN_STATUSES))
                .values(status=ChatStatus.CLOSED.value, closed_at=now, close_reason=reason)
            )
            if result.rowcount != 1:
                return None
            await _leave_queue(conn, chat_id, now, reason)
        return await self.chat(chat_id)

    async def claim_callback_promise(self, chat_id: int, now: dt.datetime) -> bool:
        """Only one worker may promise a call-back for a chat."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(conversations)
                .where(conversations.c.id == chat_id, conversations.c.callback_promised_at.is_(None))
                .values(callback_promised_at=now)
            )
        return result.rowcount == 1

    async def note_first_reply(self, chat_id: int, now: dt.datetime) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(conversations)
                .where(conversations.c.id == chat_id, conversations.c.first_agent_reply_at.is_(None))
                .values(first_agent_reply_at=now)
            )

    async def set_introduced(self, chat_id: int, agent_id: int | None) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(conversations).where(conversations.c.id == chat_id).values(introduced_agent_id=agent_id)
            )

    # ---- satisfaction surveys --------------------------------------------------------------

    async def create_survey(self, chat: Chat, now: dt.datetime) -> int | None:
        """One survey per chat; None when the chat already has one."""
        values = {
            "chat_id": chat.id,
            "openid": chat.openid,
            "queue": chat.queue,
            "is_elder": chat.is_elder,
            "asked_at": now,
            "delivered": True,
        }
        try:
            async with self.engine.begin() as conn:
                return inserted_id(await conn.execute(insert(ho_surveys).values(**values)))
        except IntegrityError:
            return None

    async def survey_undelivered(self, survey_id: int, closing_text: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(ho_surveys)
                .where(ho_surveys.c.id == survey_id)
                .values(delivered=False, closing_text=closing_text)
            )

    async def latest_survey(self, openid: str) -> Survey | None:
        async with single_statements(self.engine).connect() as conn:  # asked for every message
            row = (await conn.execute(_LATEST_SURVEY, {"of_openid": openid})).mappings().first()
        return _survey(row) if row else None

    async def take_owed_closing(self, survey_id: int) -> bool:
        """Mark an owed closing message as delivered; False when another worker took it."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(ho_surveys)
                .where(ho_surveys.c.id == survey_id, ho_surveys.c.delivered.is_(False))
                .values(delivered=True)
            )
        return result.rowcount == 1

    async def answer_survey(self, survey_id: int, score: int | None, now: dt.datetime) -> bool:
        """Store her answer (None: she wrote something else, the question lapsed)."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(ho_surveys)
                .where(ho_surveys.c.id == survey_id, ho_surveys.c.answered_at.is_(None))
                .values(score=score, answered_at=now)
            )
        return result.rowcount == 1

    async def surveys_since(self, since: dt.datetime) -> list[Survey]:
        query = select(ho_surveys).where(ho_surveys.c.asked_at >= since)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_survey(row) for row in rows]

    async def chats_of_agent(self, agent_id: int) -> list[Chat]:
        query = (
            select(conversations)
            .where(conversations.c.agent_id == agent_id, conversations.c.status == ChatStatus.ASSIGNED.value)
            .order_by(conversations.c.assigned_at)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_chat(row) for row in rows]

    async def assigned_chats(self) -> list[Chat]:
        query = (
            select(conversations)
            .where(conversations.c.status == ChatStatus.ASSIGNED.value)
            .order_by(conversations.c.assigned_at)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_chat(row) for row in rows]

    async def chats_of_openid(self, openid: str, limit: int = 20) -> list[Chat]:
        query = (
            select(conversations)
            .where(conversations.c.openid == openid)
            .order_by(conversations.c.id.desc())
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_chat(row) for row in rows]

    async def chats_since(self, since: dt.datetime) -> list[Chat]:
        async with self.engine.connect() as conn:
            rows = (
                (await conn.execute(select(conversations).where(conversations.c.created_at >= since))).mappings().all()
            )
        return [_chat(row) for row in rows]

    # ---- transcript ---------------------------------------------------------------------

    async def add_message(self, chat_id: int, sender: str, msg_type: str, now: dt.datetime, **fields: object) -> int:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                insert(ho_messages).values(chat_id=chat_id, sender=sender, msg_type=msg_type, created_at=now, **fields)
            )
        return inserted_id(result)

    async def add_messages(self, rows: list[dict]) -> None:
        if not rows:
            return
        async with self.engine.begin() as conn:
            await conn.execute(insert(ho_messages), rows)

    async def set_delivery(self, message_id: int, delivery: str, note: str | None, outbox_id: int | None) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(ho_messages)
                .where(ho_messages.c.id == message_id)
                .values(delivery=delivery, delivery_note=note, outbox_id=outbox_id)
            )

    async def transcript(self, chat_id: int) -> list[Message]:
        query = select(ho_messages).where(ho_messages.c.chat_id == chat_id).order_by(ho_messages.c.id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_message(row) for row in rows]

    async def chats_with_audio(self, audio_id: int) -> list[Chat]:
        """The chats whose transcript carries this stored voice note."""
        query = (
            select(conversations)
            .where(conversations.c.id.in_(select(ho_messages.c.chat_id).where(ho_messages.c.audio_id == audio_id)))
            .order_by(conversations.c.id)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_chat(row) for row in rows]

    async def last_subscriber_messages(self, chat_ids: list[int]) -> dict[int, Message]:
        """Each chat's latest message from the subscriber (the 我的会话 preview)."""
        if not chat_ids:
            return {}
        latest = (
            select(func.max(ho_messages.c.id))
            .where(ho_messages.c.chat_id.in_(chat_ids), ho_messages.c.sender == "subscriber")
            .group_by(ho_messages.c.chat_id)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(ho_messages).where(ho_messages.c.id.in_(latest)))).mappings().all()
        return {row["chat_id"]: _message(row) for row in rows}

    async def last_subscriber_message_at(
        self, chat_ids: list[int], sender: str = "subscriber"
    ) -> dict[int, dt.datetime]:
        """Each chat's latest message from `sender` (the subscriber, or the agent)."""
        if not chat_ids:
            return {}
        query = (
            select(ho_messages.c.chat_id, func.max(ho_messages.c.created_at))
            .where(ho_messages.c.chat_id.in_(chat_ids), ho_messages.c.sender == sender)
            .group_by(ho_messages.c.chat_id)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {chat_id: _aware(at) for chat_id, at in rows}

    # ---- audit --------------------------------------------------------------------------

    async def audit(
        self,
        actor: str,
        action: str,
        now: dt.datetime,
        *,
        openid: str | None = None,
        phone: str | None = None,
        chat_id: int | None = None,
        detail: str | None = None,
    ) -> None:
        async with self.engine.begin() as conn:
            await audit.record(conn, now, actor, action, openid=openid, phone=phone, chat_id=chat_id, detail=detail)

    async def audit_entries(self, limit: int = 50, action: str | None = None) -> list[AuditEntry]:
        query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if action:
            query = query.where(audit_log.c.action == action)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [AuditEntry(**{name: row[name] for name in AuditEntry.__dataclass_fields__}) for row in rows]


async def _leave_queue(conn: AsyncConnection, chat_id: int, now: dt.datetime, reason: str) -> None:
    await conn.execute(
        update(ho_queue_entries)
        .where(and_(ho_queue_entries.c.chat_id == chat_id, ho_queue_entries.c.left_at.is_(None)))
        .values(left_at=now, left_reason=reason)
    )


def _aware(moment: dt.datetime) -> dt.datetime:
    # aggregates bypass the column type, so SQLite hands back naive UTC
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)
