"""Migrations carry existing data over: the console's audit rows join the one audit log, and back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from conftest import TEST_DATABASE_URL
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from core.db import alembic_config, sync_url

BEFORE = ["billing_0001", "handoff_0001"]  # the two audit tables of the first version
AT = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
        return
    url = make_url(sync_url(TEST_DATABASE_URL))
    name = f"{url.database}_migrations"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def test_the_console_audit_rows_move_into_the_one_audit_log_and_back(empty_database: str) -> None:
    config = alembic_config(empty_database)
    for revision in BEFORE:
        command.upgrade(config, revision)
    engine = create_engine(sync_url(empty_database))
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO audit_log (at, actor, action, openid, phone) VALUES (:at, 'system', 'bind', 'o1', '13800000001')"
                ),
                {"at": AT},
            )
            conn.execute(
                text(
                    "INSERT INTO ho_audit_log (at, actor, action, openid, phone, chat_id, detail) "
                    "VALUES (:at, '张强', 'reveal_phone', 'o2', '13800000002', 7, 'task 3')"
                ),
                {"at": AT},
            )

        command.upgrade(config, "heads")
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT actor, action, openid, chat_id, detail FROM audit_log ORDER BY id")).all()
        assert [tuple(row) for row in rows] == [
            ("system", "bind", "o1", None, None),
            ("张强", "reveal_phone", "o2", 7, "task 3"),
        ]
        assert "ho_audit_log" not in inspect(engine).get_table_names()

        command.downgrade(config, "handoff_0001")
        with engine.connect() as conn:
            kept = conn.execute(text("SELECT action FROM audit_log")).scalars().all()
            moved = conn.execute(text("SELECT actor, action, chat_id FROM ho_audit_log")).all()
        assert kept == ["bind"] and [tuple(row) for row in moved] == [("张强", "reveal_phone", 7)]
    finally:
        engine.dispose()
