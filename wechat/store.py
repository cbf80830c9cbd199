"""The table behind the customer-service window (wechat/window.py): one row per subscriber."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table

from core.db import UtcDateTime

metadata = MetaData()

# The 48-hour window and the per-interaction quota of customer-service messages.
cs_windows = Table(
    "gw_cs_windows",
    metadata,
    Column("openid", String(64), primary_key=True),
    Column("last_interaction_at", UtcDateTime, nullable=False),
    Column("quota", Integer, nullable=False),
    Column("used", Integer, nullable=False, default=0),
    Column("closed", Boolean, nullable=False, default=False),  # unsubscribed
)
