"""gateway: per-subscriber voice-reply preference (gw_voice_prefs)

Revision ID: gateway_0003_voice_pref
Revises: gateway_0002_notice_consent
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "gateway_0003_voice_pref"
down_revision = "gateway_0002_notice_consent"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gw_voice_prefs",
        sa.Column("openid", sa.String(64), primary_key=True),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("gw_voice_prefs")
