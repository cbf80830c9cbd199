"""handoff: agents, agent sessions, chats, queue entries, transcript, call-back/follow-up tasks, audit log

Revision ID: handoff_0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "handoff_0001"
down_revision = None
branch_labels = ("handoff",)
depends_on = None

OPEN_CHAT = "status IN ('waiting', 'assigned')"


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ho_agents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("skills", sa.String(256), nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("ready", sa.Boolean, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
    )
    op.create_table(
        "ho_agent_sessions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("token_digest", sa.String(64), nullable=False, unique=True),
        sa.Column("agent_id", sa.Integer, sa.ForeignKey("ho_agents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.Column("revoked_at", _utc(), nullable=True),
    )
    op.create_table(
        "ho_chats",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("openid", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("queue", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("summary", sa.Text, nullable=True),
        sa.Column("dialect", sa.String(32), nullable=True),
        sa.Column("is_elder", sa.Boolean, nullable=False),
        sa.Column("age", sa.Integer, nullable=True),
        sa.Column("phone", sa.String(20), nullable=True),
        sa.Column("agent_id", sa.Integer, sa.ForeignKey("ho_agents.id"), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("assigned_at", _utc(), nullable=True),
        sa.Column("first_agent_reply_at", _utc(), nullable=True),
        sa.Column("callback_promised_at", _utc(), nullable=True),
        sa.Column("closed_at", _utc(), nullable=True),
        sa.Column("close_reason", sa.String(32), nullable=True),
        sa.Column("bot_paused", sa.Boolean, nullable=False),
    )
    op.create_index("ix_ho_chats_openid", "ho_chats", ["openid"])
    op.create_index("ix_ho_chats_status", "ho_chats", ["status"])
    op.create_index("ix_ho_chats_agent", "ho_chats", ["agent_id", "status"])
    op.create_index("ix_ho_chats_bot_paused", "ho_chats", ["bot_paused"])
    op.create_index(
        "uq_ho_chats_open_openid",
        "ho_chats",
        ["openid"],
        unique=True,
        postgresql_where=sa.text(OPEN_CHAT),
        sqlite_where=sa.text(OPEN_CHAT),
    )
    op.create_table(
        "ho_queue_entries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("chat_id", sa.Integer, sa.ForeignKey("ho_chats.id", ondelete="CASCADE"), nullable=False),
        sa.Column("queue", sa.String(16), nullable=False),
        sa.Column("dialect", sa.String(32), nullable=True),
        sa.Column("enqueued_at", _utc(), nullable=False),
        sa.Column("left_at", _utc(), nullable=True),
        sa.Column("left_reason", sa.String(32), nullable=True),
    )
    op.create_index("ix_ho_queue_entries_waiting", "ho_queue_entries", ["left_at", "queue", "enqueued_at"])
    op.create_index("ix_ho_queue_entries_chat", "ho_queue_entries", ["chat_id"])
    op.create_table(
        "ho_messages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("chat_id", sa.Integer, sa.ForeignKey("ho_chats.id", ondelete="CASCADE"), nullable=False),
        sa.Column("sender", sa.String(16), nullable=False),
        sa.Column("msg_type", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=True),
        sa.Column("audio_id", sa.Integer, nullable=True),
        sa.Column("media_url", sa.Text, nullable=True),
        sa.Column("agent_id", sa.Integer, sa.ForeignKey("ho_agents.id"), nullable=True),
        sa.Column("delivery", sa.String(16), nullable=True),
        sa.Column("delivery_note", sa.Text, nullable=True),
        sa.Column("outbox_id", sa.Integer, nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
    )
    op.create_index("ix_ho_messages_chat", "ho_messages", ["chat_id", "id"])
    op.create_table(
        "ho_tasks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("openid", sa.String(64), nullable=False),
        sa.Column("phone", sa.String(20), nullable=True),
        sa.Column("chat_id", sa.Integer, sa.ForeignKey("ho_chats.id", ondelete="SET NULL"), nullable=True),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("is_elder", sa.Boolean, nullable=False),
        sa.Column("due_at", _utc(), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("outcome_note", sa.Text, nullable=True),
        sa.Column("done_at", _utc(), nullable=True),
        sa.Column("done_by", sa.String(64), nullable=True),
        sa.UniqueConstraint("chat_id", "kind", name="uq_ho_tasks_chat_kind"),
    )
    op.create_index("ix_ho_tasks_open", "ho_tasks", ["done_at", "due_at"])
    op.create_index("ix_ho_tasks_openid", "ho_tasks", ["openid"])
    op.create_table(
        "ho_audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(48), nullable=False),
        sa.Column("openid", sa.String(64), nullable=True),
        sa.Column("phone", sa.String(20), nullable=True),
        sa.Column("chat_id", sa.Integer, nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
    )
    op.create_index("ix_ho_audit_log_at", "ho_audit_log", ["at"])


def downgrade() -> None:
    op.drop_table("ho_audit_log")
    op.drop_table("ho_tasks")
    op.drop_table("ho_messages")
    op.drop_table("ho_queue_entries")
    op.drop_table("ho_chats")
    op.drop_table("ho_agent_sessions")
    op.drop_table("ho_agents")
