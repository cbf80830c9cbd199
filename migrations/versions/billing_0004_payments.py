"""billing: WeChat Pay payments of top-ups and the notifications received

Revision ID: billing_0004
Revises: billing_0003_phone_limits
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "billing_0004"
down_revision = "billing_0003_phone_limits"
branch_labels = None
depends_on = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "payment_orders",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("order_no", sa.String(32), nullable=False, unique=True),
        sa.Column("payer_openid", sa.String(64), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("for_other", sa.Boolean, nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("pay_token", sa.String(64), nullable=False, unique=True),
        sa.Column("prepay_id", sa.String(64), nullable=True),
        sa.Column("prepay_at", _utc(), nullable=True),
        sa.Column("transaction_id", sa.String(64), nullable=True, unique=True),
        sa.Column("paid_at", _utc(), nullable=True),
        sa.Column("balance_after_fen", sa.BigInteger, nullable=True),
        sa.Column("receipt_at", _utc(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
    )
    op.create_index("ix_payment_orders_payer", "payment_orders", ["payer_openid"])
    op.create_table(
        "payment_notifications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("transaction_id", sa.String(64), nullable=False),
        sa.Column("order_no", sa.String(32), nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("outcome", sa.String(24), nullable=False),
        sa.Column("received_at", _utc(), nullable=False),
    )
    op.create_index("ix_payment_notifications_transaction", "payment_notifications", ["transaction_id"])


def downgrade() -> None:
    op.drop_index("ix_payment_notifications_transaction", table_name="payment_notifications")
    op.drop_table("payment_notifications")
    op.drop_index("ix_payment_orders_payer", table_name="payment_orders")
    op.drop_table("payment_orders")
