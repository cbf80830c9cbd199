"""The newcomer's set-up: SQLite and the in-process Redis stand-in (no DATABASE_URL, no REDIS_URL)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from gateway_fixtures import (
    clean_gateway_tables,
    eventually,
    fake_rasa,
    gateway_settings,
    http,
    openid,
    standin,
    start_gateway,
    with_settings,
)

from core.db import upgrade_database
from core.redact import RedactingFilter, mask_openid


async def test_gateway_works_on_sqlite_with_the_in_process_redis(
    gateway_settings, fake_rasa, standin, http, openid: str, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    await asyncio.to_thread(upgrade_database, url)
    gateway = await start_gateway(with_settings(gateway_settings, database_url=url, redis_url=None), http)
    try:
        assert (await gateway.aes.text(openid, "你好")).reply == "收到：你好"
        fields = gateway.aes.text_fields(openid, "慢一点")
        fake_rasa.delay_s = 5.0
        first, retry = await asyncio.gather(gateway.aes.push(fields), gateway.aes.push(fields))
        assert (first.body, retry.body) == ("success", "success")
        assert await eventually(lambda: standin[0].texts_to(openid)) == ["收到：慢一点"]
        assert fake_rasa.turns_for(openid) == ["你好", "慢一点"]
        async with http.get(f"{gateway.url}/healthz") as response:
            assert response.status == 200
    finally:
        await gateway.stop()


def test_log_records_never_show_phone_numbers_or_openids() -> None:
    openid = "oAbCdEfGhIjKlMnOpQrStUvWxYz1"
    try:
        raise ValueError(f"lookup failed for {openid} / 13800000001")
    except ValueError as exc:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "subscriber %s phone %s", (openid, "13900001234"),
                                   (type(exc), exc, exc.__traceback__))  # fmt: skip
    assert RedactingFilter().filter(record)
    text = logging.Formatter().format(record)
    assert openid not in text and "13800000001" not in text and "13900001234" not in text
    assert "139****1234" in text and "138****0001" in text  # in the message and in the traceback
    assert text.count(mask_openid(openid)) == 2
