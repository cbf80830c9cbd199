"""The analytics area's one table: facts from Rasa's event stream, one row per event message.

The primary key is the message body's digest, so a message redelivered by RabbitMQ (a consumer
died before its ack) is recorded once. The figures (analytics/figures.py) are computed from it.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, MetaData, String, Table, Text, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.facts import Fact, FactKind

metadata = MetaData()

analytics_facts = Table(
    "analytics_facts",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("sender_id", String(128), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("ts", Float, nullable=False),
    Column("detail", Text, nullable=True),
    Index("ix_analytics_facts_sender_ts", "sender_id", "ts"),
    Index("ix_analytics_facts_kind_ts", "kind", "ts"),
)


class AnalyticsStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def record(self, fact: Fact) -> bool:
        """Insert the fact; False when it was recorded before (a redelivery)."""
        async with self.engine.begin() as conn:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            statement = (
                dialect.insert(analytics_facts)
                .values(
                    digest=fact.digest, sender_id=fact.sender_id, kind=fact.kind.value, ts=fact.ts, detail=fact.detail
                )
                .on_conflict_do_nothing(index_elements=["digest"])
            )
            result = await conn.execute(statement)
            return bool(result.rowcount)

    async def last_user_text(self, sender_id: str, at_or_before: float) -> str | None:
        """The subscriber's latest message up to `at_or_before`: what the assistant did not understand."""
        query = (
            select(analytics_facts.c.detail)
            .where(
                analytics_facts.c.sender_id == sender_id,
                analytics_facts.c.kind == FactKind.USER.value,
                analytics_facts.c.ts <= at_or_before,
            )
            .order_by(analytics_facts.c.ts.desc())
            .limit(1)
        )
        async with self.engine.connect() as conn:
            return (await conn.execute(query)).scalar_one_or_none()
