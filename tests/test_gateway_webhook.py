"""The WeChat endpoint through real HTTP: protocol checks, passive replies, events, message types.

Rasa is the fake from gateway_fixtures here (canned answers); see test_gateway_e2e.py for the
real assistant.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
from gateway_fixtures import (
    TOKEN,
    clean_gateway_tables,
    eventually,
    fake_rasa,
    gateway,
    gateway_settings,
    http,
    openid,
    plain_gateway,
    standin,
)
from sqlalchemy import func, select

from core.conversations import conversations, who_answers
from core.tickets import tickets
from core.vocabulary import Answerer
from gateway.ports import HANDOFF_RECORDED
from gateway.processor import AFTER_PASSIVE_DELAY
from gateway.store import inbox, subscribers
from wechat.protocol import sign
from wechat.simulator import PushClient, build_xml


async def inbox_rows(engine, openid: str) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(inbox).where(inbox.c.openid == openid)) or 0)


async def test_server_verification_echoes_only_with_a_valid_signature(gateway, http: aiohttp.ClientSession) -> None:
    ts, nonce = str(int(time.time())), "n0nce"
    good = {"signature": sign(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce, "echostr": "hello-echo"}
    async with http.get(f"{gateway.url}/wechat", params=good) as response:
        assert response.status == 200
        assert await response.text() == "hello-echo"
    async with http.get(f"{gateway.url}/wechat", params={**good, "signature": "0" * 40}) as response:
        assert response.status == 403


async def test_aes_text_push_gets_an_encrypted_passive_reply(gateway, fake_rasa, openid: str) -> None:
    result = await gateway.aes.text(openid, "你好")
    assert result.status == 200
    assert result.encrypted_reply, result.body
    assert "你好" not in result.body  # the reply travels encrypted
    assert result.reply == "收到：你好"
    assert fake_rasa.turns_for(openid) == ["你好"]
    assert fake_rasa.turns[-1]["metadata"]["channel"] == "wechat"


async def test_plain_mode_push_gets_a_plain_reply(plain_gateway, openid: str) -> None:
    result = await plain_gateway.plain.text(openid, "在吗")
    assert result.status == 200
    assert not result.encrypted_reply
    assert result.reply == "收到：在吗"
    assert f"<ToUserName><![CDATA[{openid}]]></ToUserName>" in result.body


async def test_wrong_signature_is_refused_and_nothing_is_processed(
    gateway, plain_gateway, fake_rasa, openid: str
) -> None:
    for client in (gateway.aes, plain_gateway.plain):
        result = await client.push(client.text_fields(openid, "查余额"), tamper_signature=True)
        assert result.status == 403
    assert await inbox_rows(gateway.runtime.context.engine, openid) == 0
    assert fake_rasa.turns_for(openid) == []


async def test_signature_over_the_ciphertext_is_what_counts_in_safe_mode(gateway, http, openid: str) -> None:
    """A correct `signature` with a wrong `msg_signature` must still be refused (the classic bug)."""
    client = gateway.aes
    result = await client.push(client.text_fields(openid, "hi"), tamper_signature=True)
    assert result.status == 403


async def test_old_timestamps_are_refused_as_replays(gateway, openid: str) -> None:
    result = await gateway.aes.push(gateway.aes.text_fields(openid, "hi"), timestamp=int(time.time()) - 301)
    assert result.status == 403
    result = await gateway.aes.push(gateway.aes.text_fields(openid, "hi"), timestamp=int(time.time()) - 200)
    assert result.status == 200


async def test_oversized_body_gets_413(gateway, openid: str) -> None:
    fields = gateway.plain.text_fields(openid, "长" * 40_000)
    result = await gateway.plain.push(fields)
    assert result.status == 413


async def test_entities_and_doctypes_are_refused(plain_gateway, openid: str) -> None:
    billion_laughs = (
        '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        f"<xml><ToUserName>gh</ToUserName><FromUserName>{openid}</FromUserName>"
        "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&b;</Content><MsgId>1</MsgId></xml>"
    ).encode()
    external = (
        '<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        f"<xml><FromUserName>{openid}</FromUserName><Content>&x;</Content></xml>"
    ).encode()
    for body in (billion_laughs, external):
        result = await plain_gateway.plain.push(plain_gateway.plain.text_fields(openid, "x"), raw_body=body)
        assert result.status == 400


async def test_malformed_bodies_get_400_not_a_crash(plain_gateway, openid: str) -> None:
    bodies = [
        b"not xml at all",
        b"<xml><unclosed></xml>",
        b"<root><FromUserName>x</FromUserName></root>",
        build_xml({"ToUserName": "gh", "MsgType": "text", "Content": "no sender", "CreateTime": 1}).encode(),
        build_xml({"ToUserName": "gh", "FromUserName": openid, "MsgType": "text", "CreateTime": "soon"}).encode(),
        "<xml><Content>\udcff</Content></xml>".encode("utf-8", "surrogateescape"),
    ]
    for body in bodies:
        result = await plain_gateway.plain.push(plain_gateway.plain.text_fields(openid, "x"), raw_body=body)
        assert result.status == 400, body
    # and the gateway still works
    assert (await plain_gateway.plain.text(openid, "还在吗")).reply == "收到：还在吗"


async def test_aes_push_that_does_not_decrypt_gets_400(gateway, http, openid: str) -> None:
    ts, nonce = str(int(time.time())), "abc"
    garbage = "bm90IGEgY2lwaGVydGV4dA=="
    query = {
        "timestamp": ts,
        "nonce": nonce,
        "signature": sign(TOKEN, ts, nonce),
        "encrypt_type": "aes",
        "msg_signature": sign(TOKEN, ts, nonce, garbage),
    }
    body = build_xml({"ToUserName": "gh", "Encrypt": garbage})
    async with http.post(f"{gateway.url}/wechat", params=query, data=body) as response:
        assert response.status == 400


async def test_several_rasa_messages_first_passive_rest_through_the_api_in_order(gateway, standin, openid: str) -> None:
    state, _ = standin
    pushed_at = time.time()  # before the push: the passive answer, and the delay, start after it
    result = await gateway.aes.text(openid, "多条回复")
    assert result.reply == "第1条"
    texts = await eventually(lambda: state.texts_to(openid) if len(state.texts_to(openid)) >= 2 else None)
    assert texts == ["第2条", "第3条"]
    # the rest waits a moment so that the passive first part reaches the subscriber first
    first_api = state.messages_to(openid)[0]["received_at"]
    assert first_api >= pushed_at + AFTER_PASSIVE_DELAY.total_seconds() - 0.01


async def test_subscribe_greets_and_records_the_qr_scene(gateway, fake_rasa, standin, openid: str) -> None:
    client = gateway.aes
    result = await client.push(client.event_fields(openid, "subscribe", "qrscene_hall_042"))
    assert result.reply is not None and "1. 查余额" in result.reply
    assert fake_rasa.turns_for(openid) == ["/greet"]
    assert fake_rasa.turns[-1]["metadata"]["scene"] == "hall_042"
    async with gateway.runtime.context.engine.connect() as conn:
        row = (await conn.execute(select(subscribers).where(subscribers.c.openid == openid))).one()
    assert row.subscribed and row.scene == "hall_042"

    result = await client.push(client.event_fields(openid, "unsubscribe"))
    assert result.status == 200 and result.body == "success"
    async with gateway.runtime.context.engine.connect() as conn:
        row = (await conn.execute(select(subscribers).where(subscribers.c.openid == openid))).one()
    assert not row.subscribed and row.unsubscribed_at is not None
    assert fake_rasa.turns_for(openid) == ["/greet"]  # nothing sent to Rasa for the unsubscribe
    assert standin[0].messages_to(openid) == []


async def test_menu_clicks_become_intent_triggers(gateway, fake_rasa, openid: str) -> None:
    client = gateway.aes
    for key in ("CHECK_BALANCE", "TOP_UP", "CHECK_PLAN"):
        result = await client.push(client.event_fields(openid, "CLICK", key))
        assert result.status == 200
        await asyncio.sleep(1.01)  # events are keyed on (openid, CreateTime, Event): one click per second
    assert fake_rasa.turns_for(openid) == ["/check_balance", "/top_up", "/check_plan"]
    result = await client.push(client.event_fields(openid, "CLICK", "NO_SUCH_KEY"))
    assert result.reply is not None and "菜单暂时不可用" in result.reply


async def test_locations_and_photos_reach_the_assistant_as_triggers(gateway, fake_rasa, openid: str) -> None:
    # a fault report waiting for "where" takes a WeChat location (issue 12); a link still does not
    client = gateway.aes
    image = client._fields(openid, "image", PicUrl="http://example.invalid/p.jpg", MediaId="m1", MsgId=77)
    location = client._fields(openid, "location", Location_X="23.1", Location_Y="113.3", Scale="15",
                              Label="广州", MsgId=78)  # fmt: skip
    for fields in (image, location):
        result = await client.push(fields)
        assert result.reply is not None and "收到：/shared_" in result.reply
    assert fake_rasa.turns_for(openid) == ["/shared_image", "/shared_location"]
    shared = [turn["metadata"] for turn in fake_rasa.turns if turn["sender"] == openid]
    assert shared[0]["pic_url"] == "http://example.invalid/p.jpg"
    assert (shared[1]["label"], shared[1]["latitude"], shared[1]["longitude"]) == ("广州", "23.1", "113.3")
    link = client._fields(openid, "link", Title="t", Url="http://example.invalid/", MsgId=79)
    result = await client.push(link)
    assert result.reply is not None and "文字和语音" in result.reply


async def test_handoff_payload_becomes_a_callback_promise_in_the_conversation_record(gateway, openid: str) -> None:
    """Without handoff/ nobody can be connected: the request is a call-back promise with its ticket,
    in the one conversation record, and the assistant goes on answering."""
    result = await gateway.aes.text(openid, "人工")
    assert result.reply == "好的，正在为您转接人工客服。"
    engine = gateway.runtime.context.engine
    async with engine.connect() as conn:
        rows = (await conn.execute(select(conversations).where(conversations.c.openid == openid))).all()
        promised = (await conn.execute(select(tickets).where(tickets.c.openid == openid))).all()
    assert [(row.reason, row.queue, row.summary, row.status, row.close_reason) for row in rows] == [
        ("request_human", "general", "用户要求人工", "closed", "callback")
    ]
    assert [(t.kind, t.status, t.chat_id, t.created_by) for t in promised] == [
        ("callback", "open", rows[0].id, "gateway")
    ]
    assert await who_answers(engine, openid) is Answerer.BOT


async def test_voice_uses_wechat_recognition_or_records_a_handoff(gateway, fake_rasa, standin, openid: str) -> None:
    client = gateway.aes
    result = await client.push(client.voice_fields(openid, "media-1", recognition="查一下余额"))
    assert result.reply == "收到：查一下余额"
    assert fake_rasa.turns[-1]["metadata"]["source"] == "voice"

    result = await client.push(client.voice_fields(openid, "media-2"))
    assert result.reply is not None and "语音已收到" in result.reply
    texts = await eventually(lambda: standin[0].texts_to(openid))
    assert texts == [HANDOFF_RECORDED]
    async with gateway.runtime.context.engine.connect() as conn:
        reasons = (
            (await conn.execute(select(conversations.c.reason).where(conversations.c.openid == openid))).scalars().all()
        )
    assert reasons == ["voice_unrecognised"]


async def test_push_client_and_gateway_agree_on_plain_signatures(http, gateway, openid: str) -> None:
    client = PushClient(http, gateway.url, "not-the-token", "wxtestapp000000001")
    result = await client.text(openid, "hi")
    assert result.status == 403
