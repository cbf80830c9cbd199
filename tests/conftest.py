"""Shared fixtures: a real PostgreSQL database and a real Redis, reset once per test run.

TEST_DATABASE_URL (default postgresql://127.0.0.1:5432/test) is emptied and migrated to every
branch head at the start of the session; TEST_REDIS_URL (default redis://127.0.0.1:6379/15) is
flushed before each test that uses it. Never point these at data you want to keep.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy import MetaData
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.ext.asyncio import AsyncEngine

from actions.db import create_engine, sync_url, upgrade_database

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = PROJECT_ROOT.parent / "shared"

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://127.0.0.1:5432/test")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _empty_database(url: str) -> None:
    engine = create_sync_engine(sync_url(url), future=True)
    try:
        existing = MetaData()
        existing.reflect(bind=engine)
        existing.drop_all(bind=engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def database_url() -> str:
    """URL of a freshly migrated test database (shared by the whole session)."""
    _empty_database(TEST_DATABASE_URL)
    upgrade_database(TEST_DATABASE_URL)
    return TEST_DATABASE_URL


@pytest.fixture(scope="session")
def seeded_database_url(database_url: str) -> str:
    """The test database with the demo plans and subscribers loaded (idempotent seed)."""
    import asyncio

    from actions.billing.demo import seed_demo_data

    async def _seed() -> None:
        engine = create_engine(database_url)
        try:
            await seed_demo_data(engine)
        finally:
            await engine.dispose()

    asyncio.run(_seed())
    return database_url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def seeded_engine(seeded_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(seeded_database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(TEST_REDIS_URL, decode_responses=True)
    await client.flushdb()
    yield client
    await client.aclose() if hasattr(client, "aclose") else await client.close()
