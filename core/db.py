"""Database plumbing shared by every process: URL resolution, engines and migrations.

`DATABASE_URL` names the database (PostgreSQL in production). When it is unset, a SQLite
file under `CSBOT_VAR_DIR` (default `./var`) is used so that a newcomer's first run needs
nothing else. Application code uses the async engine; Alembic and Rasa use the sync URL.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, DateTime, Table, bindparam, event, literal_column, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult, Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.expression import Executable, Insert, Select
from sqlalchemy.types import TypeDecorator

from core.env import env_number

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PING_AFTER_IDLE_S = 1.0
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"


def var_dir() -> Path:
    """Directory for local state (SQLite file, stored media, models)."""
    path = Path(os.environ.get("CSBOT_VAR_DIR", PROJECT_ROOT / "var"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_url() -> str:
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        return url
    return f"sqlite:///{var_dir() / 'csbot.sqlite3'}"


def async_url(url: str) -> str:
    """The same database, addressed through its asyncio driver."""
    parsed = make_url(_canonical(url))
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif parsed.get_backend_name() == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed.render_as_string(hide_password=False)


def sync_url(url: str) -> str:
    """The same database, addressed through its blocking driver (Alembic, Rasa)."""
    parsed = make_url(_canonical(url))
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg2")
    elif parsed.get_backend_name() == "sqlite":
        parsed = parsed.set(drivername="sqlite")
    return parsed.render_as_string(hide_password=False)


def _canonical(url: str) -> str:
    if url.startswith("postgres://"):
        return "postgresql://" + url[len("postgres://") :]
    return url


@dataclass(frozen=True)
class PoolSize:
    """PostgreSQL connections one process keeps open (`size`) and may open beyond them under load
    (`overflow`, closed again on return). Every process's sum must stay under the server's
    `max_connections`: a gateway that meets "too many connections" spools the push."""

    size: int
    overflow: int

    @classmethod
    def from_env(cls, prefix: str, size: int, overflow: int) -> PoolSize:
        """`{prefix}DB_POOL_SIZE` and `{prefix}DB_POOL_OVERFLOW`, else the given defaults."""
        return cls(
            size=env_number(os.environ, f"{prefix}DB_POOL_SIZE", size, int, minimum=1),
            overflow=env_number(os.environ, f"{prefix}DB_POOL_OVERFLOW", overflow, int, minimum=0),
        )


# The gateway's default: each message takes several turns at the pool.
DEFAULT_POOL = PoolSize(size=30, overflow=20)


def create_engine(url: str | None = None, pool: PoolSize | None = None) -> AsyncEngine:
    """Async engine for the given URL (default: `database_url()`); `pool` default: DB_POOL_SIZE and
    DB_POOL_OVERFLOW, else DEFAULT_POOL."""
    target = async_url(url or database_url())
    if target.startswith("sqlite"):
        engine = create_async_engine(target, future=True, connect_args={"timeout": 30})
        _enable_sqlite_wal(engine.sync_engine)
        return engine
    # Connections kept open: a new one costs a connect, auth and type set-up. Last in, first out: a
    # steady load keeps to a few warm connections, on which PostgreSQL has planned each prepared
    # statement once (it plans one for its values on its first five runs per connection), and the
    # idle rest are not pinged on every round.
    pool = pool or PoolSize.from_env("", DEFAULT_POOL.size, DEFAULT_POOL.overflow)
    engine = create_async_engine(
        target, future=True, pool_size=pool.size, max_overflow=pool.overflow, pool_use_lifo=True
    )
    _ping_on_checkout(engine.sync_engine)
    return engine


def single_statements(engine: AsyncEngine) -> AsyncEngine:
    """The engine for work that is one statement: a read or write that is atomic by itself needs no
    BEGIN and COMMIT (or ROLLBACK) round trips around it."""
    single = _SINGLE_STATEMENTS.get(engine)
    if single is None:
        single = _SINGLE_STATEMENTS[engine] = engine.execution_options(isolation_level="AUTOCOMMIT")
    return single


_SINGLE_STATEMENTS: weakref.WeakKeyDictionary[AsyncEngine, AsyncEngine] = weakref.WeakKeyDictionary()


def _ping_on_checkout(engine: Engine) -> None:
    """Pessimistic disconnect handling, in one round trip and only for a connection that was idle.

    SQLAlchemy's own `pool_pre_ping` pings on every checkout, in a transaction for asyncpg (BEGIN,
    `;`, ROLLBACK: three round trips, for pgbouncer's transaction mode, not used here), and a
    message takes several turns at the pool. A connection that worked less than PING_AFTER_IDLE_S
    ago is not pinged: if the server went away in that moment, its first statement fails, the
    caller's error path runs (every path in the gateway keeps the message: spool, retry), and
    SQLAlchemy then replaces every pooled connection older than the failure."""

    @event.listens_for(engine, "connect")
    def _fresh(_dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _idle(_dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection, record, _proxy) -> None:
        if time.monotonic() - record.info.get("idle_since", 0.0) < PING_AFTER_IDLE_S:
            return
        try:
            dbapi_connection.run_async(lambda driver: driver.execute("SELECT 1"))
        except Exception as exc:  # a dead connection: the pool drops it and checks out another
            raise DisconnectionError(f"connection failed its ping: {type(exc).__name__}") from exc


def _enable_sqlite_wal(engine: Engine) -> None:
    # Several processes (gateway, action server) share the file: WAL lets readers run
    # while one writer commits, and foreign keys are off by default in SQLite.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


def alembic_config(url: str | None = None):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", sync_url(url or database_url()).replace("%", "%%"))
    return config


def upgrade_database(url: str | None = None) -> None:
    """Apply every migration branch (billing, gateway, voice, handoff) up to its head."""
    from alembic import command

    command.upgrade(alembic_config(url), "heads")


class UtcDateTime(TypeDecorator):
    """Aware UTC datetimes in and out. SQLite keeps no offset, so it is re-attached on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.timezone.utc)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


async def upsert(conn: AsyncConnection, table: Table, keys: dict[str, Any], values: dict[str, Any]) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET values, for PostgreSQL and SQLite alike."""
    statement = _upsert_statement(conn.dialect.name, table, tuple(keys), tuple(values))
    await conn.execute(statement, {**keys, **values})


@functools.cache
def _upsert_statement(dialect_name: str, table: Table, keys: tuple[str, ...], values: tuple[str, ...]) -> Executable:
    """Built once per shape: some upserts run for every message. The update sets what the insert proposed."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    names = keys + values
    statement = dialect.insert(table).values({name: bindparam(name, type_=table.c[name].type) for name in names})
    upserting = statement.on_conflict_do_update(
        index_elements=list(keys), set_={name: statement.excluded[name] for name in values}
    )
    return compiled_once(upserting, dialect_name)


def compiled_once(statement: Insert | Select[Any], dialect_name: str) -> Executable:
    """`statement` as SQL text with the same typed parameters, for a statement SQLAlchemy would
    compile again on every run: it caches no INSERT ... ON CONFLICT (the dialects' Insert classes
    opt out of its cache), and compiling one cost the gateway 0.5-0.8 ms of CPU per message; text is
    cached. A column default the INSERT needs goes in as a parameter's value; a default computed
    when it runs (a callable) cannot, nor can an IN list: such a statement is returned as it is."""
    dialect = (postgresql if dialect_name == "postgresql" else sqlite).dialect(paramstyle="named")
    compiled = statement.compile(dialect=dialect)
    prefetched = [*getattr(compiled, "insert_prefetch", ()), *getattr(compiled, "update_prefetch", ())]
    defaults = {column.key: column.default for column in prefetched}
    if not all(default is not None and default.is_scalar for default in defaults.values()):
        return statement
    if any(bound.expanding for bound in compiled.bind_names):  # IN lists are rendered per run
        return statement
    parameters = []
    for bound, name in compiled.bind_names.items():  # the names as rendered (anonymous ones too)
        if name in defaults:
            parameters.append(bindparam(name, defaults[name].arg, type_=bound.type))
        elif bound.required:
            parameters.append(bindparam(name, type_=bound.type))
        else:  # a value in the statement itself, e.g. literal(0)
            parameters.append(bindparam(name, bound.value, type_=bound.type))
    # text() reads ":name" as a parameter: the casts the compiler wrote ("::JSON") are escaped.
    return text(compiled.string.replace("::", r"\:\:")).bindparams(*parameters)


def one_of(column: ColumnElement[Any], values: Iterable[str]) -> ColumnElement[bool]:
    """`column IN ('a', 'b')` with a fixed vocabulary written into the SQL. A plain `in_(values)` is
    an expanding parameter, which SQLAlchemy renders again for every run of the statement (its
    "post-compile" step, 2-3 % of the gateway's CPU under load for the per-message statements)."""
    return column.in_([literal_column("'" + value.replace("'", "''") + "'") for value in values])


def inserted_id(result: CursorResult[Any]) -> int:
    """The primary key of the row an INSERT just wrote."""
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the INSERT reported no primary key")
    return int(key[0])
