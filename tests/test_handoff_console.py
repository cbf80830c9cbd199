"""The agent console over HTTP (aiohttp test server, real PostgreSQL and Redis): log-in and
sessions, CSRF, roles, the queue and chat pages, WeChat limits in the page, call-back tasks,
the WebSocket presence and live events, voice playback, escaping."""

from __future__ import annotations

import json
import re
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from gateway_fixtures import WAIT_S, eventually
from handoff_support import (
    ELDER_70,
    MORNING,
    PASSWORD,
    Clock,
    add_agent,
    bind,
    build_service,
    clean_handoff_tables,
    new_openid,
    record_inbound,
    text_message,
    wait_for_event_subscribers,
)
from sqlalchemy import select, update

from core.audit import audit_log
from gateway.store import outbox
from handoff.console import setup_console
from handoff.live import ConsoleEvent
from handoff.models import ho_agent_sessions, ho_agents
from voice.store import VoiceStore

SPEECH = Path(__file__).resolve().parents[2] / "shared" / "speech" / "real"


@pytest.fixture
async def console(seeded_engine, redis, aiohttp_client, tmp_path):
    await clean_handoff_tables(seeded_engine)
    clock = Clock(MORNING)
    service = build_service(seeded_engine, redis, clock, voice_store=VoiceStore(seeded_engine, tmp_path / "media"))
    app = web.Application()
    setup_console(app, lambda _parent: service, background=False)
    client = await aiohttp_client(app)
    return client, service


async def agent_online(service, agent_id: int) -> bool:
    return agent_id in await service.live.online_agent_ids()


async def agent_offline(service, agent_id: int) -> bool:
    return agent_id not in await service.live.online_agent_ids()


def csrf_of(html: str) -> str:
    match = re.search(r'data-csrf="([0-9a-f]+)"', html)
    assert match, "page carries no CSRF token"
    return match.group(1)


async def login(client, name: str, password: str = PASSWORD) -> str:
    """Log in through the form; returns the CSRF token of the dashboard."""
    page = await client.get("/agent/login")
    nonce = re.search(r'name="csrf" value="([^"]+)"', await page.text()).group(1)
    response = await client.post(
        "/agent/login", data={"csrf": nonce, "name": name, "password": password}, allow_redirects=False
    )
    assert response.status == 303, await response.text()
    dashboard = await client.get("/agent/")
    assert dashboard.status == 200
    return csrf_of(await dashboard.text())


async def post(client, path: str, csrf: str, **data: str):
    return await client.post(path, data={"csrf": csrf, **data})


# ---- log-in, sessions, CSRF, roles ------------------------------------------------------------


async def test_login_sets_a_hardened_session_cookie_and_logout_ends_it(console):
    client, service = console
    await add_agent(service.store, "张强")
    page = await client.get("/agent/login")
    nonce = re.search(r'name="csrf" value="([^"]+)"', await page.text()).group(1)

    response = await client.post(
        "/agent/login", data={"csrf": nonce, "name": "张强", "password": PASSWORD}, allow_redirects=False
    )

    assert response.status == 303 and response.headers["Location"] == "/agent/"
    cookie = next(h for h in response.headers.getall("Set-Cookie") if h.startswith("ho_session="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/agent" in cookie
    dashboard = await client.get("/agent/")
    assert "张强" in await dashboard.text()
    assert "script-src 'self'" in dashboard.headers["Content-Security-Policy"]

    csrf = csrf_of(await dashboard.text())
    await post(client, "/agent/logout", csrf)
    after = await client.get("/agent/", allow_redirects=False)
    assert after.status == 302 and after.headers["Location"] == "/agent/login"


async def test_the_server_side_session_stays_the_authority(console, seeded_engine):
    client, service = console
    agent = await add_agent(service.store, "张强")
    csrf = await login(client, "张强")
    sealed = client.session.cookie_jar.filter_cookies(client.make_url("/agent/"))["ho_session"].value
    client.session.cookie_jar.clear()

    async def status_with(cookie: str) -> int:
        response = await client.get("/agent/", headers={"Cookie": f"ho_session={cookie}"}, allow_redirects=False)
        return response.status

    assert await status_with(sealed) == 200
    assert await status_with(sealed[:-4] + "AAAA") == 302  # tampered: not decrypted, so no session
    async with seeded_engine.begin() as conn:
        await conn.execute(update(ho_agents).where(ho_agents.c.id == agent.id).values(disabled=True))
    assert await status_with(sealed) == 302  # a disabled agent is out at once
    async with seeded_engine.begin() as conn:
        await conn.execute(update(ho_agents).where(ho_agents.c.id == agent.id).values(disabled=False))
    assert await status_with(sealed) == 200
    logout = await client.post(
        "/agent/logout", data={"csrf": csrf}, headers={"Cookie": f"ho_session={sealed}"}, allow_redirects=False
    )
    assert logout.status == 303
    assert await status_with(sealed) == 302  # the copy kept from before the log-out is dead
    async with seeded_engine.connect() as conn:
        revoked = (await conn.execute(select(ho_agent_sessions.c.revoked_at))).scalars().all()
    assert revoked and all(revoked)


async def test_wrong_password_missing_nonce_and_lockout(console):
    client, service = console
    await add_agent(service.store, "张强")
    no_nonce = await client.post("/agent/login", data={"name": "张强", "password": PASSWORD})
    assert no_nonce.status == 403
    page = await (await client.get("/agent/login")).text()
    for _ in range(5):
        nonce = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        wrong = await client.post("/agent/login", data={"csrf": nonce, "name": "张强", "password": "nope-nope"})
        page = await wrong.text()
        assert wrong.status == 401 and "用户名或密码不对" in page
    nonce = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    locked = await client.post("/agent/login", data={"csrf": nonce, "name": "张强", "password": PASSWORD})
    assert locked.status == 429 and "15分钟" in await locked.text()


async def test_actions_need_the_csrf_token(console):
    client, service = console
    agent = await add_agent(service.store, "张强")
    csrf = await login(client, "张强")
    refused = await client.post("/agent/status", data={"ready": "1"})
    assert refused.status == 403
    assert not (await service.store.agents.agent(agent.id)).ready
    accepted = await post(client, "/agent/status", csrf, ready="1", next="/agent/tasks")
    assert accepted.status == 200 and "已开始接单" in await accepted.text()
    assert accepted.url.path == "/agent/tasks"
    assert (await service.store.agents.agent(agent.id)).ready
    elsewhere = await post(client, "/agent/status", csrf, ready="0", next="//evil.example/agent/")
    assert elsewhere.url.path == "/agent/" and elsewhere.url.host == "127.0.0.1"


async def test_anonymous_requests_are_sent_to_login(console):
    client, _ = console
    page = await client.get("/agent/chats/1", allow_redirects=False)
    assert page.status == 302
    fragment = await client.get("/agent/partials/queue", headers={"X-Requested-With": "fetch"})
    assert fragment.status == 401


async def test_only_supervisors_see_the_supervisor_view(console):
    client, service = console
    await add_agent(service.store, "张强")
    await add_agent(service.store, "李主管", role="supervisor")
    await login(client, "张强")
    assert (await client.get("/agent/supervisor")).status == 403
    client.session.cookie_jar.clear()
    await login(client, "李主管")
    page = await client.get("/agent/supervisor")
    text = await page.text()
    assert page.status == 200 and "主管视图" in text and "24小时内答复" in text and "回电已超时" in text


# ---- the chat: queue, take, transcript, WeChat limits ------------------------------------------


async def test_agent_takes_an_elderly_chat_and_the_sixth_reply_is_refused_on_the_page(console, seeded_engine):
    client, service = console
    agent = await add_agent(service.store, "王芳", ("elder",))
    await service.live.heartbeat(agent.id, "page")
    openid = new_openid("elder")
    await bind(seeded_engine, openid, ELDER_70)
    await service.request_handoff(openid, "cannot_cope", "general", "用户说：我不会用")
    chat = await service.store.open_chat_for(openid)
    message = text_message(openid, "<script>alert(1)</script>帮我看看话费")
    await record_inbound(seeded_engine, message)
    await service.on_subscriber_message(message, message.content, None)

    csrf = await login(client, "王芳")
    dashboard = await (await client.get("/agent/")).text()
    row = re.search(rf'<tr class="elder" data-chat-row="{chat.id}">(.*?)</tr>', dashboard, re.S)
    assert row and "年长客户专席" in row.group(1) and "长者" in row.group(1) and "表示不会用" in row.group(1)

    taken = await post(client, f"/agent/chats/{chat.id}/take", csrf)
    page = await taken.text()
    assert "已接入" in page and "本轮还可发 5 条" in page and "70岁" in page
    assert 'placeholder="输入回复（给老人的话请简短、直白）"' in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;帮我看看话费" in page and "<script>alert(1)" not in page

    for n in range(1, 6):
        sent = await post(client, f"/agent/chats/{chat.id}/reply", csrf, text=f"第{n}条")
        assert "flash error" not in await sent.text()
    sixth = await post(client, f"/agent/chats/{chat.id}/reply", csrf, text="第6条")
    body = await sixth.text()
    assert 'class="flash error"' in body and "最多回复5条" in body
    assert "本轮5条回复已用完" in body
    assert re.search(r'class="msg agent refused".*?第6条.*?最多回复5条', body, re.S)

    handed = await post(client, f"/agent/chats/{chat.id}/handback", csrf)
    assert "已转回智能助手" in await handed.text()
    assert not await service.is_with_human(openid)


async def test_the_hint_for_elders_shows_only_in_an_elders_chat(console, seeded_engine):
    client, service = console
    agent = await add_agent(service.store, "李明", ("general",))
    await service.live.heartbeat(agent.id, "page")
    openid = new_openid("young")
    await bind(seeded_engine, openid, "13800000001")  # 34 years old
    await service.request_handoff(openid, "request_human", "general", "用户说：转人工")
    chat = await service.store.open_chat_for(openid)
    assert chat is not None and not chat.is_elder

    csrf = await login(client, "李明")
    page = await (await post(client, f"/agent/chats/{chat.id}/take", csrf)).text()
    assert "已接入" in page
    assert 'placeholder="输入回复"' in page and "给老人的话" not in page


async def test_the_transcript_says_what_became_of_each_reply_at_wechat(console, seeded_engine):
    """A reply handed to the outbox shows 已提交 until the sender is done, then 已送达 or why not."""
    client, service = console
    agent = await add_agent(service.store, "周敏")
    await service.live.heartbeat(agent.id, "page")
    openid = new_openid()
    await record_inbound(seeded_engine, text_message(openid, "在吗"))  # the 48-hour window is open
    await service.request_handoff(openid, "request_human", "general", None)
    chat = await service.store.open_chat_for(openid)
    csrf = await login(client, "周敏")
    await post(client, f"/agent/chats/{chat.id}/take", csrf)
    for text in ("第一条回复", "第二条回复", "第三条回复"):
        assert (await service.reply(chat.id, agent, text)).sent
    first, second, _third = [m for m in await service.store.transcript(chat.id) if m.sender == "agent"]
    async with seeded_engine.begin() as conn:  # what the outbox sender records once WeChat has answered
        await conn.execute(update(outbox).where(outbox.c.id == first.outbox_id).values(status="sent"))
        await conn.execute(
            update(outbox).where(outbox.c.id == second.outbox_id).values(status="undeliverable", errcode=45015)
        )

    page = await (await client.get(f"/agent/chats/{chat.id}/transcript")).text()
    assert re.search(r"第一条回复.*?已送达微信", page, re.S)
    assert re.search(r'class="msg agent refused".*?第二条回复.*?未送达：用户超过48小时没有发消息', page, re.S)
    assert re.search(r"第三条回复.*?已提交微信发送", page, re.S)


async def test_closed_window_is_shown_and_a_callback_task_can_be_created(console):
    client, service = console
    agent = await add_agent(service.store, "张强")
    await service.live.heartbeat(agent.id, "page")
    openid = new_openid()
    await service.request_handoff(openid, "request_human", "general", None)
    chat = await service.store.open_chat_for(openid)
    csrf = await login(client, "张强")
    page = await (await post(client, f"/agent/chats/{chat.id}/take", csrf)).text()
    assert "微信48小时窗口已关闭" in page and "窗口已关闭，创建回电任务" in page
    created = await (await post(client, f"/agent/chats/{chat.id}/callback", csrf)).text()
    assert "已创建回电任务" in created
    assert [t.kind for t in await service.store.tasks.open_tasks()] == ["callback"]


async def test_callback_tasks_show_until_an_outcome_is_recorded(console, seeded_engine):
    client, service = console
    await add_agent(service.store, "张强")
    openid = new_openid("elder")
    await bind(seeded_engine, openid, ELDER_70)
    await service.request_handoff(openid, "request_human", "elder", None)  # nobody online: call-back
    csrf = await login(client, "张强")
    tasks = await (await client.get("/agent/tasks")).text()
    (task,) = await service.store.tasks.open_tasks()
    assert f'data-task="{task.id}"' in tasks and "138****0019" in tasks and ELDER_70 not in tasks

    revealed = await (await post(client, f"/agent/tasks/{task.id}/reveal", csrf)).text()
    assert ELDER_70 in revealed
    async with seeded_engine.connect() as conn:
        actions = (await conn.execute(select(audit_log.c.actor, audit_log.c.action))).all()
    assert ("张强", "reveal_phone") in actions

    no_answer = await (await post(client, f"/agent/tasks/{task.id}/outcome", csrf, outcome="no_answer")).text()
    assert "未接通" in no_answer and (await service.store.tasks.task(task.id)).is_open
    done = await (
        await post(client, f"/agent/tasks/{task.id}/outcome", csrf, outcome="reached", note="已教会查话费")
    ).text()
    assert "已记录处理结果" in done and not (await service.store.tasks.task(task.id)).is_open
    assert f'data-task="{task.id}"' not in done


# ---- live: presence and events over the WebSocket ----------------------------------------------


async def test_websocket_marks_presence_and_relays_events(console):
    client, service = console
    agent = await add_agent(service.store, "张强")
    await login(client, "张强")
    socket = await client.ws_connect("/agent/ws")
    try:
        await eventually(lambda: agent_online(service, agent.id))
        await wait_for_event_subscribers(service.live.redis, 1)  # the relay listens
        await service.live.publish(ConsoleEvent("message", chat_id=99))
        received = None
        for _ in range(5):
            msg = await socket.receive(timeout=WAIT_S)
            data = json.loads(msg.data)
            if data["kind"] == "message":
                received = data
                break
        assert received == {"kind": "message", "chat_id": 99, "agent_id": None}
    finally:
        await socket.close()
    await eventually(lambda: agent_offline(service, agent.id))


async def test_websocket_without_a_session_is_closed(console):
    client, _ = console
    socket = await client.ws_connect("/agent/ws")
    msg = await socket.receive(timeout=WAIT_S)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED) and socket.close_code == 4401


# ---- voice notes are playable ------------------------------------------------------------------


async def test_a_stored_voice_note_plays_as_wav(console, seeded_engine):
    client, service = console
    agent = await add_agent(service.store, "张强")
    await service.live.heartbeat(agent.id, "page")
    openid = new_openid("voice")
    await service.request_handoff(openid, "request_human", "general", None)
    chat = await service.store.open_chat_for(openid)
    await service.take(chat.id, agent)  # an agent plays the voice notes of her own chats
    clip = sorted(SPEECH.glob("*.amr"))[0]
    stored = await service.voice_store.save_audio(
        openid=openid, media_id="media-1", audio_format="amr", data=clip.read_bytes(), duration_s=None
    )
    await service.store.add_message(chat.id, "subscriber", "voice", service.clock(), audio_id=stored.id)
    await login(client, "张强")
    response = await client.get(f"/agent/audio/{stored.id}")
    body = await response.read()
    assert response.status == 200 and response.content_type == "audio/wav"
    assert body[:4] == b"RIFF" and body[8:12] == b"WAVE" and len(body) > 16000
    assert (await client.get("/agent/audio/999999")).status == 404


# ---- supervisor figures and the command line -----------------------------------------------------


async def test_share_answered_within_24h_counts_replies_and_finished_call_backs(console):
    from handoff.reports import answered_within_24h

    client, service = console
    clock = service.clock
    agent = await add_agent(service.store, "张强")
    await service.live.heartbeat(agent.id, "page")

    answered_by_reply = new_openid()
    await service.request_handoff(answered_by_reply, "request_human", "general", None)
    chat = await service.store.open_chat_for(answered_by_reply)
    await service.take(chat.id, agent)
    await record_inbound(service.store.engine, text_message(answered_by_reply, "在吗"))
    assert (await service.reply(chat.id, agent, "在的")).sent

    never_answered = new_openid()
    await service.request_handoff(never_answered, "request_human", "general", None)
    clock.advance(hours=25)  # both requests are now older than a day
    assert await answered_within_24h(service, clock()) == (1, 2)

    await service.live.leave(agent.id, "page")
    called_back = new_openid()
    await service.request_handoff(called_back, "request_human", "general", None)  # nobody online
    young_and_open = await service.store.tasks.open_task_of(called_back, "callback")
    assert await answered_within_24h(service, clock()) == (1, 2)  # too young to count as missed
    await service.callbacks.record_outcome(young_and_open.id, agent, "reached", None)
    assert await answered_within_24h(service, clock()) == (2, 3)


def test_csbot_agent_and_callback_commands(seeded_database_url, monkeypatch, capsys):
    import io

    from bot.cli import main

    monkeypatch.setenv("DATABASE_URL", seeded_database_url)
    monkeypatch.setattr("sys.stdin", io.StringIO("long-enough-password\n"))
    name = f"命令行{new_openid()[-6:]}"
    assert main(["agent", "add", name, "--skills", "elder,Sichuanese", "--capacity", "2", "--password-stdin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("long-enough-password\n"))
    assert main(["agent", "add", name, "--password-stdin"]) == 1  # exists already
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["agent", "add", name + "2", "--password-stdin"]) == 2
    assert main(["agent", "list"]) == 0
    assert main(["callback", "list"]) == 0
    out = capsys.readouterr()
    assert f"added agent {name}" in out.out and "elder,sichuanese" in out.out and "capacity 2" in out.out
    assert "exists already" in out.err and "at least 8 characters" in out.err
    # --update changes what is given and keeps the rest (a new capacity keeps her skills and role)
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    assert main(["agent", "add", name, "--update", "--capacity", "4", "--password-stdin"]) == 0
    out = capsys.readouterr()
    assert f"updated agent {name}: role agent, skills elder,sichuanese, capacity 4" in out.out


def test_mounting_the_console_twice_adds_nothing():
    app = web.Application()
    setup_console(app, lambda _parent: None, background=False)
    routes = len(app.router.routes())
    setup_console(app, lambda _parent: None, background=False)
    assert len(app.router.routes()) == routes and len(app.cleanup_ctx) == 1
    assert any(r.resource.canonical == "/agent/ws" for r in app.router.routes())


async def test_an_action_on_one_worker_reaches_a_console_on_another(console, seeded_engine, redis, aiohttp_client):
    client, service = console  # worker A: the agent's browser is connected here
    other_service = build_service(seeded_engine, redis, Clock(MORNING))
    other_app = web.Application()
    setup_console(other_app, lambda _parent: other_service, background=False)
    await aiohttp_client(other_app)  # worker B: only its relay and service run

    agent = await add_agent(service.store, "张强")
    await login(client, "张强")
    socket = await client.ws_connect("/agent/ws")
    try:
        await eventually(lambda: agent_online(other_service, agent.id))  # presence is shared through Redis
        await wait_for_event_subscribers(redis, 2)  # both workers' relays listen
        openid = new_openid()
        await other_service.request_handoff(openid, "request_human", "general", None)  # handled by worker B
        kinds = set()
        while "queue" not in kinds:
            kinds.add(json.loads((await socket.receive(timeout=WAIT_S)).data)["kind"])
        # and B saw the agent online through the shared presence, so the chat waits instead of a call-back
        assert await other_service.is_with_human(openid)
        assert agent.id in await other_service.live.online_agent_ids()
    finally:
        await socket.close()
