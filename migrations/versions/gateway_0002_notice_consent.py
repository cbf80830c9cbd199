"""gateway: notices outside the 48-hour window (gw_notices), subscription-notice consents, outbox channels

Revision ID: gateway_0002_notice_consent
Revises: gateway_0001
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "gateway_0002_notice_consent"
down_revision = "gateway_0001"
branch_labels = None
depends_on = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("gw_outbox") as batch:
        batch.add_column(sa.Column("channel", sa.String(16), nullable=False, server_default="custom"))
        batch.add_column(sa.Column("notice_id", sa.Integer, nullable=True))

    op.create_table(
        "gw_notices",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dedup_key", sa.String(128), nullable=False),
        sa.Column("openid", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("channel", sa.String(16), nullable=True),
        sa.Column("template_id", sa.String(128), nullable=True),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("outbox_id", sa.Integer, nullable=True),
        sa.Column("wechat_msgid", sa.String(32), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("finished_at", _utc(), nullable=True),
        sa.UniqueConstraint("dedup_key", name="uq_gw_notices_dedup_key"),
    )
    op.create_index("ix_gw_notices_openid", "gw_notices", ["openid", "id"])
    op.create_index("ix_gw_notices_status", "gw_notices", ["status", "id"])

    op.create_table(
        "gw_notice_consents",
        sa.Column("openid", sa.String(64), primary_key=True),
        sa.Column("template_id", sa.String(128), primary_key=True),
        sa.Column("remaining", sa.Integer, nullable=False),
        sa.Column("long_term", sa.Boolean, nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("gw_notice_consents")
    op.drop_index("ix_gw_notices_status", table_name="gw_notices")
    op.drop_index("ix_gw_notices_openid", table_name="gw_notices")
    op.drop_table("gw_notices")
    with op.batch_alter_table("gw_outbox") as batch:
        batch.drop_column("notice_id")
        batch.drop_column("channel")
