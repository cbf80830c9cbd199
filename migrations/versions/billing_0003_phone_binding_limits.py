"""billing: binding budgets per phone number (codes sent, wrong codes), across every openid

Revision ID: billing_0003_phone_limits
Revises: billing_0002
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "billing_0003_phone_limits"
down_revision = "billing_0002"
branch_labels = None
depends_on = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "binding_phone_limits",
        sa.Column("phone", sa.String(20), primary_key=True),
        sa.Column("window_started_at", _utc(), nullable=True),
        sa.Column("codes_sent", sa.Integer, nullable=False),
        sa.Column("wrong_codes", sa.Integer, nullable=False),
        sa.Column("locked_until", _utc(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("binding_phone_limits")
