"""The pool's disconnect handling (core/db.py) against a real PostgreSQL: a connection the server
dropped while it sat idle is replaced on checkout; one dropped the moment after it was used fails
its first statement once, and the pool then starts afresh."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from actions import services
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


def test_a_process_sizes_its_pool_from_its_own_variables(monkeypatch) -> None:
    monkeypatch.setenv("DB_POOL_SIZE", "40")
    monkeypatch.setenv("DB_POOL_OVERFLOW", "0")
    monkeypatch.setenv("ACTIONS_DB_POOL_SIZE", "3")
    monkeypatch.delenv("ACTIONS_DB_POOL_OVERFLOW", raising=False)
    assert db.PoolSize.from_env("", 30, 20) == db.PoolSize(size=40, overflow=0)
    assert db.PoolSize.from_env("ACTIONS_", 8, 8) == db.PoolSize(size=3, overflow=8)
    monkeypatch.setenv("DB_POOL_SIZE", "0")
    with pytest.raises(ValueError, match="DB_POOL_SIZE"):
        db.PoolSize.from_env("", 30, 20)


async def test_the_action_server_keeps_a_small_pool_beside_the_gateways(database_url: str, monkeypatch) -> None:
    # Two action servers with the gateway's 30 + 20 took 49 of PostgreSQL's 100 connections under a
    # burst, and the gateway then met "too many connections".
    for name in ("DB_POOL_SIZE", "DB_POOL_OVERFLOW", "ACTIONS_DB_POOL_SIZE", "ACTIONS_DB_POOL_OVERFLOW"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    loop = asyncio.get_running_loop()
    monkeypatch.delitem(services._by_loop, loop, raising=False)
    engine = services.get_services().engine
    try:
        assert (engine.sync_engine.pool.size(), engine.sync_engine.pool._max_overflow) == (8, 8)  # type: ignore[attr-defined]
    finally:
        services._by_loop.pop(loop, None)
        await engine.dispose()
    gateway = create_engine(database_url)
    assert gateway.sync_engine.pool.size() == db.DEFAULT_POOL.size  # type: ignore[attr-defined]
    await gateway.dispose()


async def test_the_connection_used_last_is_used_next(pooled) -> None:
    # Last in, first out: a steady load keeps to a few warm connections, whose prepared statements
    # PostgreSQL plans once (after five runs per connection), and the rest sit idle; first in, first
    # out rotated a message's statements over all of them.
    engine, _ = pooled
    first, second, third = engine.connect(), engine.connect(), engine.connect()
    pids = []
    for conn in (first, second, third):
        await conn.start()
        pids.append(int(await conn.scalar(text("SELECT pg_backend_pid()"))))
    for conn in (first, second, third):  # the third goes back last
        await conn.close()
    assert len(set(pids)) == 3
    assert await backend_pid(engine) == pids[2]
    assert await backend_pid(engine) == pids[2]
