"""A stand-in for WeChat's server API on loopback, for tests and local development.

It implements what the gateway and voice/ call (stable_token, token, message/custom/send,
message/subscribe/bizsend, message/template/send, media/get, media/upload, menu/create,
menu/delete, menu/addconditional, tags/create, tags/get, tags/members/batchtagging and
batchuntagging) with WeChat's error behaviour (tokens that expire or are invalidated, media errors
as JSON with HTTP 200, a subscription notice without the subscriber's consent refused with 43101, a
one-time consent spent by one notice, template/send sending once per openid and client_msg_id),
records every call, and lets a test inject errcodes, HTTP errors and delays. Its own control
endpoints live under /standin/.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from core.vocabulary import NoticeChannel
from wechat.notice_templates import VALUE_LIMITS, NoticeTemplate
from wechat.pay_standin import PayStandinState, add_pay_routes

TOKEN_TTL_S = 7200
MAX_WAIT_S = 30.0  # the longest a /standin/messages long poll waits
ERRMSG = {
    40001: "invalid credential, access_token is invalid or not latest",
    40004: "invalid media type",
    40005: "invalid file type",
    40006: "invalid meida size",
    40007: "invalid media_id",
    40013: "invalid appid",
    40125: "invalid appsecret",
    40003: "invalid openid",
    40037: "invalid template_id",
    42001: "access_token expired",
    43101: "user refuse to accept the msg",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    47003: "argument invalid! data.thing1.value invalid",
    41005: "media data missing",
    48001: "api unauthorized",
    -1: "system error",
}


@dataclass
class Fault:
    errcode: int | None = None  # answer {"errcode": ...} with HTTP 200
    status: int | None = None  # or answer this HTTP status
    delay_s: float = 0.0  # wait this long first
    times: int = 1
    after: bool = False  # notices only: the call takes effect, then the answer is the fault (a lost answer)


@dataclass
class StoredMedia:
    content: bytes
    content_type: str
    filename: str


@dataclass
class StandinState:
    app_id: str = "wxcsbotdev0000000"
    app_secret: str = "csbot-dev-secret"
    token_ttl_s: float = TOKEN_TTL_S
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (time.time())
    invalidated: set[str] = field(default_factory=set)
    stable: str | None = None
    token_fetches: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)  # delivered customer-service messages
    calls: list[dict[str, Any]] = field(default_factory=list)
    media: dict[str, StoredMedia] = field(default_factory=dict)
    uploads: list[dict[str, Any]] = field(default_factory=list)  # media/upload: media_id, type, filename, size
    menus: list[dict[str, Any]] = field(default_factory=list)
    conditional_menus: dict[str, dict[str, Any]] = field(default_factory=dict)  # menuid -> body with matchrule
    tags: dict[int, str] = field(default_factory=dict)  # tag id -> name
    user_tags: dict[str, set[int]] = field(default_factory=dict)  # openid -> tag ids
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    # Templates chosen in the MP console: template id -> its keywords (subscription notices / template messages).
    subscribe_templates: dict[str, frozenset[str]] = field(default_factory=dict)
    message_templates: dict[str, frozenset[str]] = field(default_factory=dict)
    consents: dict[tuple[str, str], int] = field(default_factory=dict)  # (openid, template id) -> one-time left
    long_term_consents: set[tuple[str, str]] = field(default_factory=set)
    notices: list[dict[str, Any]] = field(default_factory=list)  # delivered bizsend / template/send bodies
    client_msg_ids: dict[tuple[str, str], int] = field(default_factory=dict)  # (openid, client_msg_id) -> msgid
    _sequence: Any = field(default_factory=lambda: itertools.count(1))
    _delivered: asyncio.Event | None = field(default=None, repr=False)  # set when a message arrives

    def deliver(self, body: dict[str, Any]) -> None:
        """A customer-service message reached WeChat: keep it, and wake whoever waits for one."""
        self.messages.append({**body, "seq": next(self._sequence), "received_at": time.time()})
        if self._delivered is not None:
            self._delivered.set()
            self._delivered = None

    async def next_delivery(self, timeout_s: float) -> None:
        """Wait until the next message arrives, or `timeout_s` passes."""
        if self._delivered is None:
            self._delivered = asyncio.Event()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._delivered.wait(), timeout_s)

    def inject(self, path: str, *, errcode: int | None = None, status: int | None = None, delay_s: float = 0.0,
               times: int = 1, after: bool = False) -> None:  # fmt: skip
        """Make the next `times` calls of `path` (e.g. "/cgi-bin/message/custom/send") misbehave."""
        self.faults.setdefault(path, []).append(Fault(errcode, status, delay_s, times, after))

    def add_subscribe_template(self, template_id: str, keywords: list[str] | tuple[str, ...]) -> None:
        self.subscribe_templates[template_id] = frozenset(keywords)

    def add_message_template(self, template_id: str, keywords: list[str] | tuple[str, ...]) -> None:
        self.message_templates[template_id] = frozenset(keywords)

    def grant_consent(self, openid: str, template_id: str, *, times: int = 1, long_term: bool = False) -> None:
        """The subscriber accepted the template's popup (WeChat's side; the gateway learns it from the push)."""
        if long_term:
            self.long_term_consents.add((openid, template_id))
        else:
            self.consents[(openid, template_id)] = self.consents.get((openid, template_id), 0) + times

    def revoke_consent(self, openid: str, template_id: str) -> None:
        self.consents.pop((openid, template_id), None)
        self.long_term_consents.discard((openid, template_id))

    def notices_to(self, openid: str) -> list[dict[str, Any]]:
        return [notice for notice in self.notices if notice["touser"] == openid]

    def expire_tokens(self) -> None:
        """Every token issued so far now answers 42001."""
        for token in self.tokens:
            self.tokens[token] = 0.0
        self.stable = None

    def add_media(self, content: bytes, content_type: str = "audio/amr", filename: str = "voice.amr") -> str:
        media_id = "standin_" + secrets.token_urlsafe(24)
        self.media[media_id] = StoredMedia(content, content_type, filename)
        return media_id

    def messages_to(self, openid: str) -> list[dict[str, Any]]:
        return [message for message in self.messages if message["touser"] == openid]

    def voices_to(self, openid: str) -> list[bytes]:
        """The audio of every voice message delivered to `openid`, in order."""
        voices = [m for m in self.messages_to(openid) if m.get("msgtype") == "voice"]
        return [self.media[m["voice"]["media_id"]].content for m in voices]

    def texts_to(self, openid: str) -> list[str]:
        return [m["text"]["content"] for m in self.messages_to(openid) if m.get("msgtype") == "text"]

    def tagged(self, tag_name: str) -> set[str]:
        """The openids carrying the tag called `tag_name`."""
        ids = {tag_id for tag_id, name in self.tags.items() if name == tag_name}
        return {openid for openid, tags in self.user_tags.items() if tags & ids}

    def reset(self) -> None:
        self.tokens.clear()
        self.invalidated.clear()
        self.stable = None
        self.token_fetches = 0
        self.messages.clear()
        self.calls.clear()
        self.uploads.clear()
        self.menus.clear()
        self.conditional_menus.clear()
        self.tags.clear()
        self.user_tags.clear()
        self.faults.clear()
        self.consents.clear()
        self.long_term_consents.clear()
        self.notices.clear()
        self.client_msg_ids.clear()

    def _issue_token(self) -> str:
        token = "standin-" + secrets.token_urlsafe(16)
        self.tokens[token] = time.time() + self.token_ttl_s
        return token

    def _token_error(self, token: str) -> int | None:
        if token in self.invalidated or token not in self.tokens:
            return 40001
        if self.tokens[token] <= time.time():
            return 42001
        return None

    def _take_fault(self, path: str) -> Fault | None:
        queue = self.faults.get(path)
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.pop(0)
        return fault


STATE = web.AppKey("standin_state", StandinState)


def add_notice_templates(state: StandinState, templates: Iterable[NoticeTemplate]) -> None:
    """Make the stand-in know the templates of wechat/notices.yml, as the MP console would."""
    for template in templates:
        if not template.usable:
            continue
        if template.channel is NoticeChannel.SUBSCRIBE:
            state.add_subscribe_template(template.template_id, tuple(template.data))
        else:
            state.add_message_template(template.template_id, tuple(template.data))


def create_standin_app(state: StandinState | None = None, pay: PayStandinState | None = None) -> web.Application:
    """The stand-in WeChat API; with `pay`, it also plays WeChat Pay (wechat/pay_standin.py)."""
    app = web.Application(client_max_size=20 * 1024 * 1024)
    app[STATE] = state or StandinState()
    if pay is not None:
        add_pay_routes(app, pay)
    app.router.add_post("/cgi-bin/stable_token", _stable_token)
    app.router.add_get("/cgi-bin/token", _token)
    app.router.add_post("/cgi-bin/message/custom/send", _custom_send)
    app.router.add_post("/cgi-bin/message/subscribe/bizsend", _subscribe_send)
    app.router.add_post("/cgi-bin/message/template/send", _template_send)
    app.router.add_get("/cgi-bin/media/get", _media_get)
    app.router.add_post("/cgi-bin/media/upload", _media_upload)
    app.router.add_post("/cgi-bin/menu/create", _menu_create)
    app.router.add_post("/cgi-bin/menu/delete", _menu_delete)
    app.router.add_get("/cgi-bin/menu/delete", _menu_delete)
    app.router.add_post("/cgi-bin/menu/addconditional", _menu_add_conditional)
    app.router.add_post("/cgi-bin/tags/create", _tags_create)
    app.router.add_get("/cgi-bin/tags/get", _tags_get)
    app.router.add_post("/cgi-bin/tags/members/batchtagging", _tags_batch)
    app.router.add_post("/cgi-bin/tags/members/batchuntagging", _tags_batch)
    app.router.add_post("/standin/media", _control_add_media)
    app.router.add_get("/standin/messages", _control_messages)
    app.router.add_get("/standin/calls", _control_calls)
    app.router.add_get("/standin/notices", _control_notices)
    app.router.add_post("/standin/consent", _control_consent)
    app.router.add_post("/standin/faults", _control_fault)
    app.router.add_post("/standin/expire-tokens", _control_expire)
    app.router.add_post("/standin/reset", _control_reset)
    return app


def _error(errcode: int) -> web.Response:
    return web.json_response({"errcode": errcode, "errmsg": ERRMSG.get(errcode, "error")})


async def _faulted(state: StandinState, path: str) -> web.Response | None:
    fault = state._take_fault(path)
    if fault is None:
        return None
    if fault.delay_s:
        await asyncio.sleep(fault.delay_s)
    if fault.status is not None:
        return web.Response(status=fault.status, text="injected")
    if fault.errcode is not None:
        return _error(fault.errcode)
    return None


async def _stable_token(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await request.json()
    state.calls.append({"path": request.path, "body": body})
    state.token_fetches += 1
    if (fault := await _faulted(state, request.path)) is not None:
        return fault
    if body.get("appid") != state.app_id:
        return _error(40013)
    if body.get("secret") != state.app_secret:
        return _error(40125)
    if body.get("force_refresh") or state.stable is None or state._token_error(state.stable):
        state.stable = state._issue_token()
    return web.json_response(
        {"access_token": state.stable, "expires_in": int(state.tokens[state.stable] - time.time())}
    )


async def _token(request: web.Request) -> web.Response:
    """The old endpoint: a new token that invalidates every earlier one (the trap stable_token avoids)."""
    state = request.app[STATE]
    state.calls.append({"path": request.path, "query": dict(request.query)})
    state.token_fetches += 1
    if request.query.get("appid") != state.app_id:
        return _error(40013)
    if request.query.get("secret") != state.app_secret:
        return _error(40125)
    state.invalidated.update(state.tokens)
    state.stable = None
    token = state._issue_token()
    return web.json_response({"access_token": token, "expires_in": int(state.token_ttl_s)})


async def _custom_send(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await request.json()
    state.calls.append({"path": request.path, "body": body})
    if (fault := await _faulted(state, request.path)) is not None:
        return fault
    if (errcode := state._token_error(request.query.get("access_token", ""))) is not None:
        return _error(errcode)
    if not body.get("touser") or not body.get("msgtype"):
        return _error(44002)
    if body["msgtype"] == "voice" and (body.get("voice") or {}).get("media_id") not in state.media:
        return _error(40007)
    state.deliver(body)
    return web.json_response({"errcode": 0, "errmsg": "ok"})


async def _notice_call(request: web.Request) -> tuple[StandinState, dict[str, Any], Fault | None, web.Response | None]:
    """The state, the body, a fault to answer after the call took effect, and an error answer."""
    state = request.app[STATE]
    body = await request.json()
    state.calls.append({"path": request.path, "body": body})
    fault = state._take_fault(request.path)
    if fault is not None and not fault.after:
        if (answer := await _answer_fault(fault)) is not None:
            return state, body, None, answer
        fault = None
    if (errcode := state._token_error(request.query.get("access_token", ""))) is not None:
        return state, body, None, _error(errcode)
    return state, body, fault, None


async def _answer_fault(fault: Fault) -> web.Response | None:
    if fault.delay_s:
        await asyncio.sleep(fault.delay_s)
    if fault.status is not None:
        return web.Response(status=fault.status, text="injected")
    if fault.errcode is not None:
        return _error(fault.errcode)
    return None


def _data_error(data: Any, keywords: frozenset[str]) -> int | None:
    """47003 when the template data lacks a keyword, has an empty one or one longer than WeChat takes."""
    if not isinstance(data, dict) or set(data) != keywords:
        return 47003
    for keyword, item in data.items():
        value = item.get("value") if isinstance(item, dict) else None
        if not isinstance(value, str) or not value.strip():
            return 47003
        limit = VALUE_LIMITS.get(keyword.rstrip("0123456789"))
        if limit is not None and len(value) > limit:
            return 47003
    return None


async def _subscribe_send(request: web.Request) -> web.Response:
    """message/subscribe/bizsend: needs a known template, its data and the subscriber's consent."""
    state, body, fault, error = await _notice_call(request)
    if error is not None:
        return error
    openid, template_id = str(body.get("touser") or ""), str(body.get("template_id") or "")
    if not openid:
        return _error(40003)
    if template_id not in state.subscribe_templates:
        return _error(40037)
    if (errcode := _data_error(body.get("data"), state.subscribe_templates[template_id])) is not None:
        return _error(errcode)
    key = (openid, template_id)
    if key not in state.long_term_consents:
        if state.consents.get(key, 0) <= 0:
            return _error(43101)
        state.consents[key] -= 1  # a one-time consent is spent by the notice it allowed
    msgid = next(state._sequence)
    state.notices.append({**body, "kind": "subscribe", "msgid": msgid, "received_at": time.time()})
    if fault is not None and (answer := await _answer_fault(fault)) is not None:
        return answer
    return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": msgid})


async def _template_send(request: web.Request) -> web.Response:
    """message/template/send: one message per openid and client_msg_id."""
    state, body, fault, error = await _notice_call(request)
    if error is not None:
        return error
    openid, template_id = str(body.get("touser") or ""), str(body.get("template_id") or "")
    if not openid:
        return _error(40003)
    if template_id not in state.message_templates:
        return _error(40037)
    if (errcode := _data_error(body.get("data"), state.message_templates[template_id])) is not None:
        return _error(errcode)
    client_msg_id = str(body.get("client_msg_id") or "")
    msgid = state.client_msg_ids.get((openid, client_msg_id)) if client_msg_id else None
    if msgid is None:
        msgid = next(state._sequence)
        state.notices.append({**body, "kind": "template", "msgid": msgid, "received_at": time.time()})
        if client_msg_id:
            state.client_msg_ids[(openid, client_msg_id)] = msgid
    if fault is not None and (answer := await _answer_fault(fault)) is not None:
        return answer
    return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": msgid})


async def _media_get(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.calls.append({"path": request.path, "query": {"media_id": request.query.get("media_id")}})
    if (fault := await _faulted(state, request.path)) is not None:
        return fault
    if (errcode := state._token_error(request.query.get("access_token", ""))) is not None:
        return _error(errcode)
    media = state.media.get(request.query.get("media_id", ""))
    if media is None:
        return _error(40007)  # with HTTP 200, as WeChat does
    return web.Response(
        body=media.content,
        content_type=media.content_type,
        headers={"Content-Disposition": f'attachment; filename="{media.filename}"'},
    )


# What WeChat takes as temporary voice media: AMR or MP3, at most 2 MB (and 60 s).
VOICE_MAX_BYTES = 2 * 1024 * 1024
_VOICE_MAGIC = (b"#!AMR", b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")


async def _media_upload(request: web.Request) -> web.Response:
    """multipart/form-data with a "media" file, ?type=voice|image|video|thumb; answers the media_id."""
    state = request.app[STATE]
    media_type = request.query.get("type", "")
    state.calls.append({"path": request.path, "query": {"type": media_type}})
    if (fault := await _faulted(state, request.path)) is not None:
        return fault
    if (errcode := state._token_error(request.query.get("access_token", ""))) is not None:
        return _error(errcode)
    if media_type not in ("image", "voice", "video", "thumb"):
        return _error(40004)  # invalid media type
    form = await request.post()
    media = form.get("media")
    if not isinstance(media, web.FileField):
        return _error(41005)  # media data missing
    content = media.file.read()
    if media_type == "voice":
        if len(content) > VOICE_MAX_BYTES:
            return _error(40006)  # invalid media size
        if not content.startswith(_VOICE_MAGIC):
            return _error(40005)  # invalid file type
    media_id = state.add_media(content, media.content_type, media.filename)
    state.uploads.append({"media_id": media_id, "type": media_type, "filename": media.filename, "size": len(content)})
    return web.json_response({"type": media_type, "media_id": media_id, "created_at": int(time.time())})


async def _menu_create(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await request.json()
    state.calls.append({"path": request.path, "body": body})
    if (fault := await _faulted(state, request.path)) is not None:
        return fault
    if (errcode := state._token_error(request.query.get("access_token", ""))) is not None:
        return _error(errcode)
    state.menus.append(body)
    return web.json_response({"errcode": 0, "errmsg": "ok"})


async def _checked(request: web.Request) -> tuple[StandinState, dict[str, Any], web.Response | None]:
    """The state, the JSON body (empty for GET) and an error answer, if the call must fail."""
    state = request.app[STATE]
    body = await request.json() if request.can_read_body else {}
    state.calls.append({"path": request.path, "body": body})
    if (fault := await _faulted(state, request.path)) is not None:
        return state, body, fault
    if (errcode := state._token_error(request.query.get("access_token", ""))) is not None:
        return state, body, _error(errcode)
    return state, body, None


async def _menu_delete(request: web.Request) -> web.Response:
    state, _, error = await _checked(request)
    if error is not None:
        return error
    state.menus.clear()
    state.conditional_menus.clear()
    return web.json_response({"errcode": 0, "errmsg": "ok"})


async def _menu_add_conditional(request: web.Request) -> web.Response:
    state, body, error = await _checked(request)
    if error is not None:
        return error
    rule = body.get("matchrule")
    if not isinstance(rule, dict) or not any(rule.values()) or not body.get("button"):
        return _error(65303 if not rule else 40017)  # no matchrule / bad buttons
    tag_id = rule.get("tag_id")
    if tag_id is not None and (not str(tag_id).isdigit() or int(tag_id) not in state.tags):
        return _error(40050)  # invalid tag
    if not state.menus:
        return _error(65304)  # a conditional menu needs a default menu first
    menuid = str(400000000 + next(state._sequence))
    state.conditional_menus[menuid] = body
    return web.json_response({"menuid": menuid})


async def _tags_create(request: web.Request) -> web.Response:
    state, body, error = await _checked(request)
    if error is not None:
        return error
    name = str((body.get("tag") or {}).get("name") or "")
    if not name or len(name) > 30:
        return _error(45158)  # tag name too long / empty
    if name in state.tags.values():
        return _error(45157)  # name taken
    tag_id = 100 + len(state.tags)
    state.tags[tag_id] = name
    return web.json_response({"tag": {"id": tag_id, "name": name}})


async def _tags_get(request: web.Request) -> web.Response:
    state, _, error = await _checked(request)
    if error is not None:
        return error
    tags = [
        {"id": tag_id, "name": name, "count": sum(1 for ids in state.user_tags.values() if tag_id in ids)}
        for tag_id, name in sorted(state.tags.items())
    ]
    return web.json_response({"tags": tags})


async def _tags_batch(request: web.Request) -> web.Response:
    state, body, error = await _checked(request)
    if error is not None:
        return error
    openids = body.get("openid_list")
    tag_id = body.get("tagid")
    if not isinstance(openids, list) or not openids or len(openids) > 50:
        return _error(40032)  # invalid openid_list size
    if not isinstance(tag_id, int) or tag_id not in state.tags:
        return _error(45159)  # invalid tag id
    for openid in openids:
        tags = state.user_tags.setdefault(str(openid), set())
        if request.path.endswith("batchuntagging"):
            tags.discard(tag_id)
        else:
            tags.add(tag_id)
    return web.json_response({"errcode": 0, "errmsg": "ok"})


async def _control_add_media(request: web.Request) -> web.Response:
    """Raw body; ?content_type=audio/amr&filename=x.amr. Answers {"media_id": ...}."""
    state = request.app[STATE]
    content = await request.read()
    if not content:
        raise web.HTTPBadRequest(text="empty media")
    media_id = state.add_media(
        content,
        request.query.get("content_type", "audio/amr"),
        request.query.get("filename", "voice.amr"),
    )
    return web.json_response({"media_id": media_id})


async def _control_messages(request: web.Request) -> web.Response:
    """Delivered customer-service messages; ?touser=openid&after=seq to follow new ones, and
    &wait_s=N to wait up to N seconds (at most 30) for one when there is none yet (long polling:
    a load generator polling many subscribers would otherwise cost the machine it measures)."""
    state = request.app[STATE]
    after = int(request.query.get("after", "0"))
    touser = request.query.get("touser")
    deadline = time.monotonic() + min(MAX_WAIT_S, float(request.query.get("wait_s", "0")))
    while True:
        found = [m for m in state.messages if m["seq"] > after and (touser is None or m["touser"] == touser)]
        remaining = deadline - time.monotonic()
        if found or remaining <= 0:
            return web.json_response(found)
        await state.next_delivery(remaining)


async def _control_calls(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.json_response(
        {
            "token_fetches": state.token_fetches,
            "calls": state.calls,
            "uploads": state.uploads,
            "menus": state.menus,
            "conditional_menus": state.conditional_menus,
            "tags": {str(tag_id): name for tag_id, name in state.tags.items()},
        }
    )


async def _control_notices(request: web.Request) -> web.Response:
    """Delivered subscription notices and template messages; ?touser=openid."""
    state = request.app[STATE]
    touser = request.query.get("touser")
    return web.json_response([n for n in state.notices if touser is None or n["touser"] == touser])


async def _control_consent(request: web.Request) -> web.Response:
    """{"openid": ..., "template_id": ..., "times": 1, "long_term": false} (or "revoke": true)."""
    state = request.app[STATE]
    body = await request.json()
    if body.get("revoke"):
        state.revoke_consent(str(body["openid"]), str(body["template_id"]))
    else:
        state.grant_consent(str(body["openid"]), str(body["template_id"]), times=int(body.get("times", 1)),
                            long_term=bool(body.get("long_term")))  # fmt: skip
    return web.json_response({"ok": True})


async def _control_fault(request: web.Request) -> web.Response:
    """{"path": "/cgi-bin/message/custom/send", "errcode": 45015} (or "status", "delay_s", "times")."""
    state = request.app[STATE]
    body = await request.json()
    state.inject(
        str(body["path"]),
        errcode=body.get("errcode"),
        status=body.get("status"),
        delay_s=float(body.get("delay_s", 0)),
        times=int(body.get("times", 1)),
        after=bool(body.get("after", False)),
    )
    return web.json_response({"ok": True})


async def _control_expire(request: web.Request) -> web.Response:
    request.app[STATE].expire_tokens()
    return web.json_response({"ok": True})


async def _control_reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return web.json_response({"ok": True})
