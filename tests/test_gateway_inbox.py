"""The inbox's retry scan: who gets retried first when more subscribers wait than one scan takes."""

from __future__ import annotations

import datetime as dt

from gateway_fixtures import clean_gateway_tables
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.inbox import Inbox
from gateway.store import inbox
from wechat.window import CsWindow, utcnow


async def test_the_retry_scan_takes_the_longest_waiting_subscribers_first(
    engine: AsyncEngine, clean_gateway_tables: None
) -> None:
    now = utcnow()
    waiting = 80
    rows = [
        {
            "msg_key": f"scan-{n}",
            # Insertion order is the reverse of age, so a scan that ignores age returns the youngest.
            "openid": f"scan-openid-{n:03d}",
            "msg_type": "text",
            "message": {},
            "status": "pending",
            "attempts": 1,
            "next_attempt_at": now - dt.timedelta(seconds=1),
            "apologised": True,
            "received_at": now - dt.timedelta(minutes=n),
        }
        for n in range(waiting)
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(inbox), rows)

    scanned = await Inbox(engine, CsWindow(engine), lease_s=15).due_openids(settle_s=0, limit=10)

    assert scanned == [f"scan-openid-{n:03d}" for n in range(waiting - 1, waiting - 11, -1)]
