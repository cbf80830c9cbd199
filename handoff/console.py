"""The agent console: its routes under /agent, on an app of its own.

`setup_console(app, service)` adds them to the console's app, which the composition root
(bot/compose.py) serves on its own listener (AGENT_HOST:AGENT_PORT, loopback by default), apart
from the public /wechat; it shares the gateway's HandoffService.

- Pages and fragments are Jinja2 templates (handoff/templates/, autoescaped) rendered through
  aiohttp-jinja2; the handlers parse the request, call one function of the service layer
  (handoff/desk.py, handoff/reports.py, or an action of HandoffService) and render the result.
- Sessions are aiohttp-session's encrypted cookie ("ho_session", keyed by AGENT_SESSION_SECRET,
  `Secure` unless AGENT_COOKIE_SECURE=0).
  It carries the log-in's random token, the CSRF token and the next flash message; the server
  side row of the log-in (ho_agent_sessions) stays the authority, checked on every request.
- An agent sees her own chats and those waiting in her desk's queues (handoff/access.py); every
  chat page, transcript and voice note she opens is audited (who, when, which chat).
- Log-in failures are counted per source address and per name from that address (handoff/live.py);
  X-Forwarded-For is believed only from the proxies in AGENT_FORWARDED_FOR.
- A small script (static/console.js) listens on /agent/ws and re-fetches the fragments that
  changed. The WebSocket is fed from the Redis channel "ho:events", so an event raised by any
  gateway worker reaches every console.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import aiohttp_jinja2
import jinja2
from aiohttp import WSMsgType, web
from aiohttp_session import Session, get_session, new_session, session_middleware
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from analytics.figures import OperatorFigures, operator_figures
from billing.money import format_yuan
from core import wording
from core.privacy import mask_phone
from handoff import access, auth, desk, reports, ticket_views
from handoff import console_texts as texts
from handoff.agent_store import Agent
from handoff.callbacks import TASK_OUTCOMES
from handoff.client_address import client_address
from handoff.errors import ConsoleError
from handoff.live import EVENTS_CHANNEL, ConsoleEvent
from handoff.routing import QUEUE_LABELS, QUEUES, REASON_LABELS, SKILL_LABELS
from handoff.service import HandoffService
from handoff.tickets import TicketError

log = logging.getLogger(__name__)

SESSION_COOKIE = "ho_session"
COOKIE_PATH = "/agent"
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
HEARTBEAT_S = 15.0

# what the session cookie carries
TOKEN = "token"  # the log-in's random token; the database keeps only its HMAC
CSRF = "csrf"
FLASH = "flash"
LOGIN_NONCE = "login_nonce"  # the log-in form's CSRF token, before there is a log-in

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SessionLayer = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]

CONSOLE_SERVICE = web.AppKey("handoff_console_service", HandoffService)
CONSOLE_SOCKETS = web.AppKey("handoff_console_sockets", set[web.WebSocketResponse])
# The gateway's own app hosts the console: its own keys, so nothing else on the app is touched.
CONSOLE_TEMPLATES = web.AppKey("handoff_console_templates", jinja2.Environment)
CONSOLE_SESSIONS: web.AppKey[SessionLayer] = web.AppKey("handoff_console_sessions")


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
    Routes are added to the app itself rather than a sub-app (the app is the console's own).
    """
    if CONSOLE_SOCKETS in app:
        return  # already mounted
    app[CONSOLE_SOCKETS] = set()
    filters: dict[str, Callable[..., str]] = {"mask": mask_phone, "yuan": format_yuan, "label": _label}
    templates = aiohttp_jinja2.setup(
        app,
        app_key=CONSOLE_TEMPLATES,
        default_helpers=False,
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        filters=filters,
    )
    templates.globals.update(
        QUEUES=QUEUES,
        QUEUE_LABELS=QUEUE_LABELS,
        REASON_LABELS=REASON_LABELS,
        SKILL_LABELS=SKILL_LABELS,
        TASK_OUTCOMES=TASK_OUTCOMES,
        TICKET_CATEGORY_LABELS=wording.TICKET_CATEGORY_LABELS,
        TICKET_KIND_LABELS=wording.TICKET_KIND_LABELS,
        TICKET_STATUS_LABELS=wording.TICKET_STATUS_LABELS,
    )
    app.cleanup_ctx.append(_lifecycle(service, owned, background))
    _add_routes(app)


def _label(key: str | None, labels: dict[str, str]) -> str:
    """`{{ chat.queue|label(QUEUE_LABELS) }}`: the label of a code, else the code itself."""
    return labels.get(key or "", key or "")


def _lifecycle(
    factory: Callable[[web.Application], HandoffService], owned: bool, background: bool
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        service = factory(app)
        app[CONSOLE_SERVICE] = service
        app[CONSOLE_SESSIONS] = session_middleware(_session_storage(service))
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


def _session_storage(service: HandoffService) -> EncryptedCookieStorage:
    """The session cookie: encrypted and authenticated (Fernet), HttpOnly, SameSite=Strict, on /agent only.

    Built at start-up because the key comes from the service's settings; for the same reason the
    session middleware wraps the console's routes (below) instead of sitting on the whole app.
    """
    settings = service.settings
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"agent-console-cookie").derive(
        settings.session_secret
    )  # Fernet's key: its own, not the secret that keys the session digests
    return EncryptedCookieStorage(
        key,
        cookie_name=SESSION_COOKIE,
        path=COOKIE_PATH,
        httponly=True,
        samesite="Strict",
        secure=settings.cookie_secure,
        max_age=settings.session_hours * 3600,
    )


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
        ("GET", "/tickets", tickets_page),
        ("GET", "/tickets/{ticket_id:\\d+}", ticket_page),
        ("POST", "/tickets/{ticket_id:\\d+}/{action:take|assign|note|labels|resolve}", ticket_action),
        ("GET", "/canned", canned_page),
        ("POST", "/canned", canned_save),
        ("GET", "/supervisor", supervisor_page),
        ("GET", "/audio/{audio_id:\\d+}", audio),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, COOKIE_PATH + path, _with_security_headers(_with_session(handler)))
    app.router.add_get(f"{COOKIE_PATH}/ws", _with_session(websocket))
    app.router.add_static(f"{COOKIE_PATH}/static", STATIC_DIR, append_version=False)


def _with_session(handler: Handler) -> Handler:
    """aiohttp-session's middleware, for the console's routes only."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        return await request.app[CONSOLE_SESSIONS](request, handler)

    return wrapped


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


def _same(expected: str | None, presented: object) -> bool:
    if not expected or not isinstance(presented, str) or not presented:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())


@dataclass(frozen=True)
class Visit:
    """A request of a logged-in agent."""

    agent: Agent
    session: Session

    @property
    def token(self) -> str:
        return str(self.session[TOKEN])

    @property
    def csrf(self) -> str:
        return str(self.session.get(CSRF, ""))


def login_required(handler: Callable[[web.Request, Visit], Awaitable[web.StreamResponse]]) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        session = await get_session(request)
        agent = await desk.session_agent(_service(request), session.get(TOKEN))
        if agent is None:
            if request.method == "GET" and request.headers.get("X-Requested-With") != "fetch":
                raise web.HTTPFound(f"{COOKIE_PATH}/login")
            raise web.HTTPUnauthorized(text=texts.LOGIN_REQUIRED)
        visit = Visit(agent, session)
        if request.method == "POST":
            form = await request.post()
            if not _same(visit.csrf, form.get("csrf") or request.headers.get("X-CSRF-Token")):
                raise web.HTTPForbidden(text=texts.CSRF_FAILED)
        return await handler(request, visit)

    return wrapped


def supervisor_only(handler: Callable[[web.Request, Visit], Awaitable[web.StreamResponse]]):
    async def wrapped(request: web.Request, visit: Visit) -> web.StreamResponse:
        if not visit.agent.is_supervisor:
            raise web.HTTPForbidden(text=texts.SUPERVISORS_ONLY)
        return await handler(request, visit)

    return wrapped


# ---- rendering ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clock:
    """Times as the agents read them, in the desk's time zone (`clock` in the templates)."""

    now: dt.datetime
    tz: ZoneInfo

    def local(self, moment: dt.datetime | None, with_date: bool = False) -> str:
        if moment is None:
            return "—"
        local = moment.astimezone(self.tz)
        if with_date or local.date() != self.now.astimezone(self.tz).date():
            return local.strftime("%m-%d %H:%M")
        return local.strftime("%H:%M")

    def seconds_since(self, moment: dt.datetime) -> float:
        return (self.now - moment).total_seconds()


def _clock(service: HandoffService) -> Clock:
    return Clock(now=service.clock(), tz=service.settings.timezone)


def _render(
    request: web.Request, template: str, context: dict[str, Any], csrf: str = "", status: int = 200
) -> web.Response:
    context = {"clock": _clock(_service(request)), "csrf": csrf, **context}
    return aiohttp_jinja2.render_template(template, request, context, app_key=CONSOLE_TEMPLATES, status=status)


def _fragment(request: web.Request, visit: Visit, template: str, **context: Any) -> web.Response:
    return _render(request, template, context, visit.csrf)


async def _page(request: web.Request, visit: Visit, template: str, **context: Any) -> web.Response:
    """A whole page: the layout (header, call-back badge, the flash message, shown once) around `template`."""
    due_count = len(await desk.due_soon(_service(request)))
    flash = visit.session.pop(FLASH, None)
    layout = {"me": visit.agent, "due_count": due_count, "flash": flash, "path": request.path}
    return _render(request, template, {**layout, **context}, visit.csrf)


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


async def _redirect(
    request: web.Request, location: str, kind: str | None = None, text: str | None = None
) -> web.Response:
    if kind and text:
        session = await get_session(request)
        session[FLASH] = {"kind": "error" if kind == "error" else "ok", "text": text}
    return _see_other(location)


# ---- log-in ---------------------------------------------------------------------------------


async def login_page(request: web.Request) -> web.Response:
    session = await get_session(request)
    if await desk.session_agent(_service(request), session.get(TOKEN)) is not None:
        raise web.HTTPFound(f"{COOKIE_PATH}/")
    return _login_form(request, session, refused=None, name="")


def _login_form(
    request: web.Request, session: Session, refused: str | None, name: str, status: int = 200
) -> web.Response:
    nonce = auth.new_login_nonce()
    session[LOGIN_NONCE] = nonce
    return _render(request, "login.html", {"refused": refused, "name": name}, csrf=nonce, status=status)


async def login_submit(request: web.Request) -> web.Response:
    form = await request.post()
    session = await get_session(request)
    name = str(form.get("name", "")).strip()
    if not _same(session.get(LOGIN_NONCE), form.get("csrf")):
        return _login_form(request, session, "expired", name, status=403)
    service = _service(request)
    address = client_address(request.remote, request.headers.get("X-Forwarded-For"), service.settings.trusted_proxies)
    outcome = await desk.log_in(service, name, str(form.get("password", "")), address)
    if outcome.token is None:
        status = 429 if outcome.refused == "locked" else 401
        return _login_form(request, session, outcome.refused, name, status=status)
    fresh = await new_session(request)  # nothing from before the log-in is carried over
    fresh[TOKEN] = outcome.token
    fresh[CSRF] = auth.new_csrf_token()
    return _see_other(f"{COOKIE_PATH}/")


@login_required
async def logout(request: web.Request, visit: Visit) -> web.Response:
    await desk.log_out(_service(request), visit.token, visit.agent)
    visit.session.invalidate()
    return _see_other(f"{COOKIE_PATH}/login")


@login_required
async def set_status(request: web.Request, visit: Visit) -> web.Response:
    form = await request.post()
    ready = form.get("ready") == "1"
    await _service(request).assignment.set_ready(visit.agent, ready)
    text = texts.READY if ready else texts.NOT_READY
    return await _redirect(request, _local_path(str(form.get("next", ""))), "ok", text)


def _local_path(candidate: str) -> str:
    """Only our own pages are followed after an action (no open redirect)."""
    if re.fullmatch(r"/agent/[A-Za-z0-9/_-]*", candidate) and "//" not in candidate:
        return candidate
    return f"{COOKIE_PATH}/"


# ---- dashboard ------------------------------------------------------------------------------


@login_required
async def dashboard(request: web.Request, visit: Visit) -> web.Response:
    view = await desk.dashboard(_service(request), visit.agent)
    return await _page(request, visit, "dashboard.html", queue=view.queue, mine=view.mine, due=view.due)


@login_required
async def partial_queue(request: web.Request, visit: Visit) -> web.Response:
    return _fragment(request, visit, "_queue.html", queue=await desk.queue(_service(request), visit.agent))


@login_required
async def partial_mine(request: web.Request, visit: Visit) -> web.Response:
    return _fragment(request, visit, "_mine.html", mine=await desk.mine(_service(request), visit.agent))


@login_required
async def partial_due(request: web.Request, visit: Visit) -> web.Response:
    return _fragment(request, visit, "_due.html", due=await desk.due_soon(_service(request)))


# ---- one chat -------------------------------------------------------------------------------


def _chat_id(request: web.Request) -> int:
    return int(request.match_info["chat_id"])


def _found(view: Any) -> Any:
    if view is None:
        raise web.HTTPNotFound(text=texts.NO_SUCH_CHAT)
    return view


@login_required
async def chat_page(request: web.Request, visit: Visit) -> web.Response:
    view = _found(await desk.chat_page(_service(request), _chat_id(request), visit.agent))
    return await _page(request, visit, "chat.html", page=view, head=view.head, transcript=view.transcript)


@login_required
async def partial_chat_head(request: web.Request, visit: Visit) -> web.Response:
    head = _found(await desk.chat_head(_service(request), _chat_id(request), visit.agent))
    return _fragment(request, visit, "_chat_head.html", head=head)


@login_required
async def partial_transcript(request: web.Request, visit: Visit) -> web.Response:
    transcript = _found(await desk.transcript(_service(request), _chat_id(request), visit.agent))
    return _fragment(request, visit, "_transcript.html", transcript=transcript)


@login_required
async def chat_action(request: web.Request, visit: Visit) -> web.Response:
    service = _service(request)
    agent = visit.agent
    chat_id = _chat_id(request)
    action = request.match_info["action"]
    form = await request.post()
    here = f"{COOKIE_PATH}/chats/{chat_id}"
    home = f"{COOKIE_PATH}/"
    _found(await desk.visible_chat(service, chat_id, agent))  # nothing is done to a chat she may not see
    try:
        if action == "take":
            await service.take(chat_id, agent)
            return await _redirect(request, here, "ok", texts.TAKEN)
        if action == "reply":
            delivery = await service.reply(chat_id, agent, str(form.get("text", "")))
            if not delivery.sent:
                return await _redirect(request, here, "error", delivery.reason or texts.NOT_SENT)
            return await _redirect(request, here)
        if action == "transfer":
            if form.get("agent_id"):
                await service.transfer_to_agent(chat_id, agent, int(str(form["agent_id"])))
                return await _redirect(request, home, "ok", texts.TRANSFERRED_TO_AGENT)
            await service.transfer_to_queue(chat_id, agent, str(form.get("queue", "")))
            return await _redirect(request, home, "ok", texts.TRANSFERRED_TO_QUEUE)
        if action == "handback":
            await service.hand_back(chat_id, agent)
            return await _redirect(request, home, "ok", texts.HANDED_BACK)
        if action == "close":
            await service.close_chat(chat_id, agent)
            return await _redirect(request, home, "ok", texts.CLOSED)
        if action == "callback":
            task = await service.callbacks.create(chat_id, agent, str(form.get("note", "")))
            due = _clock(service).local(task.due_at, with_date=True)
            return await _redirect(request, here, "ok", texts.callback_created(task.id, due))
        if action == "green-channel":
            outcome = await service.green_channel(chat_id, agent)
            return await _redirect(request, here, "ok", texts.green_channel_done(outcome))
    except ConsoleError as exc:
        return await _redirect(request, here, "error", str(exc))
    except ValueError:
        return await _redirect(request, here, "error", texts.BAD_REQUEST)
    raise web.HTTPNotFound()


# ---- tasks ----------------------------------------------------------------------------------


@login_required
async def tasks_page(request: web.Request, visit: Visit) -> web.Response:
    return await _page(request, visit, "tasks.html", tasks=await desk.tasks(_service(request)))


@login_required
async def task_outcome(request: web.Request, visit: Visit) -> web.Response:
    form = await request.post()
    here = f"{COOKIE_PATH}/tasks"
    try:
        task = await _service(request).callbacks.record_outcome(
            int(request.match_info["task_id"]), visit.agent, str(form.get("outcome", "")), str(form.get("note", ""))
        )
    except ConsoleError as exc:
        return await _redirect(request, here, "error", str(exc))
    return await _redirect(request, here, "ok", texts.TASK_RETRY_LATER if task.is_open else texts.TASK_DONE)


@login_required
async def task_reveal(request: web.Request, visit: Visit) -> web.Response:
    """The full number for dialling: shown once on this response, and audited."""
    service = _service(request)
    task = await service.callbacks.reveal_phone(int(request.match_info["task_id"]), visit.agent)
    if task is None or task.phone is None:
        raise web.HTTPNotFound(text=texts.NO_TASK_NUMBER)
    return await _page(request, visit, "tasks.html", tasks=await desk.tasks(service, revealed={task.id: task.phone}))


# ---- tickets ----------------------------------------------------------------------------------


@login_required
async def tickets_page(request: web.Request, visit: Visit) -> web.Response:
    lists = await ticket_views.ticket_lists(_service(request), visit.agent, request.query.get("q", ""))
    return await _page(request, visit, "tickets.html", lists=lists)


@login_required
async def ticket_page(request: web.Request, visit: Visit) -> web.Response:
    view = await ticket_views.ticket_page(_service(request), int(request.match_info["ticket_id"]), visit.agent)
    if view is None:
        raise web.HTTPNotFound(text=texts.NO_SUCH_TICKET)
    return await _page(request, visit, "ticket.html", page=view)


@login_required
async def ticket_action(request: web.Request, visit: Visit) -> web.Response:
    service = _service(request)
    ticket_id = int(request.match_info["ticket_id"])
    if await ticket_views.ticket_page(service, ticket_id, visit.agent) is None:
        raise web.HTTPNotFound(text=texts.NO_SUCH_TICKET)  # nothing is done to a ticket she may not see
    form = await request.post()
    here = f"{COOKIE_PATH}/tickets/{ticket_id}"
    action = request.match_info["action"]
    tickets = service.tickets
    try:
        if action == "take":
            await tickets.take(ticket_id, visit.agent)
            return await _redirect(request, here, "ok", texts.TICKET_TAKEN)
        if action == "assign":
            target = await service.store.agents.agent(int(str(form.get("agent_id", ""))))
            if target is None or target.disabled:
                return await _redirect(request, here, "error", texts.BAD_REQUEST)
            await tickets.assign(ticket_id, visit.agent, target)
            return await _redirect(request, here, "ok", texts.ticket_assigned(target.name))
        if action == "note":
            await tickets.add_note(ticket_id, visit.agent, str(form.get("text", "")))
            return await _redirect(request, here, "ok", texts.NOTE_SAVED)
        if action == "labels":
            await tickets.set_labels(ticket_id, visit.agent, str(form.get("labels", "")))
            return await _redirect(request, here, "ok", texts.LABELS_SAVED)
        if action == "resolve":
            announcement = await tickets.resolve(ticket_id, visit.agent, str(form.get("resolution", "")))
            if not announcement.sent:
                return await _redirect(request, here, "error", texts.resolved_not_sent(announcement.reason or ""))
            return await _redirect(request, here, "ok", texts.TICKET_RESOLVED)
    except TicketError as exc:
        return await _redirect(request, here, "error", str(exc))
    except ValueError:
        return await _redirect(request, here, "error", texts.BAD_REQUEST)
    raise web.HTTPNotFound()


@login_required
async def canned_page(request: web.Request, visit: Visit) -> web.Response:
    service = _service(request)
    desks = {queue: await service.canned.of_desk(queue) for queue in access.desk_queues(visit.agent)}
    return await _page(request, visit, "canned.html", desks=desks)


@login_required
async def canned_save(request: web.Request, visit: Visit) -> web.Response:
    form = await request.post()
    queue = str(form.get("queue", ""))
    here = f"{COOKIE_PATH}/canned"
    if queue not in access.desk_queues(visit.agent):
        raise web.HTTPForbidden(text=texts.NOT_YOUR_DESK)
    try:
        await _service(request).canned.replace(queue, visit.agent, str(form.get("texts", "")))
    except TicketError as exc:
        return await _redirect(request, here, "error", str(exc))
    return await _redirect(request, here, "ok", texts.CANNED_SAVED)


# ---- supervisor -----------------------------------------------------------------------------


@login_required
@supervisor_only
async def supervisor_page(request: web.Request, visit: Visit) -> web.Response:
    service = _service(request)
    report = await reports.supervisor_report(service)
    return await _page(request, visit, "supervisor.html", report=report, figures=await _figures(service))


@login_required
@supervisor_only
async def partial_supervisor(request: web.Request, visit: Visit) -> web.Response:
    service = _service(request)
    report = await reports.supervisor_report(service)
    return _fragment(request, visit, "_supervisor.html", report=report, figures=await _figures(service))


async def _figures(service: HandoffService) -> OperatorFigures:
    """The analytics consumer's operator figures (analytics/), from the same database."""
    return await operator_figures(service.store.engine)


# ---- audio ----------------------------------------------------------------------------------


@login_required
async def audio(request: web.Request, visit: Visit) -> web.Response:
    """A stored voice note as WAV (browsers cannot play AMR), of a chat the agent may see."""
    service = _service(request)
    if service.voice_store is None:
        raise web.HTTPNotFound(text=texts.NO_VOICE_STORE)
    audio_id = int(request.match_info["audio_id"])
    if await desk.voice_note_chat(service, audio_id, visit.agent) is None:  # audited when she may
        raise web.HTTPNotFound(text=texts.VOICE_NOT_SAVED)
    stored = await service.voice_store.get(audio_id)
    if stored is None or not stored.has_audio:
        raise web.HTTPNotFound(text=texts.VOICE_NOT_SAVED)
    from voice.decode import DecodeError
    from voice.playback import stored_audio_as_wav

    try:
        body = await stored_audio_as_wav(service.voice_store, stored, max_seconds=120.0)
    except (OSError, DecodeError) as exc:
        log.warning("voice note %s cannot be played: %s", stored.id, exc)
        raise web.HTTPNotFound(text=texts.VOICE_UNPLAYABLE) from None
    return web.Response(body=body, content_type="audio/wav")


# ---- live updates ---------------------------------------------------------------------------


async def websocket(request: web.Request) -> web.StreamResponse:
    origin = request.headers.get("Origin")
    if origin and urlsplit(origin).netloc != request.host:
        raise web.HTTPForbidden(text=texts.CROSS_SITE_SOCKET)
    session = await get_session(request)
    agent = await desk.session_agent(_service(request), session.get(TOKEN))
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
        await service.assignment.dispatch()  # a ready agent who comes back online may take waiting chats
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
