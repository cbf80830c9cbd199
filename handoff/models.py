"""Tables of the handoff area: agents and their sessions, queue entries, the transcript and the
satisfaction surveys, around the one conversation record (core/conversations.py); tickets and the
audit log are core's too.

The database is the only source of truth: a gateway restart loses nothing, and every
worker reads the same queue. Redis holds only presence (which consoles are open) and the
pub/sub channel that pushes live updates to consoles.
Timestamps are timezone-aware UTC (`UtcDateTime`, re-attached on SQLite).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from core.conversations import metadata  # one MetaData: the tables below point at `conversations`
from core.db import UtcDateTime
from core.tickets import tickets

ho_agents = Table(
    "ho_agents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("password_hash", String(128), nullable=False),
    Column("role", String(16), nullable=False),  # agent | supervisor
    Column("skills", String(256), nullable=False, default=""),  # comma-separated, e.g. "elder,sichuanese"
    Column("capacity", Integer, nullable=False, default=3),
    Column("ready", Boolean, nullable=False, default=False),  # 就绪: takes chats automatically
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", UtcDateTime, nullable=False),
)

ho_agent_sessions = Table(
    "ho_agent_sessions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # HMAC of the cookie's token: a copy of this table does not let anyone log in
    Column("token_digest", String(64), nullable=False, unique=True),
    Column("agent_id", Integer, ForeignKey("ho_agents.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
)

ho_queue_entries = Table(
    "ho_queue_entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("chat_id", Integer, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("queue", String(16), nullable=False),
    Column("dialect", String(32), nullable=True),
    Column("enqueued_at", UtcDateTime, nullable=False),
    Column("left_at", UtcDateTime, nullable=True),
    Column("left_reason", String(32), nullable=True),  # assigned | taken | callback | closed | transferred
    Index("ix_ho_queue_entries_waiting", "left_at", "queue", "enqueued_at"),
    Index("ix_ho_queue_entries_chat", "chat_id"),
)

# The transcript: the bot's turns before the handoff (copied from Rasa's tracker), every
# subscriber message during it, agent replies (with their delivery state) and notes.
ho_messages = Table(
    "ho_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("chat_id", Integer, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("sender", String(16), nullable=False),  # subscriber | bot | agent | system
    Column("msg_type", String(16), nullable=False),  # text | voice | image | location | link | video | note
    Column("text", Text, nullable=True),
    Column("audio_id", Integer, nullable=True),  # voice/store.py row (no FK across areas)
    Column("media_url", Text, nullable=True),
    Column("agent_id", Integer, ForeignKey("ho_agents.id"), nullable=True),
    Column("delivery", String(16), nullable=True),  # pending | queued | refused (agent/system messages)
    Column("delivery_note", Text, nullable=True),
    Column("outbox_id", Integer, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_ho_messages_chat", "chat_id", "id"),
)

# Call-backs (来电必复) and next-day follow-ups (次日回访) are tickets (core/tickets.py), like
# complaints and fault reports: open until an agent resolves or closes them.
ho_tasks = tickets

# After a chat with a person: the closing message carries one numbered satisfaction question
# (1 满意 2 一般 3 不满意); the subscriber's answer is stored here, never sent to the bot.
# `closing_text` is kept when WeChat's quota refused the closing message: it goes out with the
# subscriber's next answer instead of being dropped.
ho_surveys = Table(
    "ho_surveys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("chat_id", Integer, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=True, unique=True),
    Column("ticket_id", Integer, nullable=True),  # a resolved ticket's survey (tickets.id)
    Column("openid", String(64), nullable=False),
    Column("queue", String(16), nullable=False),
    Column("is_elder", Boolean, nullable=False, default=False),
    Column("asked_at", UtcDateTime, nullable=False),
    Column("delivered", Boolean, nullable=False, default=True),  # False: refused by the quota, still owed
    Column("closing_text", Text, nullable=True),
    Column("score", Integer, nullable=True),  # 1 满意 | 2 一般 | 3 不满意
    Column("answered_at", UtcDateTime, nullable=True),
    Index("ix_ho_surveys_openid", "openid", "asked_at"),
    Index("ix_ho_surveys_asked", "asked_at"),
)

# Which bound openids the elder user tag was decided for (handoff/elder_tags.py): tagged in
# WeChat when the bound number's subscriber is ELDER_AGE or over.
ho_elder_tags = Table(
    "ho_elder_tags",
    metadata,
    Column("openid", String(64), primary_key=True),
    Column("tagged", Boolean, nullable=False),
    Column("checked_at", UtcDateTime, nullable=False),
)

# Canned replies per desk (queue), editable in the console; seeded with the first version's six.
ho_canned_replies = Table(
    "ho_canned_replies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("queue", String(16), nullable=False),
    Column("position", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("updated_by", String(64), nullable=False),
    Index("ix_ho_canned_replies_queue", "queue", "position"),
)
