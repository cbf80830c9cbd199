"""Issue 9, item 7: an agent sees her own chats and those waiting in her desk's queues only; views
of transcripts and voice notes are audited; what a subscriber typed while binding (her number,
the SMS code) is masked in the transcript copied from Rasa (aiohttp test server, real
PostgreSQL and Redis)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from aiohttp import web
from handoff_support import MORNING, PASSWORD, Clock, add_agent, build_service, clean_handoff_tables, new_openid
from sqlalchemy import select

from core.audit import audit_log
from handoff.console import setup_console
from handoff.rasa_history import RasaHistory, Turn, turns_from_events
from voice.store import VoiceStore

SPEECH = Path(__file__).resolve().parents[2] / "shared" / "speech" / "real"
NUMBER = "13800000001"


class CannedHistory(RasaHistory):
    """Rasa's tracker events for every openid, without a Rasa server."""

    def __init__(self, events: list[dict]) -> None:
        super().__init__(None, "http://rasa.invalid")
        self.events = events

    async def recent_turns(self, openid: str, limit: int = 30) -> list[Turn]:
        return turns_from_events(self.events, limit)


def binding_events() -> list[dict]:
    at = MORNING.timestamp()
    return [
        {"event": "user", "text": "查话费", "timestamp": at, "parse_data": {"intent": {"name": "check_balance"}}},
        {"event": "bot", "text": "请回复您的11位手机号码", "timestamp": at},
        {"event": "slot", "name": "pending", "value": "bind_phone", "timestamp": at},
        {"event": "user", "text": "138 0000 0001", "timestamp": at, "parse_data": {"intent": {"name": "inform"}}},
        {"event": "bot", "text": "验证码已发送到138****0001，请回复6位验证码", "timestamp": at},
        {"event": "slot", "name": "pending", "value": f"bind_code:{NUMBER}", "timestamp": at},
        {"event": "user", "text": "验证码 ４８２９１７", "timestamp": at, "parse_data": {"intent": {"name": "inform"}}},
        {"event": "slot", "name": "pending", "value": None, "timestamp": at},
        {
            "event": "user",
            "text": f"绑定+86-{NUMBER}",
            "timestamp": at,
            "parse_data": {"intent": {"name": "bind_phone"}},
        },
        {"event": "user", "text": "我要人工", "timestamp": at, "parse_data": {"intent": {"name": "request_human"}}},
    ]


@pytest.fixture
async def desk(seeded_engine, redis, aiohttp_client, tmp_path):
    await clean_handoff_tables(seeded_engine)
    service = build_service(
        seeded_engine,
        redis,
        Clock(MORNING),
        history=CannedHistory(binding_events()),
        voice_store=VoiceStore(seeded_engine, tmp_path / "media"),
    )
    app = web.Application()
    setup_console(app, lambda _parent: service, background=False)
    client = await aiohttp_client(app)
    general = await add_agent(service.store, "张强")
    elder = await add_agent(service.store, "王芳", ("elder",))
    boss = await add_agent(service.store, "李主管", role="supervisor")
    for agent in (general, elder, boss):
        await service.live.heartbeat(agent.id, f"page-{agent.id}")  # online, not taking chats automatically
    chats = {}
    for label, queue in (("waiting_general", "general"), ("waiting_elder", "elder"), ("hers", "general")):
        openid = new_openid(label)
        await service.request_handoff(openid, "request_human", queue, None)
        chats[label] = await service.store.open_chat_for(openid)
        assert chats[label].status == "waiting", label
    await service.take(chats["hers"].id, elder)
    return client, service, chats, {"general": general, "elder": elder, "boss": boss}


async def login(client, name: str) -> str:
    client.session.cookie_jar.clear()
    page = await client.get("/agent/login")
    nonce = re.search(r'name="csrf" value="([^"]+)"', await page.text()).group(1)
    response = await client.post(
        "/agent/login", data={"csrf": nonce, "name": name, "password": PASSWORD}, allow_redirects=False
    )
    assert response.status == 303
    dashboard = await client.get("/agent/")
    return re.search(r'data-csrf="([0-9a-f]+)"', await dashboard.text()).group(1)


async def status(client, path: str) -> int:
    return (await client.get(path, allow_redirects=False)).status


async def audit_rows(service, action: str) -> list[tuple[str, int | None]]:
    async with service.store.engine.connect() as conn:
        rows = await conn.execute(select(audit_log.c.actor, audit_log.c.chat_id).where(audit_log.c.action == action))
        return [(row.actor, row.chat_id) for row in rows]


# ---- who sees which chat -----------------------------------------------------------------------------


async def test_an_agent_sees_her_own_chats_and_her_desks_queue_only(desk):
    client, _, chats, _ = desk
    csrf = await login(client, "张强")  # general desk only
    assert await status(client, f"/agent/chats/{chats['waiting_general'].id}") == 200
    for other in (chats["waiting_elder"], chats["hers"]):  # the elder desk's queue; 王芳's chat
        for path in ("", "/head", "/transcript"):
            assert await status(client, f"/agent/chats/{other.id}{path}") == 404, (other.id, path)
    dashboard = await (await client.get("/agent/")).text()
    assert f'data-chat-row="{chats["waiting_general"].id}"' in dashboard
    assert f'data-chat-row="{chats["waiting_elder"].id}"' not in dashboard
    queue = await (await client.get("/agent/partials/queue", headers={"X-Requested-With": "fetch"})).text()
    assert f'data-chat-row="{chats["waiting_elder"].id}"' not in queue
    # nor can she act on a chat she cannot see
    taken = await client.post(
        f"/agent/chats/{chats['waiting_elder'].id}/take", data={"csrf": csrf}, allow_redirects=False
    )
    assert taken.status == 404
    # the elder desk sees its queue and her own chat; a supervisor sees every chat
    await login(client, "王芳")
    assert await status(client, f"/agent/chats/{chats['hers'].id}") == 200
    assert await status(client, f"/agent/chats/{chats['waiting_elder'].id}") == 200
    await login(client, "李主管")
    for chat in chats.values():
        assert await status(client, f"/agent/chats/{chat.id}") == 200


# ---- audited views ---------------------------------------------------------------------------------


async def test_transcript_views_are_audited(desk):
    client, service, chats, _ = desk
    await login(client, "王芳")
    assert await status(client, f"/agent/chats/{chats['hers'].id}") == 200
    assert await status(client, f"/agent/chats/{chats['hers'].id}/transcript") == 200
    rows = await audit_rows(service, "view_transcript")
    assert ("王芳", chats["hers"].id) in rows


@pytest.mark.skipif(not SPEECH.is_dir(), reason="no speech clips")
async def test_voice_notes_play_only_for_those_who_may_see_the_chat_and_are_audited(desk):
    client, service, chats, _ = desk
    clip = sorted(SPEECH.glob("*.amr"))[0]
    stored = await service.voice_store.save_audio(
        openid=chats["hers"].openid, media_id="media-sec", audio_format="amr", data=clip.read_bytes(), duration_s=None
    )
    await service.store.add_message(
        chats["hers"].id, "subscriber", "voice", dt.datetime.now(dt.timezone.utc), audio_id=stored.id
    )
    await login(client, "张强")
    assert await status(client, f"/agent/audio/{stored.id}") == 404
    await login(client, "王芳")
    response = await client.get(f"/agent/audio/{stored.id}")
    assert response.status == 200 and response.content_type == "audio/wav"
    rows = [row for row in await audit_rows(service, "play_voice") if row[1] == chats["hers"].id]
    assert rows == [("王芳", chats["hers"].id)]  # her play, and not 张强's refused try


# ---- binding input masked in the copied transcript -----------------------------------------------------


def test_numbers_and_codes_typed_while_binding_are_masked_in_the_copy():
    texts = [turn.text for turn in turns_from_events(binding_events())]
    assert "138****0001" in texts  # the number typed while asked for it
    assert "验证码 ******" in texts  # the code, full-width digits included
    assert "绑定138****0001" in texts  # the number in the request to bind
    assert "查话费" in texts and "我要人工" in texts  # the rest is left as it was
    assert not any(
        NUMBER in text or "0000 0001" in text or "482917" in text or "４８２９１７" in text for text in texts
    )


async def test_the_agent_never_reads_the_number_or_code_in_the_transcript(desk):
    client, _, chats, _ = desk
    await login(client, "王芳")
    page = await (await client.get(f"/agent/chats/{chats['hers'].id}/transcript")).text()
    assert "138****0001" in page and "******" in page
    assert NUMBER not in page and "0000 0001" not in page and "４８２９１７" not in page
