"""The one audit log: who did what to which subscriber, line or chat (bindings, reactivations,
agents revealing a number, closing a chat, ...). Rows are only ever added."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, Text, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db import UtcDateTime

metadata = MetaData()

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(64), nullable=False),  # an agent's name, "subscriber", "system", the CLI user ...
    Column("action", String(48), nullable=False),
    Column("openid", String(64), nullable=True),
    Column("phone", String(20), nullable=True),
    Column("chat_id", Integer, nullable=True),  # the handoff chat it concerns, if any
    Column("detail", Text, nullable=True),
    Index("ix_audit_log_phone", "phone"),
    Index("ix_audit_log_openid", "openid"),
    Index("ix_audit_log_at", "at"),
)


async def record(
    conn: AsyncConnection,
    at: dt.datetime,
    actor: str,
    action: str,
    *,
    openid: str | None = None,
    phone: str | None = None,
    chat_id: int | None = None,
    detail: str | None = None,
) -> None:
    """Add one entry, inside the caller's transaction (the entry commits with what it records)."""
    await conn.execute(
        insert(audit_log).values(
            at=at, actor=actor, action=action, openid=openid, phone=phone, chat_id=chat_id, detail=detail
        )
    )
