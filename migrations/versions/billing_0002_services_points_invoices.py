"""billing: value-added services, charges as they happen, points, e-invoices of top-ups

Revision ID: billing_0002
Revises: billing_0001
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "billing_0002"
down_revision = "billing_0001"
branch_labels = None
depends_on = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "vas_catalog",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("monthly_fee_fen", sa.BigInteger, nullable=False),
        sa.Column("aliases", sa.JSON, nullable=False),
        sa.Column("available", sa.Boolean, nullable=False),
    )
    op.create_table(
        "vas_subscriptions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("phone", sa.String(20), sa.ForeignKey("subscribers.phone"), nullable=False),
        sa.Column("service_code", sa.String(32), sa.ForeignKey("vas_catalog.code"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("since", sa.Date, nullable=False),
        sa.Column("renew_day", sa.Integer, nullable=False),
        sa.Column("cancelled_at", _utc(), nullable=True),
        sa.Column("cancelled_by", sa.String(64), nullable=True),
        sa.UniqueConstraint("phone", "service_code", name="uq_vas_subscriptions_phone_service"),
    )
    op.create_table(
        "charges",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("phone", sa.String(20), sa.ForeignKey("subscribers.phone"), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("charged_on", sa.Date, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("service_code", sa.String(32), nullable=True),
    )
    op.create_index("ix_charges_phone_month", "charges", ["phone", "month"])
    op.create_table(
        "points_accounts",
        sa.Column("phone", sa.String(20), sa.ForeignKey("subscribers.phone"), primary_key=True),
        sa.Column("balance", sa.Integer, nullable=False),
        sa.Column("expiring", sa.Integer, nullable=False),
        sa.Column("expires_on", sa.Date, nullable=True),
    )
    op.create_table(
        "points_rewards",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("available", sa.Boolean, nullable=False),
    )
    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("invoice_no", sa.String(32), nullable=False, unique=True),
        sa.Column("order_no", sa.String(32), sa.ForeignKey("topup_orders.order_no"), nullable=False, unique=True),
        sa.Column("issued_at", _utc(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("invoices")
    op.drop_table("points_rewards")
    op.drop_table("points_accounts")
    op.drop_index("ix_charges_phone_month", table_name="charges")
    op.drop_table("charges")
    op.drop_table("vas_subscriptions")
    op.drop_table("vas_catalog")
