"""elder desk: chats remember the agent the subscriber was told about; satisfaction surveys; the elder user tag per openid

Revision ID: handoff_0003
Revises: handoff_0002
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

revision = "handoff_0003"
down_revision = "handoff_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ho_chats") as table:
        table.add_column(sa.Column("introduced_agent_id", sa.Integer, nullable=True))
    op.create_table(
        "ho_surveys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("chat_id", sa.Integer, sa.ForeignKey("ho_chats.id", ondelete="CASCADE"), nullable=False, unique=True),
        sa.Column("openid", sa.String(64), nullable=False),
        sa.Column("queue", sa.String(16), nullable=False),
        sa.Column("is_elder", sa.Boolean, nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered", sa.Boolean, nullable=False),
        sa.Column("closing_text", sa.Text, nullable=True),
        sa.Column("score", sa.Integer, nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_ho_surveys_openid", "ho_surveys", ["openid", "asked_at"])
    op.create_index("ix_ho_surveys_asked", "ho_surveys", ["asked_at"])
    op.create_table(
        "ho_elder_tags",
        sa.Column("openid", sa.String(64), primary_key=True),
        sa.Column("tagged", sa.Boolean, nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ho_elder_tags")
    op.drop_index("ix_ho_surveys_asked", table_name="ho_surveys")
    op.drop_index("ix_ho_surveys_openid", table_name="ho_surveys")
    op.drop_table("ho_surveys")
    with op.batch_alter_table("ho_chats") as table:
        table.drop_column("introduced_agent_id")
