"""Each test run gets a PostgreSQL database and a Redis database of its own.

Two runs on one machine (two CI runs at once, a developer's run beside CI, a left-over process)
must not see each other: a run empties its database at the start and flushes Redis before tests,
which would wipe the other run's Rasa tracker tables and gateway keys mid-test.

- PostgreSQL: TEST_DATABASE_URL names the server and a maintenance database (default
  postgresql://127.0.0.1:5432/test); the run creates `<that name>_run_<pid>` and drops it at the
  end. Databases left by runs whose process is gone (killed runs) are dropped at the next start.
- Redis: TEST_REDIS_URL, when set, is used as is. Otherwise the run takes a free database number
  (15 down to 1, empty ones first) on 127.0.0.1:6379, held by a lock key in database 0 that names
  its pid.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Connection, make_url

from core.db import sync_url

DEFAULT_DATABASE_URL = "postgresql://127.0.0.1:5432/test"
DEFAULT_REDIS_SERVER = "redis://127.0.0.1:6379"
REDIS_LOCK_KEY = "csbot:test-run:redis-db:{number}"
REDIS_LOCK_TTL_S = 6 * 3600  # longer than any run; a killed run's lock is taken over by pid anyway
REDIS_NUMBERS = range(15, 0, -1)  # database 0 holds the locks (and `make run`'s data)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _run_database_prefix(base: URL) -> str:
    return f"{base.database}_run_"


def _pid_of(name: str, prefix: str) -> int | None:
    digits = name.removeprefix(prefix).split("_", 1)[0]
    return int(digits) if digits.isdigit() else None


def base_database_url() -> URL:
    return make_url(sync_url(os.environ.get("TEST_DATABASE_URL", DEFAULT_DATABASE_URL)))


def create_run_database() -> str:
    """Create this run's database (dropping those of dead runs first) and return its URL."""
    base = base_database_url()
    prefix = _run_database_prefix(base)
    name = f"{prefix}{os.getpid()}"
    with _admin(base) as conn:
        for other in _databases_named(conn, prefix):
            pid = _pid_of(other, prefix)
            if _derived_from(other, name) or (pid is not None and not _alive(pid)):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{other}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return base.set(database=name).render_as_string(hide_password=False)


def drop_run_database(url: str) -> None:
    """Drop this run's database and those its tests derived from it (`<name>_migrations`)."""
    run = str(make_url(url).database)
    with _admin(base_database_url()) as conn:
        for name in _databases_named(conn, run):
            if _derived_from(name, run):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _derived_from(name: str, run: str) -> bool:
    # `test_run_12` must not claim `test_run_123`, another live run's database
    return name == run or name.startswith(f"{run}_")


@contextmanager
def _admin(base: URL) -> Iterator[Connection]:
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def _databases_named(conn: Connection, prefix: str) -> list[str]:
    pattern = prefix.replace("_", r"\_") + "%"
    rows = conn.execute(text("SELECT datname FROM pg_database WHERE datname LIKE :pattern"), {"pattern": pattern})
    return list(rows.scalars())


def claim_redis_database() -> str:
    """A Redis URL on a database number no other live run holds.

    Empty databases are preferred: one with keys and no lock may belong to a tool that predates
    the locks (or to a developer's data) and is taken only when no empty one is left.
    """
    server = redis.Redis.from_url(f"{DEFAULT_REDIS_SERVER}/0", decode_responses=True)
    try:
        for empty_only in (True, False):
            for number in REDIS_NUMBERS:
                if empty_only and _redis_size(number) > 0:
                    continue
                if _take_lock(server, REDIS_LOCK_KEY.format(number=number)):
                    return f"{DEFAULT_REDIS_SERVER}/{number}"
    finally:
        server.close()
    raise RuntimeError("every Redis database 1-15 is held by a live test run; set TEST_REDIS_URL")


def _take_lock(server: redis.Redis, key: str) -> bool:
    me = str(os.getpid())
    if server.set(key, me, nx=True, ex=REDIS_LOCK_TTL_S):
        return True
    holder = server.get(key)
    if holder is not None and holder.isdigit() and not _alive(int(holder)):
        return bool(server.set(key, me, ex=REDIS_LOCK_TTL_S, xx=True))
    return False


def _redis_size(number: int) -> int:
    client = redis.Redis.from_url(f"{DEFAULT_REDIS_SERVER}/{number}")
    try:
        return int(client.dbsize())
    finally:
        client.close()


def release_redis_database(url: str) -> None:
    number = url.rsplit("/", 1)[1]
    server = redis.Redis.from_url(f"{DEFAULT_REDIS_SERVER}/0", decode_responses=True)
    try:
        key = REDIS_LOCK_KEY.format(number=number)
        if server.get(key) == str(os.getpid()):
            server.delete(key)
    finally:
        server.close()
