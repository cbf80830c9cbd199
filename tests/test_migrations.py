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


def test_call_back_tasks_and_fault_reports_become_tickets_and_back(empty_database: str) -> None:
    """handoff_0004_tickets: ho_tasks becomes the ticket table (numbers, statuses, a history) and
    billing's fault_tickets rows move into it, keeping the numbers subscribers were told."""
    config = alembic_config(empty_database)
    for revision in ("billing_0004", "handoff_0003"):
        command.upgrade(config, revision)
    engine = create_engine(sync_url(empty_database))
    try:
        with engine.begin() as conn:
            for kind, done in (("callback", None), ("follow_up", AT)):
                conn.execute(
                    text(
                        "INSERT INTO ho_tasks (kind, openid, phone, reason, note, is_elder, due_at, attempts, "
                        "created_at, created_by, done_at) VALUES (:kind, 'o1', '13800000001', 'request_human', "
                        "'请回电', :elder, :due, 0, :at, 'system', :done)"
                    ),
                    {"kind": kind, "elder": kind == "callback", "due": AT, "at": AT, "done": done},
                )
            conn.execute(
                text(
                    "INSERT INTO fault_tickets (ticket_no, phone, openid, description, status, created_at) "
                    "VALUES ('GZ20261130090000', NULL, 'o2', '宽带故障：家里断网', 'open', :at)"
                ),
                {"at": AT},
            )
        command.upgrade(config, "heads")
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT number, kind, category, status, queue, openid, note FROM tickets ORDER BY id")
            ).all()
            events = conn.execute(text("SELECT kind, status FROM ticket_events ORDER BY id")).all()
            canned = conn.execute(text("SELECT count(*) FROM ho_canned_replies")).scalar()
        assert [tuple(row) for row in rows] == [
            ("T20261130-0001", "callback", "callback", "open", "elder", "o1", "请回电"),
            ("T20261130-0002", "follow_up", "follow_up", "closed", "general", "o1", "请回电"),
            ("GZ20261130090000", "fault", "broadband", "open", "general", "o2", "宽带故障：家里断网"),
        ]
        assert [tuple(row) for row in events] == [("created", "open"), ("created", "closed"), ("created", "open")]
        assert canned == 12  # the six canned replies, for each desk
        assert "fault_tickets" not in inspect(engine).get_table_names()

        command.downgrade(config, "handoff_0003")
        with engine.connect() as conn:
            tasks = conn.execute(text("SELECT kind FROM ho_tasks ORDER BY id")).scalars().all()
            faults = conn.execute(text("SELECT ticket_no, description FROM fault_tickets")).all()
        assert tasks == ["callback", "follow_up"]
        assert [tuple(row) for row in faults] == [("GZ20261130090000", "宽带故障：家里断网")]
    finally:
        engine.dispose()


def test_chats_become_the_one_conversation_record_and_gateway_requests_become_promises(
    empty_database: str,
) -> None:
    """handoff_0005_conversations: ho_chats becomes `conversations` without `bot_paused` (its status
    alone says who answers), and the gateway's own handoff requests become call-back promises with
    their tickets; the downgrade gives both back."""
    config = alembic_config(empty_database)
    for revision in ("billing_0004", "gateway_0003_voice_pref", "handoff_0004_tickets"):
        command.upgrade(config, revision)
    engine = create_engine(sync_url(empty_database))
    chat = (
        "INSERT INTO ho_chats (openid, status, queue, reason, is_elder, created_at, bot_paused) "
        "VALUES (:openid, :status, 'elder', 'elder', :elder, :at, :paused)"
    )
    try:
        with engine.begin() as conn:
            conn.execute(text(chat), {"openid": "o1", "status": "waiting", "elder": True, "at": AT, "paused": True})
            conn.execute(text(chat), {"openid": "o2", "status": "closed", "elder": False, "at": AT, "paused": False})
            conn.execute(
                text("INSERT INTO ho_queue_entries (chat_id, queue, enqueued_at) VALUES (1, 'elder', :at)"),
                {"at": AT},
            )
            conn.execute(
                text(
                    "INSERT INTO gw_handoff_requests (openid, reason, queue, summary, status, created_at) "
                    "VALUES ('o3', 'voice_unrecognised', 'general', '语音消息，未能识别', 'open', :at)"
                ),
                {"at": AT},
            )
        command.upgrade(config, "heads")
        tables = inspect(engine).get_table_names()
        assert "conversations" in tables and "ho_chats" not in tables and "gw_handoff_requests" not in tables
        assert "bot_paused" not in {column["name"] for column in inspect(engine).get_columns("conversations")}
        with engine.begin() as conn:
            rows = conn.execute(text("SELECT id, openid, status, close_reason FROM conversations ORDER BY id")).all()
            promise = conn.execute(
                text("SELECT number, kind, status, chat_id, note, created_by FROM tickets WHERE openid = 'o3'")
            ).one()
            queued = (
                conn.execute(text("SELECT c.openid FROM ho_queue_entries q JOIN conversations c ON c.id = q.chat_id"))
                .scalars()
                .all()
            )
            # the queue entries and the transcript still point at the record (foreign keys followed it)
            conn.execute(
                text(
                    "INSERT INTO ho_messages (chat_id, sender, msg_type, text, created_at) VALUES (1, 'subscriber', 'text', '在吗', :at)"
                ),
                {"at": AT},
            )
        assert [tuple(row) for row in rows] == [
            (1, "o1", "waiting", None),
            (2, "o2", "closed", None),
            (3, "o3", "closed", "callback"),
        ]
        assert tuple(promise) == ("T20261130-0001", "callback", "open", 3, "语音消息，未能识别", "gateway")
        assert queued == ["o1"]

        command.downgrade(config, "handoff_0004_tickets")
        with engine.connect() as conn:
            chats = conn.execute(text("SELECT openid, status, bot_paused FROM ho_chats ORDER BY id")).all()
            requests = conn.execute(text("SELECT openid, reason, status FROM gw_handoff_requests")).all()
            tickets = conn.execute(text("SELECT count(*) FROM tickets")).scalar()
        assert [tuple(row) for row in chats] == [("o1", "waiting", False), ("o2", "closed", False)]
        assert [tuple(row) for row in requests] == [("o3", "voice_unrecognised", "open")]
        assert tickets == 0
    finally:
        engine.dispose()
