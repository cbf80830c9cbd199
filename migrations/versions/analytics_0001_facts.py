"""analytics: facts from Rasa's event stream (operator figures)

Revision ID: analytics_0001
Revises:
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "analytics_0001"
down_revision = None
branch_labels = ("analytics",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analytics_facts",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("sender_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("detail", sa.Text, nullable=True),
    )
    op.create_index("ix_analytics_facts_sender_ts", "analytics_facts", ["sender_id", "ts"])
    op.create_index("ix_analytics_facts_kind_ts", "analytics_facts", ["kind", "ts"])


def downgrade() -> None:
    op.drop_table("analytics_facts")
