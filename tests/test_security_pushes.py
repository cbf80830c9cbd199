"""Issue 9.1: forged or replayed pushes.

A plain-mode signature covers token, timestamp and nonce only, not the body: with one observed
push URL anyone could send any body as any openid. So a safe-mode account takes AES pushes only,
each (timestamp, nonce) carries one message, the query's openid must be the sender, signatures
are checked before any XML is parsed, and bodies are UTF-8.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import replace

import aiohttp
from gateway_fixtures import (
    AES_KEY,
    APP_ID,
    TOKEN,
    clean_gateway_tables,
    fake_rasa,
    gateway,
    gateway_settings,
    http,
    openid,
    plain_gateway,
    standin,
    start_gateway,
)
from sqlalchemy import func, select

from gateway.store import inbox
from wechat.protocol import encrypt_for_push, sign
from wechat.simulator import build_xml, new_msg_id

__all__ = ["clean_gateway_tables", "fake_rasa", "gateway", "gateway_settings", "http", "plain_gateway", "standin"]


def text_xml(openid: str, content: str) -> str:
    return build_xml({"ToUserName": "gh_test", "FromUserName": openid, "CreateTime": int(time.time()),
                      "MsgType": "text", "Content": content, "MsgId": new_msg_id()})  # fmt: skip


def plain_query(openid: str, ts: str | None = None, nonce: str | None = None) -> dict[str, str]:
    ts = ts or str(int(time.time()))
    nonce = nonce or secrets.token_hex(8)
    return {"timestamp": ts, "nonce": nonce, "signature": sign(TOKEN, ts, nonce), "openid": openid}


async def post(http: aiohttp.ClientSession, url: str, query: dict[str, str], body: bytes) -> tuple[int, str]:
    async with http.post(f"{url}/wechat", params=query, data=body) as response:
        return response.status, await response.text()


async def rows(engine, openid: str) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(inbox).where(inbox.c.openid == openid)) or 0)


async def test_safe_mode_account_refuses_plain_pushes(gateway, http, fake_rasa, openid: str) -> None:
    status, _ = await post(http, gateway.url, plain_query(openid), text_xml(openid, "查余额").encode())
    assert status == 403
    assert await rows(gateway.runtime.context.engine, openid) == 0
    assert fake_rasa.turns_for(openid) == []
    assert (await gateway.aes.text(openid, "查余额")).reply == "收到：查余额"  # AES pushes still work


async def test_compatible_mode_reads_the_ciphertext_not_the_plain_copy(
    gateway_settings, http, fake_rasa, openid: str
) -> None:
    running = await start_gateway(replace(gateway_settings, require_aes=False), http)
    try:
        ts, nonce = str(int(time.time())), secrets.token_hex(8)
        encrypted = encrypt_for_push(AES_KEY, APP_ID, text_xml(openid, "查余额"))
        # Compatible mode: the plain copy travels beside the ciphertext; a forger edits the copy.
        body = build_xml({"ToUserName": "gh_test", "FromUserName": openid, "CreateTime": int(time.time()),
                          "MsgType": "text", "Content": "给别人充值", "MsgId": 1, "Encrypt": encrypted})  # fmt: skip
        query = {**plain_query(openid, ts, nonce), "encrypt_type": "aes",
                 "msg_signature": sign(TOKEN, ts, nonce, encrypted)}  # fmt: skip
        status, _ = await post(http, running.url, query, body.encode())
        assert status == 200
        assert fake_rasa.turns_for(openid) == ["查余额"]
        # ... and a plain push is still taken in compatible mode (that is what the mode means)
        assert (await running.plain.text(openid, "在吗")).status == 200
    finally:
        await running.stop()


async def test_a_timestamp_and_nonce_carry_one_message_only(plain_gateway, http, fake_rasa, openid: str) -> None:
    query = plain_query(openid)
    first = text_xml(openid, "查余额").encode()
    assert (await post(http, plain_gateway.url, query, first))[0] == 200
    # The same URL with another body (another message, or another sender) is refused ...
    status, _ = await post(http, plain_gateway.url, query, text_xml(openid, "充值500").encode())
    assert status == 403
    victim = "o" + secrets.token_hex(13) + "x"
    status, _ = await post(http, plain_gateway.url, {**query, "openid": victim}, text_xml(victim, "余额").encode())
    assert status == 403
    # ... while the same push again (WeChat's retry) is still just a duplicate.
    assert (await post(http, plain_gateway.url, query, first))[0] == 200
    assert fake_rasa.turns_for(openid) == ["查余额"]
    assert fake_rasa.turns_for(victim) == []


async def test_query_openid_must_be_the_sender(plain_gateway, gateway, http, fake_rasa, openid: str) -> None:
    victim = "o" + secrets.token_hex(13) + "v"
    status, _ = await post(http, plain_gateway.url, plain_query(openid), text_xml(victim, "查余额").encode())
    assert status == 403
    status, _ = await post(http, plain_gateway.url, {k: v for k, v in plain_query(openid).items() if k != "openid"},
                           text_xml(openid, "查余额").encode())  # fmt: skip
    assert status == 403
    # safe mode too: the decrypted sender must match
    ts, nonce = str(int(time.time())), secrets.token_hex(8)
    encrypted = encrypt_for_push(AES_KEY, APP_ID, text_xml(victim, "查余额"))
    query = {
        **plain_query(openid, ts, nonce),
        "encrypt_type": "aes",
        "msg_signature": sign(TOKEN, ts, nonce, encrypted),
    }
    status, _ = await post(http, gateway.url, query, build_xml({"ToUserName": "gh", "Encrypt": encrypted}).encode())
    assert status == 403
    assert fake_rasa.turns_for(victim) == []


async def test_signature_is_checked_before_any_xml_is_parsed(gateway, http, openid: str) -> None:
    ts, nonce = str(int(time.time())), secrets.token_hex(8)
    query = {"timestamp": ts, "nonce": nonce, "signature": "0" * 40, "encrypt_type": "aes",
             "msg_signature": "0" * 40, "openid": openid}  # fmt: skip
    for body in (b"<xml><unclosed>", b'<!DOCTYPE x [<!ENTITY a "b">]><xml/>', b"\xff\xfe<\x00"):
        status, _ = await post(http, gateway.url, query, body)
        assert status == 403, body


async def test_only_utf8_bodies_are_taken(plain_gateway, http, fake_rasa, openid: str) -> None:
    latin = ('<?xml version="1.0" encoding="ISO-8859-1"?>' + text_xml(openid, "caf\u00e9")).encode("latin-1")
    gbk = text_xml(openid, "查余额").encode("gbk")
    for body in (latin, gbk):
        status, text = await post(http, plain_gateway.url, plain_query(openid), body)
        assert status == 400, body
        assert "UTF-8" in text
    assert fake_rasa.turns_for(openid) == []
