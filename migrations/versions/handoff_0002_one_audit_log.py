"""one audit log: the console's ho_audit_log rows move into audit_log (which gains chat_id)

Revision ID: handoff_0002
Revises: handoff_0001
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "handoff_0002"
down_revision = "handoff_0001"
branch_labels = None
depends_on = "billing_0001"  # audit_log is created there

COLUMNS = "at, actor, action, openid, phone, chat_id, detail"


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as table:
        table.add_column(sa.Column("chat_id", sa.Integer, nullable=True))
        table.alter_column("action", type_=sa.String(48), existing_type=sa.String(32), existing_nullable=False)
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.execute(f"INSERT INTO audit_log ({COLUMNS}) SELECT {COLUMNS} FROM ho_audit_log ORDER BY id")
    op.drop_index("ix_ho_audit_log_at", table_name="ho_audit_log")
    op.drop_table("ho_audit_log")


def downgrade() -> None:
    op.create_table(
        "ho_audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(48), nullable=False),
        sa.Column("openid", sa.String(64), nullable=True),
        sa.Column("phone", sa.String(20), nullable=True),
        sa.Column("chat_id", sa.Integer, nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
    )
    op.create_index("ix_ho_audit_log_at", "ho_audit_log", ["at"])
    # The console's entries: about a chat, or the agent actions that may concern none.
    console_rows = (
        "chat_id IS NOT NULL OR action = 'reveal_phone' OR action LIKE 'task_%' OR action LIKE 'green_channel_%'"
    )
    op.execute(f"INSERT INTO ho_audit_log ({COLUMNS}) SELECT {COLUMNS} FROM audit_log WHERE {console_rows} ORDER BY id")
    op.execute(f"DELETE FROM audit_log WHERE {console_rows}")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    with op.batch_alter_table("audit_log") as table:
        table.drop_column("chat_id")
        table.alter_column("action", type_=sa.String(32), existing_type=sa.String(48), existing_nullable=False)
