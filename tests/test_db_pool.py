"""The pool's disconnect handling (core/db.py) against a real PostgreSQL: a connection the server
dropped while it sat idle is replaced on checkout; one dropped the moment after it was used fails
its first statement once, and the pool then starts afresh."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from core import db
from core.db import create_engine


async def backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(text("SELECT pg_backend_pid()")))


async def terminate(killer: AsyncEngine, pid: int) -> None:
    async with killer.connect() as conn:
        assert await conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


@pytest.fixture
async def pooled(database_url: str) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    engine = create_engine(database_url)
    killer = create_engine(database_url)
    yield engine, killer
    await engine.dispose()
    await killer.dispose()


async def test_a_connection_dropped_while_idle_is_replaced_on_checkout(pooled, monkeypatch) -> None:
    engine, killer = pooled
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)  # every checkout counts as after idling
    dropped = await backend_pid(engine)
    await terminate(killer, dropped)
    assert await backend_pid(engine) != dropped  # no error reached the caller


async def test_a_connection_dropped_right_after_use_fails_once_then_the_pool_recovers(pooled, monkeypatch) -> None:
    engine, killer = pooled
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 3600.0)  # no checkout pings
    dropped = await backend_pid(engine)
    await terminate(killer, dropped)
    with pytest.raises(DBAPIError):
        await backend_pid(engine)
    assert await backend_pid(engine) != dropped
