"""voice: stored copies of voice notes with their transcripts

Revision ID: voice_0001
Revises:
Create Date: 2025-01-01
"""

import sqlalchemy as sa
from alembic import op

revision = "voice_0001"
down_revision = None
branch_labels = ("voice",)
depends_on = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "voice_media",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("openid", sa.String(64), nullable=False),
        sa.Column("media_id", sa.String(128), nullable=False),
        sa.Column("msg_key", sa.String(64), nullable=True),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("path", sa.String(512), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("size_bytes", sa.Integer, nullable=True),
        sa.Column("duration_s", sa.Float, nullable=True),
        sa.Column("transcript", sa.Text, nullable=True),
        sa.Column("confidence", sa.Float, nullable=True),
        sa.Column("source", sa.String(16), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("transcribed_at", _utc(), nullable=True),
        sa.UniqueConstraint("media_id", name="uq_voice_media_media_id"),
    )
    op.create_index("ix_voice_media_openid_created", "voice_media", ["openid", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_voice_media_openid_created", table_name="voice_media")
    op.drop_table("voice_media")
