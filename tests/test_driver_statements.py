"""core.driver_statements: a per-message statement run on the asyncpg driver behaves as SQLAlchemy's
execution of it would (types in and out, constraint errors), and a connection lost under it is not
handed out again."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import PoolSize, UtcDateTime, create_engine, single_statements
from core.driver_statements import DriverStatement

visits = Table(
    "driver_statement_visits",
    MetaData(),
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(16), nullable=False, unique=True),
    Column("at", UtcDateTime, nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),
)

_INSERT = insert(visits).values(name=bindparam("who"), at=bindparam("when")).returning(visits.c.id, visits.c.at)


@pytest.fixture
async def single(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    async with engine.begin() as conn:
        await conn.run_sync(visits.drop, checkfirst=True)
        await conn.run_sync(visits.create)
    yield single_statements(engine)
    async with engine.begin() as conn:
        await conn.run_sync(visits.drop)


async def test_values_go_in_and_come_out_through_the_column_types(single: AsyncEngine) -> None:
    at = dt.datetime(2026, 12, 6, 22, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    (row,) = await DriverStatement(_INSERT, single).fetch({"who": "li", "when": at})
    assert row.at == at and row.at.tzinfo == dt.timezone.utc  # UtcDateTime's processing, both ways
    async with single.connect() as conn:
        stored = (await conn.execute(select(visits).where(visits.c.id == row.id))).one()
    assert (stored.name, stored.at, stored.status) == ("li", at, "pending")


async def test_a_naive_datetime_is_refused_as_the_column_type_refuses_it(single: AsyncEngine) -> None:
    with pytest.raises(ValueError, match="naive"):
        await DriverStatement(_INSERT, single).fetch({"who": "li", "when": dt.datetime(2026, 12, 6)})


async def test_a_broken_constraint_is_sqlalchemys_integrity_error(single: AsyncEngine) -> None:
    statement = DriverStatement(_INSERT, single)
    now = dt.datetime.now(dt.timezone.utc)
    await statement.fetch({"who": "wang", "when": now})
    with pytest.raises(IntegrityError):
        await statement.fetch({"who": "wang", "when": now})
    # Nothing is left half done: the statement ran alone, and the connection still works.
    (again,) = await statement.fetch({"who": "zhao", "when": now})
    assert again.id > 0


async def test_a_statement_without_rows_returns_none_and_changes_what_it_says(single: AsyncEngine) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    (row,) = await DriverStatement(_INSERT, single).fetch({"who": "sun", "when": now})
    finish = update(visits).where(visits.c.id == bindparam("row_id")).values(status="done")
    assert await DriverStatement(finish, single).fetch({"row_id": row.id}) == []
    async with single.connect() as conn:
        assert await conn.scalar(select(visits.c.status).where(visits.c.id == row.id)) == "done"


async def test_a_connection_lost_under_a_statement_is_discarded(database_url: str) -> None:
    # One pooled connection: if the lost one went back to the pool, the next run would fail too.
    engine = create_engine(database_url, PoolSize(size=1, overflow=0))
    backend = DriverStatement(select(func.pg_backend_pid().label("pid")), single_statements(engine))
    try:
        (first,) = await backend.fetch({})
        async with engine.connect() as conn:  # the same connection, the pool's only one
            assert await conn.scalar(select(func.pg_backend_pid())) == first.pid
        killer = create_engine(database_url)
        async with killer.connect() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first.pid})
        await killer.dispose()
        with pytest.raises(Exception) as lost:
            await backend.fetch({})
        assert not isinstance(lost.value, IntegrityError)
        (second,) = await backend.fetch({})  # a new connection, not the dead one
        assert second.pid != first.pid
    finally:
        await engine.dispose()


async def test_only_asyncpg_engines_take_driver_statements(tmp_path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        with pytest.raises(ValueError, match="asyncpg"):
            DriverStatement(_INSERT, engine)
    finally:
        await engine.dispose()
