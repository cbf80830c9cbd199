"""Shared fixtures: a real PostgreSQL database and a real Redis of this run's own.

The run creates its own database on TEST_DATABASE_URL's server (default
postgresql://127.0.0.1:5432/test), migrated to every branch head, and takes a free Redis database
(or TEST_REDIS_URL when set), flushed before each test that uses it: see tests/run_isolation.py.
Never point TEST_REDIS_URL at data you want to keep.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from run_isolation import claim_redis_database, create_run_database, drop_run_database, release_redis_database
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import create_engine, sync_url, upgrade_database

# tests/rasa/ imports Rasa in-process: it runs in .venv-rasa with its own pytest.ini (see `make test`).
collect_ignore = ["rasa"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = PROJECT_ROOT.parent / "shared"

# Rasa processes started by the tests inherit this: no telemetry or error reports leave the machine.
os.environ["RASA_TELEMETRY_ENABLED"] = "false"

TEST_DATABASE_URL = create_run_database()
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL") or claim_redis_database()
os.environ["TEST_REDIS_URL"] = TEST_REDIS_URL  # tests/gateway_fixtures.py reads it from there


def pytest_unconfigure(config: pytest.Config) -> None:
    drop_run_database(TEST_DATABASE_URL)
    release_redis_database(TEST_REDIS_URL)


@pytest.fixture(scope="session")
def database_url() -> str:
    """URL of this run's database, migrated to every branch head (shared by the whole session)."""
    upgrade_database(TEST_DATABASE_URL)
    return TEST_DATABASE_URL


@pytest.fixture(scope="session")
def seeded_database_url(database_url: str) -> str:
    """The test database with the demo plans and subscribers loaded (idempotent seed)."""
    import asyncio

    from billing.demo import seed_demo_data

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
    """The seeded database; the per-number binding budgets start afresh for each test (the tests
    share the demo numbers and a fake clock that does not move between them)."""
    from sqlalchemy import delete

    from billing.models import binding_phone_limits

    engine = create_engine(seeded_database_url)
    async with engine.begin() as conn:
        await conn.execute(delete(binding_phone_limits))
    yield engine
    await engine.dispose()


@pytest.fixture(autouse=True)
def own_console_events_channel(monkeypatch: pytest.MonkeyPatch) -> str:
    """A console events channel of this test's own. Redis pub/sub ignores the database number, so
    on a shared Redis server every run (and every earlier test's relay) would otherwise hear and
    count as subscribers on the one "ho:events" channel."""
    import uuid

    from handoff import console, live

    channel = f"{live.EVENTS_CHANNEL}:test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setattr(live, "EVENTS_CHANNEL", channel)
    monkeypatch.setattr(console, "EVENTS_CHANNEL", channel)
    return channel


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(TEST_REDIS_URL, decode_responses=True)
    await client.flushdb()
    yield client
    await client.aclose() if hasattr(client, "aclose") else await client.close()


# --- the Rasa stack: trained once per run, started once per session ----------------------

ARTIFACTS = PROJECT_ROOT / "test-artifacts"


def free_ports(count: int) -> list[int]:
    """`count` distinct ports that were free a moment ago (all probed at once, so never the same)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass(frozen=True)
class RasaStack:
    rasa_url: str
    action_url: str
    database_url: str
    model: Path
    rasa_token: str = ""  # Rasa's --auth-token (its HTTP API: trackers, events)


@pytest.fixture(scope="session")
def trained_model() -> Path:
    """The assistant's model, trained once (reused across runs while its inputs are unchanged)."""
    from bot.assistant_cli import train_model

    directory = Path(os.environ.get("CSBOT_TEST_MODEL_DIR", PROJECT_ROOT / "var" / "test-model"))
    return train_model(directory, if_needed=True)


def _wait_until_ready(url: str, processes: list[subprocess.Popen], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            raise RuntimeError(f"a process of the Rasa stack exited early; see {ARTIFACTS}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise TimeoutError(f"{url} not ready after {timeout_s}s; see {ARTIFACTS}")


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def rasa_stack(trained_model: Path, seeded_database_url: str) -> Iterator[RasaStack]:
    """Rasa (HTTP API on) and the action server as real processes on the seeded test database."""
    with start_rasa_stack(trained_model, seeded_database_url) as stack:
        yield stack


@contextlib.contextmanager
def start_rasa_stack(
    trained_model: Path, seeded_database_url: str, extra_env: dict[str, str] | None = None, log_prefix: str = ""
) -> Iterator[RasaStack]:
    """Rasa and the action server (with EVENT_BROKER_URL in `extra_env`: also the analytics
    consumer, as `csbot run` starts them) until the block ends. Logs: test-artifacts/{log_prefix}{name}.log."""
    from analytics.config import BrokerSettings
    from bot.assistant_cli import process_specs
    from bot.assistant_files import rasa_env

    ARTIFACTS.mkdir(exist_ok=True)
    for attempt in range(3):
        # The ports are only probed free here; Rasa and the action server bind them seconds later, and
        # another process (another test run) may take one meanwhile: the server then exits, and we retry
        # on new ports.
        rasa_port, action_port = free_ports(2)
        env = rasa_env(action_port)
        env.update(
            DATABASE_URL=seeded_database_url,
            TRACKER_STORE_URL=sync_url(seeded_database_url),
            ACTION_ENDPOINT_URL=f"http://127.0.0.1:{action_port}/webhook",
        )  # not one from the caller's shell
        for name in [k for k in env if k.startswith("EVENT_BROKER_")]:
            del env[name]  # the broker only when asked for
        if extra_env:
            env.update(extra_env)
            broker = BrokerSettings.from_env(env)
            if broker is not None:
                env.update(broker.rasa_env())  # as rasa_env() derives them for `csbot run`
        processes = []
        for spec in process_specs(rasa_port, action_port, trained_model, with_gateway=False, env=env):
            log = open(ARTIFACTS / f"{log_prefix}{spec.name}.log", "wb")
            processes.append(
                subprocess.Popen(spec.argv, env=spec.env, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT)
            )
        try:
            _wait_until_ready(f"http://127.0.0.1:{action_port}/health", processes, 180)
            # /status answers only with the token (Rasa runs with --auth-token) and only once the model is loaded
            token = urllib.parse.quote(env["RASA_AUTH_TOKEN"])
            _wait_until_ready(f"http://127.0.0.1:{rasa_port}/status?token={token}", processes, 300)
            break
        except RuntimeError:
            _stop(processes)
            if attempt == 2:
                raise
        except BaseException:
            _stop(processes)
            raise
    try:
        yield RasaStack(
            rasa_url=f"http://127.0.0.1:{rasa_port}",
            action_url=f"http://127.0.0.1:{action_port}/webhook",
            database_url=seeded_database_url,
            model=trained_model,
            rasa_token=env["RASA_AUTH_TOKEN"],
        )
    finally:
        _stop(processes)
