"""Call-back and follow-up tasks: the tickets of kind callback / follow_up that the console's
回电任务 page lists, with their outcomes (reached, solved in WeChat, no answer -> due again)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.tickets import insert_ticket, record_event
from core.vocabulary import TicketKind, TicketStatus
from handoff.models import ho_tasks

DONE_OUTCOMES = ("reached", "resolved_online", "closed_other")
TASK_KINDS = (TicketKind.CALLBACK.value, TicketKind.FOLLOW_UP.value)  # the 回电任务 page's tickets


@dataclass(frozen=True)
class Task:
    id: int
    number: str
    kind: str
    openid: str
    phone: str | None
    chat_id: int | None
    reason: str
    note: str | None
    is_elder: bool
    due_at: dt.datetime
    attempts: int
    created_at: dt.datetime
    created_by: str
    outcome: str | None
    outcome_note: str | None
    done_at: dt.datetime | None
    done_by: str | None

    @property
    def is_open(self) -> bool:
        return self.done_at is None


def _task(row) -> Task:
    values = {name: row[name] for name in Task.__dataclass_fields__}
    values["number"] = row["number"] or f"#{row['id']}"
    return Task(**values)


class TaskStore:
    def __init__(self, engine: AsyncEngine, tz: dt.tzinfo = dt.timezone.utc) -> None:
        self.engine = engine
        self.tz = tz  # ticket numbers carry the local date

    async def create_task(self, values: dict, now: dt.datetime) -> Task:
        """Idempotent per (chat, kind): a second request returns the task already there."""
        try:
            async with self.engine.begin() as conn:
                task_id = await insert_ticket(conn, values, now, self.tz, values["created_by"])
        except IntegrityError:
            async with self.engine.connect() as conn:
                row = (
                    (
                        await conn.execute(
                            select(ho_tasks).where(
                                ho_tasks.c.chat_id == values["chat_id"], ho_tasks.c.kind == values["kind"]
                            )
                        )
                    )
                    .mappings()
                    .first()
                )
            if row is None:
                raise
            return _task(row)
        task = await self.task(task_id)
        assert task is not None
        return task

    async def task(self, task_id: int) -> Task | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(ho_tasks).where(ho_tasks.c.id == task_id))).mappings().first()
        return _task(row) if row else None

    async def open_task_of(self, openid: str, kind: str) -> Task | None:
        query = (
            select(ho_tasks)
            .where(ho_tasks.c.openid == openid, ho_tasks.c.kind == kind, ho_tasks.c.done_at.is_(None))
            .order_by(ho_tasks.c.due_at)
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return _task(row) if row else None

    async def open_tasks(self) -> list[Task]:
        query = (
            select(ho_tasks)
            .where(ho_tasks.c.done_at.is_(None), ho_tasks.c.kind.in_(TASK_KINDS))
            .order_by(ho_tasks.c.due_at, ho_tasks.c.id)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_task(row) for row in rows]

    async def recent_done_tasks(self, limit: int = 20) -> list[Task]:
        query = (
            select(ho_tasks)
            .where(ho_tasks.c.done_at.is_not(None), ho_tasks.c.kind.in_(TASK_KINDS))
            .order_by(ho_tasks.c.done_at.desc())
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_task(row) for row in rows]

    async def tasks_of_chats(self, chat_ids: list[int]) -> list[Task]:
        if not chat_ids:
            return []
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(ho_tasks).where(ho_tasks.c.chat_id.in_(chat_ids)))).mappings().all()
        return [_task(row) for row in rows]

    async def tasks_of_openid(self, openid: str) -> list[Task]:
        query = select(ho_tasks).where(ho_tasks.c.openid == openid).order_by(ho_tasks.c.id.desc())
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_task(row) for row in rows]

    async def finish_task(self, task_id: int, outcome: str, note: str | None, actor: str, now: dt.datetime) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(ho_tasks)
                .where(ho_tasks.c.id == task_id, ho_tasks.c.done_at.is_(None))
                .values(
                    outcome=outcome,
                    outcome_note=note,
                    done_at=now,
                    done_by=actor,
                    status=TicketStatus.CLOSED.value,
                    attempts=ho_tasks.c.attempts + 1,
                )
            )
            if result.rowcount == 1:
                await record_event(conn, task_id, now, actor, "status", status=TicketStatus.CLOSED.value, text=note)
        return result.rowcount == 1

    async def retry_task_later(
        self, task_id: int, note: str | None, actor: str, due_at: dt.datetime, now: dt.datetime
    ) -> bool:
        """未接通: the task stays open, one more attempt counted, due again later."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(ho_tasks)
                .where(ho_tasks.c.id == task_id, ho_tasks.c.done_at.is_(None))
                .values(
                    attempts=ho_tasks.c.attempts + 1,
                    due_at=due_at,
                    outcome="no_answer",
                    outcome_note=note,
                    done_by=actor,
                    status=TicketStatus.IN_PROGRESS.value,
                )
            )
            if result.rowcount == 1:
                text = "未接通" + (f"：{note}" if note else "")
                await record_event(
                    conn, task_id, now, actor, "status", status=TicketStatus.IN_PROGRESS.value, text=text
                )
        return result.rowcount == 1

    async def tasks_due_since(self, kind: str, since: dt.datetime, until: dt.datetime) -> list[Task]:
        query = select(ho_tasks).where(ho_tasks.c.kind == kind, ho_tasks.c.due_at >= since, ho_tasks.c.due_at <= until)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_task(row) for row in rows]
