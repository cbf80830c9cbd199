"""The agent console: a sub-application mounted under /agent on the gateway.

`setup_console(app, service)` adds it to the gateway's app (the composition root, bot/compose.py,
calls it before the app starts).
Pages are rendered on the server (handoff/views.py); a small script (static/console.js)
listens on /agent/ws and re-fetches the fragments that changed. The WebSocket is fed from
the Redis channel "ho:events", so an event raised by any gateway worker reaches every console.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from handoff import auth, views
from handoff.html import Html, render
from handoff.live import EVENTS_CHANNEL, ConsoleEvent
from handoff.routing import QUEUES
from handoff.service import ConsoleError, HandoffService
from handoff.store import Agent

log = logging.getLogger(__name__)

SESSION_COOKIE = "ho_session"
LOGIN_COOKIE = "ho_login"
FLASH_COOKIE = "ho_flash"
COOKIE_PATH = "/agent"
STATIC_DIR = Path(__file__).resolve().parent / "static"
HEARTBEAT_S = 15.0

CONSOLE_SERVICE = web.AppKey("handoff_console_service", HandoffService)
CONSOLE_SOCKETS = web.AppKey("handoff_console_sockets", set[web.WebSocketResponse])

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def setup_console(
    app: web.Application,
    service: Callable[[web.Application], HandoffService],
    *,
    owned: bool = True,
    background: bool = True,
) -> None:
    """Add the console's routes under /agent to `app`.

    `service(app)` is called at start-up, after the cleanup contexts registered before this one
    (the gateway's, which builds the HandoffService it shares with the console); `owned` says
    whether the console closes it. `background=False` leaves out the periodic sweep (tests drive it).
    Routes are added to the app itself rather than a sub-app: with the pinned aiohttp 3.9 and
    yarl 1.18, sub-app prefix resolution fails on a Host header that carries a port.
    """
    if CONSOLE_SOCKETS in app:
        return  # already mounted
    app[CONSOLE_SOCKETS] = set()
    app.cleanup_ctx.append(_lifecycle(service, owned, background))
    _add_routes(app)


def _lifecycle(
    factory: Callable[[web.Application], HandoffService], owned: bool, background: bool
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        service = factory(app)
        app[CONSOLE_SERVICE] = service
        relay = asyncio.create_task(_relay_events(app), name="handoff-console-relay")
        if background:
            await service.start()
        yield
        relay.cancel()
        await asyncio.gather(relay, return_exceptions=True)
        for socket in app[CONSOLE_SOCKETS].copy():
            await socket.close(code=1001, message=b"server shutdown")
        if owned:
            await service.close()

    return context


def _add_routes(app: web.Application) -> None:
    routes: list[tuple[str, str, Handler]] = [
        ("GET", "/login", login_page),
        ("POST", "/login", login_submit),
        ("POST", "/logout", logout),
        ("GET", "", _to_dashboard),
        ("GET", "/", dashboard),
        ("GET", "/partials/queue", partial_queue),
        ("GET", "/partials/mine", partial_mine),
        ("GET", "/partials/due", partial_due),
        ("GET", "/partials/supervisor", partial_supervisor),
        ("POST", "/status", set_status),
        ("GET", "/chats/{chat_id:\\d+}", chat_page),
        ("GET", "/chats/{chat_id:\\d+}/head", partial_chat_head),
        ("GET", "/chats/{chat_id:\\d+}/transcript", partial_transcript),
        (
            "POST",
            "/chats/{chat_id:\\d+}/{action:take|reply|transfer|handback|close|callback|green-channel}",
            chat_action,
        ),
        ("GET", "/tasks", tasks_page),
        ("POST", "/tasks/{task_id:\\d+}/outcome", task_outcome),
        ("POST", "/tasks/{task_id:\\d+}/reveal", task_reveal),
        ("GET", "/supervisor", supervisor_page),
        ("GET", "/audio/{audio_id:\\d+}", audio),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, COOKIE_PATH + path, _with_security_headers(handler))
    app.router.add_get(f"{COOKIE_PATH}/ws", websocket)
    app.router.add_static(f"{COOKIE_PATH}/static", STATIC_DIR, append_version=False)


async def _to_dashboard(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(f"{COOKIE_PATH}/")


# ---- security ----------------------------------------------------------------------------

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: http: data:; "
    "media-src 'self'; connect-src 'self' ws: wss:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def _with_security_headers(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # redirects and errors are responses too
            exc.headers.update({k: v for k, v in SECURITY_HEADERS.items() if k not in exc.headers})
            raise
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    return wrapped


def _service(request: web.Request) -> HandoffService:
    return request.app[CONSOLE_SERVICE]


def _secret(request: web.Request) -> bytes:
    return _service(request).settings.session_secret


async def _session_agent(request: web.Request) -> tuple[Agent | None, str | None]:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None, None
    service = _service(request)
    agent = await service.store.session_agent(auth.token_digest(_secret(request), token), service.clock())
    return (agent, token) if agent else (None, None)


def _set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name,
        value,
        path=COOKIE_PATH,
        httponly=True,
        samesite="Strict",
        secure=_service(request).settings.cookie_secure,
        max_age=max_age,
    )


def _clear_cookie(response: web.StreamResponse, name: str) -> None:
    response.del_cookie(name, path=COOKIE_PATH)


class Session:
    def __init__(self, agent: Agent, token: str, secret: bytes) -> None:
        self.agent = agent
        self.csrf = auth.csrf_token(secret, token)


def login_required(handler: Callable[[web.Request, Session], Awaitable[web.StreamResponse]]) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        agent, token = await _session_agent(request)
        if agent is None or token is None:
            if request.method == "GET" and request.headers.get("X-Requested-With") != "fetch":
                raise web.HTTPFound(f"{COOKIE_PATH}/login")
            raise web.HTTPUnauthorized(text="请先登录")
        session = Session(agent, token, _secret(request))
        if request.method == "POST":
            form = await request.post()
            presented = form.get("csrf") or request.headers.get("X-CSRF-Token")
            if not auth.csrf_matches(_secret(request), token, presented if isinstance(presented, str) else None):
                raise web.HTTPForbidden(text="请求校验失败（CSRF），请刷新页面后重试。")
        return await handler(request, session)

    return wrapped


def supervisor_only(handler: Callable[[web.Request, Session], Awaitable[web.StreamResponse]]):
    async def wrapped(request: web.Request, session: Session) -> web.StreamResponse:
        if not session.agent.is_supervisor:
            raise web.HTTPForbidden(text="只有主管可以查看这个页面。")
        return await handler(request, session)

    return wrapped


# ---- flash messages (signed cookie, shown once) -------------------------------------------


def _flash_value(request: web.Request, kind: str, text: str) -> str:
    payload = base64.urlsafe_b64encode(json.dumps({"k": kind, "t": text}).encode()).decode()
    signature = hmac.new(_secret(request), payload.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{payload}.{signature}"


def _read_flash(request: web.Request) -> Html:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw or "." not in raw:
        return Html("")
    payload, signature = raw.rsplit(".", 1)
    expected = hmac.new(_secret(request), payload.encode(), hashlib.sha256).hexdigest()[:32]
    if not hmac.compare_digest(expected, signature):
        return Html("")
    try:
        data = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except ValueError:
        return Html("")
    return views.flash("error" if data.get("k") == "error" else "ok", str(data.get("t", "")))


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _redirect(request: web.Request, location: str, kind: str | None = None, text: str | None = None) -> web.Response:
    response = _see_other(location)
    if kind and text:
        _set_cookie(request, response, FLASH_COOKIE, _flash_value(request, kind, text), max_age=60)
    return response


async def _page(request: web.Request, session: Session, title: str, content: Html) -> web.Response:
    service = _service(request)
    open_tasks = await service.store.open_tasks()
    due = sum(1 for task in open_tasks if task.due_at <= service.clock() + dt.timedelta(hours=2))
    body = views.page(title, content, session.agent, session.csrf, due, _read_flash(request), request.path)
    response = web.Response(text=body, content_type="text/html", charset="utf-8")
    if request.cookies.get(FLASH_COOKIE):
        _clear_cookie(response, FLASH_COOKIE)
    return response


def _fragment(content: Html) -> web.Response:
    return web.Response(text=content, content_type="text/html", charset="utf-8")


def _clock(service: HandoffService) -> views.Clock:
    return views.Clock(now=service.clock(), tz=service.settings.timezone)


# ---- log-in ---------------------------------------------------------------------------------


async def login_page(request: web.Request) -> web.Response:
    agent, _ = await _session_agent(request)
    if agent is not None:
        raise web.HTTPFound(f"{COOKIE_PATH}/")
    return _login_form(request, error=None, name="")


def _login_form(request: web.Request, error: str | None, name: str, status: int = 200) -> web.Response:
    nonce = auth.new_login_nonce()
    body = render(
        "login.html", csrf=nonce, name=name, error=views.tag("p", error, class_="error", role="alert") if error else ""
    )
    response = web.Response(text=body, content_type="text/html", charset="utf-8", status=status)
    _set_cookie(request, response, LOGIN_COOKIE, nonce, max_age=3600)
    return response


async def login_submit(request: web.Request) -> web.Response:
    form = await request.post()
    name = str(form.get("name", "")).strip()
    password = str(form.get("password", ""))
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not nonce or not hmac.compare_digest(nonce, str(form.get("csrf", ""))):
        return _login_form(request, "页面已过期，请重新登录。", name, status=403)
    service = _service(request)
    if await service.live.login_locked(name):
        return _login_form(request, "登录失败次数过多，请15分钟后再试。", name, status=429)
    agent = await service.store.agent_by_name(name) if name else None
    matches = await auth.password_matches_async(password, agent.password_hash if agent else auth.dummy_hash())
    if agent is None or agent.disabled or not matches:
        await service.live.note_login_failure(name)
        return _login_form(request, "用户名或密码不对。", name, status=401)
    await service.live.clear_login_failures(name)
    token = auth.new_session_token()
    now = service.clock()
    expires = now + dt.timedelta(hours=service.settings.session_hours)
    await service.store.create_session(auth.token_digest(_secret(request), token), agent.id, now, expires)
    response = _see_other(f"{COOKIE_PATH}/")
    _set_cookie(request, response, SESSION_COOKIE, token, max_age=service.settings.session_hours * 3600)
    _clear_cookie(response, LOGIN_COOKIE)
    return response


@login_required
async def logout(request: web.Request, session: Session) -> web.Response:
    service = _service(request)
    token = request.cookies[SESSION_COOKIE]
    await service.store.revoke_session(auth.token_digest(_secret(request), token), service.clock())
    await service.set_ready(session.agent, False)
    response = _see_other(f"{COOKIE_PATH}/login")
    _clear_cookie(response, SESSION_COOKIE)
    return response


@login_required
async def set_status(request: web.Request, session: Session) -> web.Response:
    form = await request.post()
    ready = form.get("ready") == "1"
    await _service(request).set_ready(session.agent, ready)
    text = "已开始接单：系统会自动给您分配会话。" if ready else "已暂停接单：不会再自动分配新会话。"
    return _redirect(request, _local_path(str(form.get("next", ""))), "ok", text)


def _local_path(candidate: str) -> str:
    """Only our own pages are followed after an action (no open redirect)."""
    if re.fullmatch(r"/agent/[A-Za-z0-9/_-]*", candidate) and "//" not in candidate:
        return candidate
    return f"{COOKIE_PATH}/"


# ---- dashboard ------------------------------------------------------------------------------


async def _queue_html(request: web.Request, session: Session) -> Html:
    service = _service(request)
    return views.queue_section(await service.store.waiting(), _clock(service), session.csrf)


async def _mine_html(request: web.Request, session: Session) -> Html:
    service = _service(request)
    chats = await service.store.chats_of_agent(session.agent.id)
    latest = await service.store.last_subscriber_message_at([chat.id for chat in chats])
    return views.mine_section(chats, latest, _clock(service))


async def _due_html(request: web.Request) -> Html:
    service = _service(request)
    return views.due_section(await service.store.open_tasks(), _clock(service))


@login_required
async def dashboard(request: web.Request, session: Session) -> web.Response:
    content = render(
        "dashboard.html",
        queue=await _queue_html(request, session),
        mine=await _mine_html(request, session),
        due=await _due_html(request),
    )
    return await _page(request, session, "工作台", content)


@login_required
async def partial_queue(request: web.Request, session: Session) -> web.Response:
    return _fragment(await _queue_html(request, session))


@login_required
async def partial_mine(request: web.Request, session: Session) -> web.Response:
    return _fragment(await _mine_html(request, session))


@login_required
async def partial_due(request: web.Request, session: Session) -> web.Response:
    return _fragment(await _due_html(request))


# ---- one chat -------------------------------------------------------------------------------


def _chat_id(request: web.Request) -> int:
    return int(request.match_info["chat_id"])


async def _load_chat(request: web.Request):
    chat = await _service(request).store.chat(_chat_id(request))
    if chat is None:
        raise web.HTTPNotFound(text="找不到这个会话。")
    return chat


async def _head_html(request: web.Request, chat) -> Html:
    service = _service(request)
    agent = await service.store.agent(chat.agent_id) if chat.agent_id else None
    window = await service.window_view(chat.openid)
    waited_since = None
    if chat.status == "waiting":
        waited_since = next((q.enqueued_at for q in await service.store.waiting() if q.chat.id == chat.id), None)
    return views.chat_head(chat, agent.name if agent else None, window, _clock(service), waited_since)


async def _transcript_html(request: web.Request, chat) -> Html:
    service = _service(request)
    agents = {agent.id: agent.name for agent in await service.store.list_agents()}
    return views.transcript_section(await service.store.transcript(chat.id), agents, _clock(service))


@login_required
async def chat_page(request: web.Request, session: Session) -> web.Response:
    service = _service(request)
    chat = await _load_chat(request)
    profile = await service.profile_of(chat)
    earlier = await service.store.chats_of_openid(chat.openid)
    tasks = await service.store.tasks_of_openid(chat.openid)
    states = await service.agent_states()
    window = await service.window_view(chat.openid)
    can_reply = chat.status == "assigned" and (chat.agent_id == session.agent.id or session.agent.is_supervisor)
    green = chat.is_open and profile.green_channel_allowed(service.settings.elder_age)
    content = render(
        "chat.html",
        chat_id=chat.id,
        head=await _head_html(request, chat),
        transcript=await _transcript_html(request, chat),
        reply=views.reply_section(chat, can_reply, session.csrf),
        profile=views.profile_section(profile, chat, earlier, tasks, _clock(service), session.csrf, green),
        actions=views.actions_section(chat, [s for s in states if s.online], session.agent, session.csrf, window),
    )
    return await _page(request, session, f"会话 #{chat.id}", content)


@login_required
async def partial_chat_head(request: web.Request, session: Session) -> web.Response:
    return _fragment(await _head_html(request, await _load_chat(request)))


@login_required
async def partial_transcript(request: web.Request, session: Session) -> web.Response:
    return _fragment(await _transcript_html(request, await _load_chat(request)))


@login_required
async def chat_action(request: web.Request, session: Session) -> web.Response:
    service = _service(request)
    chat_id = _chat_id(request)
    action = request.match_info["action"]
    form = await request.post()
    here = f"{COOKIE_PATH}/chats/{chat_id}"
    try:
        if action == "take":
            await service.take(chat_id, session.agent)
            return _redirect(request, here, "ok", "已接入，请先向客户问好。")
        if action == "reply":
            delivery = await service.reply(chat_id, session.agent, str(form.get("text", "")))
            if not delivery.sent:
                return _redirect(request, here, "error", delivery.reason or "未发送")
            return _redirect(request, here)
        if action == "transfer":
            if form.get("agent_id"):
                await service.transfer_to_agent(chat_id, session.agent, int(str(form["agent_id"])))
                return _redirect(request, f"{COOKIE_PATH}/", "ok", "已转给其他客服。")
            queue = str(form.get("queue", ""))
            await service.transfer_to_queue(chat_id, session.agent, queue)
            return _redirect(request, f"{COOKIE_PATH}/", "ok", "已转到队列。")
        if action == "handback":
            await service.hand_back(chat_id, session.agent)
            return _redirect(request, f"{COOKIE_PATH}/", "ok", "已转回智能助手。")
        if action == "close":
            await service.close_chat(chat_id, session.agent)
            return _redirect(request, f"{COOKIE_PATH}/", "ok", "会话已结束。")
        if action == "callback":
            task = await service.create_callback(chat_id, session.agent, str(form.get("note", "")))
            local = task.due_at.astimezone(service.settings.timezone).strftime("%m-%d %H:%M")
            return _redirect(request, here, "ok", f"已创建回电任务 #{task.id}，请在{local}前回电。")
        if action == "green-channel":
            outcome = await service.green_channel(chat_id, session.agent)
            return _redirect(request, here, "ok", f"绿色通道：{outcome}（已记录审计日志）。")
    except ConsoleError as exc:
        return _redirect(request, here, "error", str(exc))
    except ValueError:
        return _redirect(request, here, "error", "请求的内容不对。")
    raise web.HTTPNotFound()


# ---- tasks ----------------------------------------------------------------------------------


async def _tasks_content(request: web.Request, session: Session, revealed: dict[int, str]) -> Html:
    service = _service(request)
    return views.tasks_page(
        await service.store.open_tasks(),
        await service.store.recent_done_tasks(),
        _clock(service),
        session.csrf,
        revealed,
    )


@login_required
async def tasks_page(request: web.Request, session: Session) -> web.Response:
    return await _page(request, session, "回电任务", await _tasks_content(request, session, {}))


@login_required
async def task_outcome(request: web.Request, session: Session) -> web.Response:
    form = await request.post()
    task_id = int(request.match_info["task_id"])
    try:
        task = await _service(request).record_task_outcome(
            task_id, session.agent, str(form.get("outcome", "")), str(form.get("note", ""))
        )
    except ConsoleError as exc:
        return _redirect(request, f"{COOKIE_PATH}/tasks", "error", str(exc))
    text = "已记录：未接通，任务两小时后再提醒。" if task.is_open else "已记录处理结果。"
    return _redirect(request, f"{COOKIE_PATH}/tasks", "ok", text)


@login_required
async def task_reveal(request: web.Request, session: Session) -> web.Response:
    """The full number for dialling: shown once on this response, and audited."""
    service = _service(request)
    task = await service.store.task(int(request.match_info["task_id"]))
    if task is None or task.phone is None:
        raise web.HTTPNotFound(text="找不到这个任务的号码。")
    await service.store.audit(
        session.agent.name,
        "reveal_phone",
        service.clock(),
        openid=task.openid,
        phone=task.phone,
        chat_id=task.chat_id,
        detail=f"task {task.id}",
    )
    return await _page(request, session, "回电任务", await _tasks_content(request, session, {task.id: task.phone}))


# ---- supervisor -----------------------------------------------------------------------------


async def _supervisor_html(request: web.Request) -> Html:
    service = _service(request)
    now = service.clock()
    waiting = await service.store.waiting()
    lengths = {queue: sum(1 for q in waiting if q.chat.queue == queue) for queue in QUEUES}
    longest = {
        queue: max((now - q.enqueued_at).total_seconds() for q in waiting if q.chat.queue == queue)
        for queue in QUEUES
        if lengths[queue]
    }
    tasks = [task for task in await service.store.open_tasks() if task.kind == "callback"]
    answered, requests = await answered_within_24h(service, now)
    figures = views.SupervisorFigures(
        queue_lengths=lengths,
        longest_wait_s=longest,
        agents=await service.agent_states(),
        callbacks_due=sum(1 for task in tasks if task.due_at > now),
        callbacks_overdue=sum(1 for task in tasks if task.due_at <= now),
        answered_24h=answered,
        requests_24h=requests,
    )
    audit_rows = await service.store.audit_entries(limit=20)
    return views.supervisor_page(figures, audit_rows, _clock(service))


async def answered_within_24h(service: HandoffService, now: dt.datetime, days: int = 30) -> tuple[int, int]:
    """(answered within 24 h, requests) over handoff requests of the last `days` days.

    Answered: an agent's reply reached the outbox, or a call-back/follow-up was recorded as
    done, within 24 h of the request. Requests younger than 24 h count only once answered.
    """
    day = dt.timedelta(hours=24)
    chats = await service.store.chats_since(now - dt.timedelta(days=days))
    tasks = await service.store.tasks_of_chats([chat.id for chat in chats])
    done_at: dict[int, dt.datetime] = {}
    for task in tasks:
        if task.chat_id is not None and task.done_at is not None and task.outcome in ("reached", "resolved_online"):
            done_at[task.chat_id] = min(task.done_at, done_at.get(task.chat_id, task.done_at))
    answered = requests = 0
    for chat in chats:
        moments = [m for m in (chat.first_agent_reply_at, done_at.get(chat.id)) if m is not None]
        in_time = any(m - chat.created_at <= day for m in moments)
        if in_time or now - chat.created_at >= day:
            requests += 1
            answered += int(in_time)
    return answered, requests


@login_required
@supervisor_only
async def supervisor_page(request: web.Request, session: Session) -> web.Response:
    return await _page(request, session, "主管视图", views.supervisor_wrapper(await _supervisor_html(request)))


@login_required
@supervisor_only
async def partial_supervisor(request: web.Request, session: Session) -> web.Response:
    return _fragment(await _supervisor_html(request))


# ---- audio ----------------------------------------------------------------------------------


@login_required
async def audio(request: web.Request, session: Session) -> web.Response:
    """A stored voice note as WAV (browsers cannot play AMR)."""
    service = _service(request)
    if service.voice_store is None:
        raise web.HTTPNotFound(text="语音存储未接通。")
    stored = await service.voice_store.get(int(request.match_info["audio_id"]))
    if stored is None or not stored.has_audio:
        raise web.HTTPNotFound(text="这条语音没有保存下来。")
    from voice.decode import DecodeError
    from voice.playback import stored_audio_as_wav

    try:
        body = await stored_audio_as_wav(service.voice_store, stored, max_seconds=120.0)
    except (OSError, DecodeError) as exc:
        log.warning("voice note %s cannot be played: %s", stored.id, exc)
        raise web.HTTPNotFound(text="这条语音无法播放。") from None
    return web.Response(body=body, content_type="audio/wav")


# ---- live updates ---------------------------------------------------------------------------


async def websocket(request: web.Request) -> web.StreamResponse:
    origin = request.headers.get("Origin")
    if origin and urlsplit(origin).netloc != request.host:
        raise web.HTTPForbidden(text="跨站连接被拒绝")
    agent, _ = await _session_agent(request)
    socket = web.WebSocketResponse(heartbeat=20.0)
    await socket.prepare(request)
    if agent is None:
        await socket.close(code=4401, message=b"login required")
        return socket
    service = _service(request)
    connection_id = uuid.uuid4().hex
    sockets = request.app[CONSOLE_SOCKETS]
    sockets.add(socket)
    beat = asyncio.create_task(_keep_present(service, agent.id, connection_id))
    try:
        await service.live.heartbeat(agent.id, connection_id)
        await service.live.publish(ConsoleEvent("agents", agent_id=agent.id))
        await service.dispatch()  # a ready agent who comes back online may take waiting chats
        async for message in socket:
            if message.type == WSMsgType.ERROR:
                break
    finally:
        beat.cancel()
        sockets.discard(socket)
        await service.live.leave(agent.id, connection_id)
        try:
            await service.live.publish(ConsoleEvent("agents", agent_id=agent.id))
        except Exception:  # shutting down: Redis may already be closed
            pass
    return socket


async def _keep_present(service: HandoffService, agent_id: int, connection_id: str) -> None:
    while True:
        await asyncio.sleep(HEARTBEAT_S)
        try:
            await service.live.heartbeat(agent_id, connection_id)
        except Exception as exc:
            log.warning("presence heartbeat failed: %s", exc)


async def _relay_events(console: web.Application) -> None:
    """One Redis subscription per worker, fanned out to this worker's consoles."""
    while True:
        service = console[CONSOLE_SERVICE]
        pubsub = service.live.redis.pubsub()
        try:
            await pubsub.subscribe(EVENTS_CHANNEL)
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                data = message["data"]
                for socket in console[CONSOLE_SOCKETS].copy():
                    if not socket.closed:
                        try:
                            await socket.send_str(data)
                        except (ConnectionError, RuntimeError):
                            pass
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("console event relay lost Redis (%s); reconnecting", exc)
            await asyncio.sleep(1.0)
        finally:
            try:
                await pubsub.close()
            except Exception:
                pass
