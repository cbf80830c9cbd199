"""Tables of what WeChat allows us to send: the customer-service window (wechat/window.py) and
subscription-notice consents (wechat/consent.py)."""

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

# The subscriber's consent to each subscription-notice template (订阅通知), from consent events.
# `remaining`: one-time notices she allowed and we have not sent; `long_term`: allowed until revoked.
notice_consents = Table(
    "gw_notice_consents",
    metadata,
    Column("openid", String(64), primary_key=True),
    Column("template_id", String(128), primary_key=True),
    Column("remaining", Integer, nullable=False, default=0),
    Column("long_term", Boolean, nullable=False, default=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
