"""Statements the gateway runs for every message, executed on the pooled asyncpg connection itself.

SQLAlchemy's execution around a statement (its result objects, per-run parameter handling, the
connection proxy) cost the gateway about 0.2 ms of CPU per statement here, as much as PostgreSQL
spends running the statement: for the two statements of every message (storing and leasing a push,
recording its answer) that was a fifth of the gateway's CPU per message (`bench/gateway_cpu.py`).
A `DriverStatement` is compiled once by the engine's dialect, with its bind and result processing
taken from SQLAlchemy's types, and still borrows its connection from the engine's pool.
PostgreSQL (asyncpg) only: everything else keeps to SQLAlchemy's execution.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement


class DriverRow:
    """One result row, its columns as attributes (as a SQLAlchemy row has them)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:  # only for a column the statement does not return
        raise AttributeError(f"no column {name!r} in {sorted(self.__dict__)}")

    def __repr__(self) -> str:
        return f"DriverRow({self.__dict__!r})"


class DriverStatement:
    def __init__(self, statement: ClauseElement, engine: AsyncEngine) -> None:
        if engine.dialect.driver != "asyncpg":
            raise ValueError(f"a driver statement needs asyncpg, not {engine.dialect.driver}")
        dialect = engine.dialect
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        self._engine = engine
        self.sql = str(compiled)
        self._names = list(compiled.positiontup or ())
        self._defaults = dict(compiled.params)  # the values bound in the statement itself
        self._bind: list[Callable[[Any], Any] | None] = [
            compiled.binds[name].type._cached_bind_processor(dialect) for name in self._names
        ]
        self._columns: list[tuple[str, Callable[[Any], Any] | None]] = [
            (column.keyname, column.type._cached_result_processor(dialect, None)) for column in compiled._result_columns
        ]

    def arguments(self, params: dict[str, Any]) -> list[Any]:
        """The statement's positional arguments for `params` (named as in the statement)."""
        values = []
        for name, process in zip(self._names, self._bind):
            value = params[name] if name in params else self._defaults[name]
            values.append(value if process is None else process(value))
        return values

    async def fetch(self, params: dict[str, Any]) -> list[DriverRow]:
        """Run it once, atomically by itself (the connection is in autocommit). A constraint it
        breaks raises SQLAlchemy's IntegrityError, as SQLAlchemy's execution would; any failure
        that is not PostgreSQL's answer (the connection lost, the call cancelled) discards the
        connection, so that the pool does not hand it out again."""
        arguments = self.arguments(params)
        async with self._engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            assert driver is not None  # a checked-out connection
            try:
                records = await driver.fetch(self.sql, *arguments)
            except asyncpg.IntegrityConstraintViolationError as exc:
                raise IntegrityError(self.sql, None, exc) from exc
            except BaseException as exc:
                if _connection_lost(exc) or driver.is_closed():
                    await asyncio.shield(conn.invalidate())
                raise
        return [self._row(record) for record in records]

    def _row(self, record: asyncpg.Record) -> DriverRow:
        return DriverRow(
            {
                name: value if process is None else process(value)
                for (name, process), value in zip(self._columns, record.values())
            }
        )


def _connection_lost(exc: BaseException) -> bool:
    """Whether the connection cannot be trusted after `exc`: anything but PostgreSQL's answer to the
    statement (a socket error, a cancelled call), or an answer that ends the session."""
    if not isinstance(exc, asyncpg.PostgresError):
        return True
    return isinstance(exc, (asyncpg.PostgresConnectionError, asyncpg.OperatorInterventionError))
