"""Gateways as real processes sharing PostgreSQL and Redis: one push processed once; crashes lose nothing."""

from __future__ import annotations

import asyncio
import time

import pytest
from gateway_fixtures import (
    clean_gateway_tables,
    eventually,
    fake_rasa,
    gateway_settings,
    http,
    no_gateway_process_left,
    openid,
    spawn_gateway,
    standin,
    with_settings,
)
from sqlalchemy import select

from gateway.store import inbox, outbox
from wechat.simulator import PushClient

pytestmark = pytest.mark.usefixtures("no_gateway_process_left")


def client_for(url: str, settings, http) -> PushClient:
    return PushClient(http, url, settings.wechat_token, settings.app_id, settings.aes_key)


async def test_two_gateway_processes_given_the_same_push_process_it_once(
    gateway_settings, fake_rasa, standin, http, openid: str
) -> None:
    first, second = await asyncio.gather(spawn_gateway(gateway_settings), spawn_gateway(gateway_settings))
    try:
        a, b = client_for(first.url, gateway_settings, http), client_for(second.url, gateway_settings, http)
        fake_rasa.delay_s = 0.5
        fields = a.text_fields(openid, "查余额")
        results = await asyncio.gather(a.push(fields), b.push(fields), a.push(fields), b.push(fields))
        assert [r.status for r in results] == [200] * 4
        assert {r.reply for r in results} == {"收到：查余额"}
        # and a slow one: both answer `success` in time, one reply goes out through the API
        fake_rasa.delay_s = 6.0
        fields = a.text_fields(openid, "我的套餐")
        results = await asyncio.gather(a.push(fields), b.push(fields))
        assert [r.body for r in results] == ["success", "success"]
        assert all(r.elapsed_s < 4.5 for r in results)
        await eventually(lambda: standin[0].texts_to(openid))
        await asyncio.sleep(1.0)
        assert standin[0].texts_to(openid) == ["收到：我的套餐"]
        assert fake_rasa.turns_for(openid) == ["查余额", "我的套餐"]
    finally:
        await asyncio.gather(first.stop(), second.stop())


async def test_an_owed_reply_is_sent_after_the_gateway_is_killed_and_restarted(
    gateway_settings, fake_rasa, standin, http, engine, openid: str
) -> None:
    """Acknowledged with `success`, reply written to the outbox, WeChat's API failing: kill -9, restart."""
    state = standin[0]
    state.inject("/cgi-bin/message/custom/send", status=503, times=1000)
    settings = with_settings(gateway_settings, outbox_lease_s=2.0)
    gateway = await spawn_gateway(settings)
    fake_rasa.delay_s = 5.0
    result = await client_for(gateway.url, settings, http).text(openid, "充值")
    assert result.body == "success"

    async def owed_and_tried() -> bool:
        async with engine.connect() as conn:
            row = (await conn.execute(select(outbox).where(outbox.c.openid == openid))).first()
        return row is not None and row.attempts >= 1

    await eventually(owed_and_tried)
    await gateway.kill()
    assert state.texts_to(openid) == []  # nothing was delivered before the crash

    state.faults.clear()  # WeChat's API is back
    restarted = await spawn_gateway(settings)
    try:
        await eventually(lambda: state.texts_to(openid))
        await asyncio.sleep(1.0)
        assert state.texts_to(openid) == ["收到：充值"]
        assert fake_rasa.turns_for(openid) == ["充值"]
    finally:
        await restarted.stop()


async def test_a_message_whose_dialogue_was_cut_by_a_crash_is_answered_after_restart(
    gateway_settings, fake_rasa, standin, http, engine, openid: str
) -> None:
    """Killed after answering `success`, while Rasa was still thinking: the row's lease runs out, it is
    processed again by the new process and answered once."""
    settings = with_settings(gateway_settings, rasa_timeout_s=6.0, inbox_lease_s=7.0)
    gateway = await spawn_gateway(settings)
    fake_rasa.delay_s = 5.0
    started = time.monotonic()
    result = await client_for(gateway.url, settings, http).text(openid, "我要换套餐")
    assert result.body == "success"
    await gateway.kill()
    fake_rasa.delay_s = 0.0
    async with engine.connect() as conn:
        status = await conn.scalar(select(inbox.c.status).where(inbox.c.openid == openid))
    assert status == "processing"  # leased by the dead process

    restarted = await spawn_gateway(settings)
    try:
        await eventually(lambda: standin[0].texts_to(openid))
        assert time.monotonic() - started >= 7.0  # not before the dead worker's lease ran out
        await asyncio.sleep(1.0)
        assert standin[0].texts_to(openid) == ["收到：我要换套餐"]
    finally:
        await restarted.stop()
