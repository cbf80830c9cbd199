"""Tables of the gateway area: the inbox (every push received), the outbox (every API message owed),
subscription records and the built-in handoff requests.

Statuses are plain strings (no database enums) so that SQLite and PostgreSQL agree.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, Index, Integer, MetaData, String, Table, Text

from core.db import UtcDateTime

metadata = MetaData()

# Inbound pushes, written before WeChat gets its answer. Processed per openid in id order.
# status: pending -> processing (leased by one worker) -> done | failed
inbox = Table(
    "gw_inbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("msg_key", String(128), nullable=False, unique=True),
    Column("openid", String(64), nullable=False),
    Column("msg_type", String(16), nullable=False),
    Column("event", String(32), nullable=True),
    Column("message", JSON, nullable=False),  # InboundMessage.to_dict()
    Column("arrival_seq", BigInteger, nullable=True),  # per-openid arrival order, from Redis (None: Redis was down)
    Column("status", String(16), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("lease_until", UtcDateTime, nullable=True),
    Column("apologised", Boolean, nullable=False, default=False),
    Column("reply_channel", String(16), nullable=True),  # passive | api | none
    Column("error", Text, nullable=True),
    Column("received_at", UtcDateTime, nullable=False),
    Column("done_at", UtcDateTime, nullable=True),
    Index("ix_gw_inbox_openid_seq", "openid", "arrival_seq", "id"),
    Index("ix_gw_inbox_status_due", "status", "next_attempt_at"),
)

# API messages owed. status: pending -> sending (leased) -> sent | undeliverable | failed;
# a voice reply starts as preparing (audio still to be made) -> pending, or skipped when it cannot be made.
outbox = Table(
    "gw_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("openid", String(64), nullable=False),
    Column("payload", JSON, nullable=False),  # the API body without "touser"
    Column("origin", String(16), nullable=False),  # bot | agent | system
    # custom (message/custom/send) | subscribe (message/subscribe/bizsend) | template (message/template/send)
    Column("channel", String(16), nullable=False, default="custom", server_default="custom"),
    Column("notice_id", Integer, nullable=True),  # the gw_notices row this message carries
    Column("inbox_id", Integer, nullable=True),
    Column("status", String(16), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("not_before", UtcDateTime, nullable=False),
    Column("lease_until", UtcDateTime, nullable=True),
    Column("errcode", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime, nullable=True),
    Index("ix_gw_outbox_status_due", "status", "not_before"),
    Index("ix_gw_outbox_openid_id", "openid", "id"),
)

# Notices outside a conversation (gateway/notices.py): one row per idempotency key, whether it was
# sent (through the outbox row `outbox_id`) or not (refused_no_consent, failed: `reason`).
notices = Table(
    "gw_notices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dedup_key", String(128), nullable=False, unique=True),
    Column("openid", String(64), nullable=False),
    Column("kind", String(32), nullable=False),  # core.vocabulary.NoticeKind
    Column("fields", JSON, nullable=False),
    Column("channel", String(16), nullable=True),  # NoticeChannel; None when not sent
    Column("template_id", String(128), nullable=True),
    Column("status", String(24), nullable=False),  # NoticeStatus
    Column("reason", Text, nullable=True),  # why not sent / why it failed (Chinese, for agents)
    Column("outbox_id", Integer, nullable=True),
    Column("wechat_msgid", String(32), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Index("ix_gw_notices_openid", "openid", "id"),
    Index("ix_gw_notices_status", "status", "id"),
)

subscribers = Table(
    "gw_subscribers",
    metadata,
    Column("openid", String(64), primary_key=True),
    Column("subscribed", Boolean, nullable=False),
    Column("scene", String(128), nullable=True),  # EventKey of the QR code scanned to follow
    Column("subscribed_at", UtcDateTime, nullable=True),
    Column("unsubscribed_at", UtcDateTime, nullable=True),
)

# How a subscriber wants answers (gateway/voice_replies.py): mode "voice" (asked for voice replies)
# or "text" (asked for text only). No row: voice replies answer voice notes only.
voice_prefs = Table(
    "gw_voice_prefs",
    metadata,
    Column("openid", String(64), primary_key=True),
    Column("mode", String(8), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
