"""Plays WeChat's side of the push protocol: signed (optionally AES-encrypted) pushes to a gateway.

Used by `csbot chat`, the tests and bench/gateway.py, so all three speak exactly what WeChat speaks.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from wechat.protocol import decrypt_reply, encrypt_for_push, parse_xml, sign

ACCOUNT = "gh_csbot_demo"  # the official account's own id (ToUserName of every push)


@dataclass(frozen=True)
class PushResult:
    status: int
    body: str
    reply: str | None  # passive reply text, decrypted; None for `success`/empty or an error
    elapsed_s: float
    encrypted_reply: bool = False


@dataclass(frozen=True)
class PreparedPush:
    """A push ready to send: its URL query (signature, timestamp, nonce) and its body."""

    query: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class SentPush:
    """The gateway's HTTP answer to a push, not yet read."""

    status: int
    body: str
    elapsed_s: float


def new_msg_id() -> int:
    return secrets.randbits(63)


def build_xml(fields: dict[str, Any]) -> str:
    return "<xml>" + _elements(fields) + "</xml>"


def _elements(fields: dict[str, Any]) -> str:
    """Elements for `fields`: a dict value nests, a list value repeats the element (<List>...)."""
    parts = []
    for name, value in fields.items():
        if isinstance(value, dict):
            parts.append(f"<{name}>{_elements(value)}</{name}>")
        elif isinstance(value, list):
            parts.extend(f"<{name}>{_elements(item)}</{name}>" for item in value)
        elif isinstance(value, int):
            parts.append(f"<{name}>{value}</{name}>")
        else:
            parts.append(f"<{name}><![CDATA[{str(value).replace(']]>', ']]]]><![CDATA[>')}]]></{name}>")
    return "".join(parts)


class PushClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        gateway_url: str,
        token: str,
        app_id: str,
        aes_key: str | None = None,
        account: str = ACCOUNT,
    ) -> None:
        self._session = session
        self._url = gateway_url.rstrip("/")
        if not self._url.endswith("/wechat"):
            self._url += "/wechat"
        self._token = token
        self._app_id = app_id
        self._aes_key = aes_key
        self._account = account

    def text_fields(self, openid: str, content: str, msg_id: int | None = None) -> dict[str, Any]:
        return self._fields(openid, "text", Content=content, MsgId=msg_id or new_msg_id())

    def event_fields(self, openid: str, event: str, event_key: str | None = None) -> dict[str, Any]:
        extra: dict[str, Any] = {"Event": event}
        if event_key is not None:
            extra["EventKey"] = event_key
        return self._fields(openid, "event", **extra)

    def consent_fields(
        self, openid: str, decisions: dict[str, bool], event: str = "subscribe_msg_popup_event", scene: int = 1
    ) -> dict[str, Any]:
        """The subscriber answered a subscription-notice popup (template id -> accepted), or, with
        event="subscribe_msg_change_event", turned notices off in her settings."""
        element = "SubscribeMsgPopupEvent" if event == "subscribe_msg_popup_event" else "SubscribeMsgChangeEvent"
        items = []
        for template_id, accepted in decisions.items():
            item: dict[str, Any] = {
                "TemplateId": template_id,
                "SubscribeStatusString": "accept" if accepted else "reject",
            }
            if event == "subscribe_msg_popup_event":
                item["PopupScene"] = scene
            items.append(item)
        return self._fields(openid, "event", Event=event, **{element: {"List": items}})

    def voice_fields(
        self, openid: str, media_id: str, audio_format: str = "amr", recognition: str | None = None
    ) -> dict[str, Any]:
        extra: dict[str, Any] = {"MediaId": media_id, "Format": audio_format, "MsgId": new_msg_id()}
        if recognition is not None:
            extra["Recognition"] = recognition
        return self._fields(openid, "voice", **extra)

    def _fields(self, openid: str, msg_type: str, **extra: Any) -> dict[str, Any]:
        return {
            "ToUserName": self._account,
            "FromUserName": openid,
            "CreateTime": int(time.time()),
            "MsgType": msg_type,
            **extra,
        }

    async def text(self, openid: str, content: str) -> PushResult:
        return await self.push(self.text_fields(openid, content))

    async def push(
        self,
        fields: dict[str, Any],
        *,
        timestamp: int | None = None,
        tamper_signature: bool = False,
        raw_body: bytes | None = None,
    ) -> PushResult:
        """Send one push as WeChat would; `tamper_signature`/`raw_body` build bad ones for tests."""
        prepared = self.prepare(fields, timestamp=timestamp, tamper_signature=tamper_signature, raw_body=raw_body)
        return self.result(await self.post(prepared))

    def prepare(
        self,
        fields: dict[str, Any],
        *,
        timestamp: int | None = None,
        tamper_signature: bool = False,
        raw_body: bytes | None = None,
    ) -> PreparedPush:
        """The signed (and, with an AES key, encrypted) push, as WeChat's servers build it."""
        ts = str(timestamp if timestamp is not None else int(time.time()))
        nonce = secrets.token_hex(8)
        xml = build_xml(fields)
        query = {
            "timestamp": ts,
            "nonce": nonce,
            "signature": sign(self._token, ts, nonce),
            "openid": fields["FromUserName"],
        }
        if self._aes_key:
            encrypted = encrypt_for_push(self._aes_key, self._app_id, xml)
            xml = build_xml({"ToUserName": fields["ToUserName"], "Encrypt": encrypted})
            query.update(encrypt_type="aes", msg_signature=sign(self._token, ts, nonce, encrypted))
        if tamper_signature:
            key = "msg_signature" if self._aes_key else "signature"
            query[key] = ("0" if query[key][0] != "0" else "1") + query[key][1:]
        return PreparedPush(query, raw_body if raw_body is not None else xml.encode("utf-8"))

    async def post(self, prepared: PreparedPush) -> SentPush:
        """Deliver a prepared push; the gateway's answer as it came (`result` reads it)."""
        started = time.monotonic()
        async with self._session.post(
            self._url, params=prepared.query, data=prepared.body, headers={"Content-Type": "text/xml"}
        ) as response:
            text = await response.text()
            status = response.status
        return SentPush(status, text, time.monotonic() - started)

    def result(self, sent: SentPush) -> PushResult:
        """The answer read: its passive reply text decrypted, if it carried one."""
        reply = self._reply_text(sent.status, sent.body)
        return PushResult(sent.status, sent.body, reply, sent.elapsed_s, "<Encrypt>" in sent.body)

    def _reply_text(self, status: int, body: str) -> str | None:
        if not carries_reply(status, body):
            return None
        xml = body
        if "<Encrypt>" in body and self._aes_key:
            xml = decrypt_reply(self._token, self._aes_key, self._app_id, body)
        content = parse_xml(xml.encode("utf-8")).get("Content")
        return content if isinstance(content, str) else None


def carries_reply(status: int, body: str) -> bool:
    """Whether the gateway's answer to a push is a passive reply (not `success` or empty)."""
    return status == 200 and body.strip() not in ("", "success")
