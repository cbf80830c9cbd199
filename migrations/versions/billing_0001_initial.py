"""billing: plans, subscribers, usage, bills, top-ups, plan changes, fault tickets, bindings, SMS outbox, audit log

Revision ID: billing_0001
Revises:
Create Date: 2025-01-01
"""

import sqlalchemy as sa
from alembic import op

revision = "billing_0001"
down_revision = None
branch_labels = ("billing",)
depends_on = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("monthly_fee_fen", sa.BigInteger, nullable=False),
        sa.Column("data_mb", sa.Integer, nullable=False),
        sa.Column("voice_minutes", sa.Integer, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("elder_friendly", sa.Boolean, nullable=False),
        sa.Column("requires_in_person", sa.Boolean, nullable=False),
        sa.Column("available", sa.Boolean, nullable=False),
    )
    op.create_table(
        "subscribers",
        sa.Column("phone", sa.String(20), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("birth_date", sa.Date, nullable=False),
        sa.Column("plan_code", sa.String(32), sa.ForeignKey("plans.code"), nullable=False),
        sa.Column("pending_plan_code", sa.String(32), sa.ForeignKey("plans.code"), nullable=True),
        sa.Column("pending_plan_effective", sa.Date, nullable=True),
        sa.Column("balance_fen", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("suspend_reason", sa.String(32), nullable=True),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("dialect", sa.String(32), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
    )
    op.create_table(
        "usage_records",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("phone", sa.String(20), sa.ForeignKey("subscribers.phone"), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("plan_code", sa.String(32), sa.ForeignKey("plans.code"), nullable=True),
        sa.Column("data_used_mb", sa.Integer, nullable=False),
        sa.Column("voice_used_minutes", sa.Integer, nullable=False),
        sa.UniqueConstraint("phone", "month", name="uq_usage_records_phone_month"),
    )
    op.create_table(
        "bill_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("phone", sa.String(20), sa.ForeignKey("subscribers.phone"), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("line_no", sa.Integer, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("phone", "month", "line_no", name="uq_bill_items_phone_month_line"),
    )
    op.create_table(
        "topup_orders",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("order_no", sa.String(32), nullable=False, unique=True),
        sa.Column("phone", sa.String(20), sa.ForeignKey("subscribers.phone"), nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("paid_at", _utc(), nullable=True),
        sa.Column("balance_after_fen", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_topup_orders_phone", "topup_orders", ["phone"])
    op.create_table(
        "plan_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("phone", sa.String(20), sa.ForeignKey("subscribers.phone"), nullable=False),
        sa.Column("from_plan", sa.String(32), nullable=False),
        sa.Column("to_plan", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_at", _utc(), nullable=False),
        sa.Column("effective_date", sa.Date, nullable=False),
    )
    op.create_index("ix_plan_changes_phone", "plan_changes", ["phone"])
    op.create_table(
        "fault_tickets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ticket_no", sa.String(32), nullable=False, unique=True),
        sa.Column("phone", sa.String(20), nullable=True),
        sa.Column("openid", sa.String(64), nullable=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
    )
    op.create_table(
        "bindings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("openid", sa.String(64), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("bound_at", _utc(), nullable=False),
        sa.Column("bound_by", sa.String(64), nullable=False),
        sa.UniqueConstraint("openid", "phone", name="uq_bindings_openid_phone"),
    )
    op.create_index("ix_bindings_phone", "bindings", ["phone"])
    op.create_table(
        "binding_states",
        sa.Column("openid", sa.String(64), primary_key=True),
        sa.Column("pending_phone", sa.String(20), nullable=True),
        sa.Column("code_hash", sa.String(128), nullable=True),
        sa.Column("code_expires_at", _utc(), nullable=True),
        sa.Column("failed_attempts", sa.Integer, nullable=False),
        sa.Column("locked_until", _utc(), nullable=True),
        sa.Column("last_sent_at", _utc(), nullable=True),
    )
    op.create_table(
        "sms_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
    )
    op.create_index("ix_sms_outbox_phone", "sms_outbox", ["phone"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("openid", sa.String(64), nullable=True),
        sa.Column("phone", sa.String(20), nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
    )
    op.create_index("ix_audit_log_phone", "audit_log", ["phone"])
    op.create_index("ix_audit_log_openid", "audit_log", ["openid"])


def downgrade() -> None:
    for index, table in [
        ("ix_audit_log_openid", "audit_log"),
        ("ix_audit_log_phone", "audit_log"),
        ("ix_sms_outbox_phone", "sms_outbox"),
        ("ix_bindings_phone", "bindings"),
        ("ix_plan_changes_phone", "plan_changes"),
        ("ix_topup_orders_phone", "topup_orders"),
    ]:
        op.drop_index(index, table_name=table)
    for table in [
        "audit_log",
        "sms_outbox",
        "binding_states",
        "bindings",
        "fault_tickets",
        "plan_changes",
        "topup_orders",
        "bill_items",
        "usage_records",
        "subscribers",
        "plans",
    ]:
        op.drop_table(table)
