"""Statements the gateway runs for every message are compiled once (SQLAlchemy's cache keeps them),
and `core.db.compiled_once` writes what the statement it replaces would write."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, bindparam, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.expression import Executable

from core.db import _upsert_statement, compiled_once, create_engine, one_of, upsert
from gateway.inbox import _CLAIM, _FINISH, _STORE_RENEWING
from gateway.outbox import _CLAIM_HEADS
from gateway.voice_replies import _MODE
from handoff.store import _ROUTING
from wechat.store import cs_windows, notice_consents

PER_MESSAGE = {
    "store and renew the window": _STORE_RENEWING,
    "claim": _CLAIM,
    "finish": _FINISH,
    "routing": _ROUTING,
    "voice preference (when not read with the claim)": _MODE,
    "window upsert (postgresql)": _upsert_statement(
        "postgresql", cs_windows, ("openid",), ("last_interaction_at", "quota", "used", "closed")
    ),
    "window upsert (sqlite)": _upsert_statement(
        "sqlite", cs_windows, ("openid",), ("last_interaction_at", "quota", "used", "closed")
    ),
}


@pytest.mark.parametrize("name", sorted(PER_MESSAGE))
def test_a_per_message_statement_has_a_cache_key(name: str) -> None:
    # Without one SQLAlchemy compiles the statement again on every run ("[no key]" in its echo):
    # the store statement alone cost the gateway 0.5-0.8 ms of CPU per message that way.
    statement: Executable = PER_MESSAGE[name]
    assert statement._generate_cache_key() is not None  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted({**PER_MESSAGE, "outbox claim": _CLAIM_HEADS}))
def test_a_per_message_statement_renders_no_in_list_per_run(name: str) -> None:
    # An `in_()` list is an expanding parameter, rendered again for every run ("post-compile").
    statement = {**PER_MESSAGE, "outbox claim": _CLAIM_HEADS}[name]
    compiled = statement.compile(dialect=postgresql.asyncpg.dialect())  # type: ignore[attr-defined]
    assert "POSTCOMPILE" not in compiled.string


def test_a_statement_with_a_default_computed_at_run_time_is_left_as_it_is() -> None:
    table = Table(
        "stamped",
        MetaData(),
        Column("key", String(8), primary_key=True),
        Column("at", DateTime(timezone=True), default=lambda: dt.datetime.now(dt.timezone.utc)),
    )
    statement = postgresql.insert(table).values(key="k").on_conflict_do_nothing()
    assert compiled_once(statement, "postgresql") is statement


scores = Table(
    "db_statements_scores",
    MetaData(),
    Column("name", String(16), primary_key=True),
    Column("points", Integer, nullable=False),
    Column("bonus", Integer, nullable=False, default=7),  # filled from its default on insert
)


@pytest.fixture(params=["postgresql", "sqlite"])
async def any_engine(request, engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    target = (
        engine if request.param == "postgresql" else create_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")
    )
    async with target.begin() as conn:
        await conn.run_sync(scores.drop, checkfirst=True)
        await conn.run_sync(scores.create)
    yield target
    async with target.begin() as conn:
        await conn.run_sync(scores.drop)
    if target is not engine:
        await target.dispose()


async def test_an_upsert_inserts_with_column_defaults_then_updates_only_its_values(any_engine: AsyncEngine) -> None:
    async with any_engine.begin() as conn:
        await upsert(conn, scores, {"name": "li"}, {"points": 1})
        await upsert(conn, scores, {"name": "wang"}, {"points": 5})
        await upsert(conn, scores, {"name": "li"}, {"points": 2})
    async with any_engine.connect() as conn:
        rows = (await conn.execute(select(scores).order_by(scores.c.name))).all()
    assert [tuple(row) for row in rows] == [("li", 2, 7), ("wang", 5, 7)]


async def test_a_consent_upsert_keeps_the_columns_it_does_not_set(any_engine: AsyncEngine) -> None:
    # notice_consents: "remaining" has a default the upsert of "long_term" alone must not reset.
    if any_engine.dialect.name == "sqlite":
        async with any_engine.begin() as conn:
            await conn.run_sync(notice_consents.create)
    key = {"openid": "consent-openid", "template_id": "tpl"}
    now = dt.datetime.now(dt.timezone.utc)
    async with any_engine.begin() as conn:
        await conn.execute(notice_consents.delete().where(notice_consents.c.openid == "consent-openid"))
        await upsert(conn, notice_consents, key, {"remaining": 1, "long_term": False, "updated_at": now})
        await upsert(conn, notice_consents, key, {"long_term": True, "updated_at": now})
    async with any_engine.connect() as conn:
        row = (await conn.execute(select(notice_consents).where(notice_consents.c.openid == "consent-openid"))).one()
    assert (row.remaining, row.long_term) == (1, True)


def test_a_statement_with_an_in_list_is_left_as_it_is() -> None:
    statement = select(cs_windows.c.openid).where(cs_windows.c.openid.in_(bindparam("openids", expanding=True)))
    assert compiled_once(statement, "postgresql") is statement


async def test_one_of_matches_exactly_its_values(any_engine: AsyncEngine) -> None:
    async with any_engine.begin() as conn:
        for name in ("li", "o'neil", "wang", "zhao"):
            await upsert(conn, scores, {"name": name}, {"points": 1})
    wanted = select(scores.c.name).where(one_of(scores.c.name, ("li", "o'neil", "nobody"))).order_by(scores.c.name)
    async with any_engine.connect() as conn:
        assert list((await conn.execute(wanted)).scalars()) == ["li", "o'neil"]
    assert "POSTCOMPILE" not in str(wanted.compile(dialect=postgresql.asyncpg.dialect()))
