"""gateway: inbox, outbox, customer-service windows, subscriptions, built-in handoff requests

Revision ID: gateway_0001
Revises:
Create Date: 2025-01-01
"""

import sqlalchemy as sa
from alembic import op

revision = "gateway_0001"
down_revision = None
branch_labels = ("gateway",)
depends_on = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "gw_inbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("msg_key", sa.String(128), nullable=False),
        sa.Column("openid", sa.String(64), nullable=False),
        sa.Column("msg_type", sa.String(16), nullable=False),
        sa.Column("event", sa.String(32), nullable=True),
        sa.Column("message", sa.JSON, nullable=False),
        sa.Column("arrival_seq", sa.BigInteger, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", _utc(), nullable=False),
        sa.Column("lease_until", _utc(), nullable=True),
        sa.Column("apologised", sa.Boolean, nullable=False),
        sa.Column("reply_channel", sa.String(16), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("received_at", _utc(), nullable=False),
        sa.Column("done_at", _utc(), nullable=True),
        sa.UniqueConstraint("msg_key", name="uq_gw_inbox_msg_key"),
    )
    op.create_index("ix_gw_inbox_openid_seq", "gw_inbox", ["openid", "arrival_seq", "id"])
    op.create_index("ix_gw_inbox_status_due", "gw_inbox", ["status", "next_attempt_at"])

    op.create_table(
        "gw_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("openid", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("inbox_id", sa.Integer, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("not_before", _utc(), nullable=False),
        sa.Column("lease_until", _utc(), nullable=True),
        sa.Column("errcode", sa.Integer, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("sent_at", _utc(), nullable=True),
    )
    op.create_index("ix_gw_outbox_status_due", "gw_outbox", ["status", "not_before"])
    op.create_index("ix_gw_outbox_openid_id", "gw_outbox", ["openid", "id"])

    op.create_table(
        "gw_cs_windows",
        sa.Column("openid", sa.String(64), primary_key=True),
        sa.Column("last_interaction_at", _utc(), nullable=False),
        sa.Column("quota", sa.Integer, nullable=False),
        sa.Column("used", sa.Integer, nullable=False),
        sa.Column("closed", sa.Boolean, nullable=False),
    )

    op.create_table(
        "gw_subscribers",
        sa.Column("openid", sa.String(64), primary_key=True),
        sa.Column("subscribed", sa.Boolean, nullable=False),
        sa.Column("scene", sa.String(128), nullable=True),
        sa.Column("subscribed_at", _utc(), nullable=True),
        sa.Column("unsubscribed_at", _utc(), nullable=True),
    )

    op.create_table(
        "gw_handoff_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("openid", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("queue", sa.String(16), nullable=False),
        sa.Column("summary", sa.Text, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
    )
    op.create_index("ix_gw_handoff_requests_openid", "gw_handoff_requests", ["openid"])


def downgrade() -> None:
    op.drop_index("ix_gw_handoff_requests_openid", table_name="gw_handoff_requests")
    op.drop_table("gw_handoff_requests")
    op.drop_table("gw_subscribers")
    op.drop_table("gw_cs_windows")
    op.drop_index("ix_gw_outbox_openid_id", table_name="gw_outbox")
    op.drop_index("ix_gw_outbox_status_due", table_name="gw_outbox")
    op.drop_table("gw_outbox")
    op.drop_index("ix_gw_inbox_status_due", table_name="gw_inbox")
    op.drop_index("ix_gw_inbox_openid_seq", table_name="gw_inbox")
    op.drop_table("gw_inbox")
