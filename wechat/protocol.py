"""The WeChat push protocol: signatures, replay window, safe-mode (AES) crypto, hardened XML, reply XML.

wechatpy does the cryptography and renders replies. Parsing goes through xmltodict (what
wechatpy uses) with entities disabled, after refusing any DTD outright: a push never has
one, and a DOCTYPE is how entity-expansion and external-entity attacks start.
"""

from __future__ import annotations

import base64
import hmac
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import xmltodict
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.replies import TextReply
from wechatpy.utils import WeChatSigner

from wechat.messages import InboundMessage, MalformedMessage

_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST)", re.IGNORECASE)
_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([^"']*)["']""", re.IGNORECASE)


class PushRejected(Exception):
    """A push we refuse; `status` is the HTTP status to answer with (400 or 403)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class OpenedPush:
    message: InboundMessage
    encrypted: bool
    timestamp: str
    nonce: str


def sign(*parts: str) -> str:
    """WeChat's signature: sha1 of the sorted, concatenated parts."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


def require_utf8(body: bytes) -> None:
    """WeChat pushes UTF-8 only: anything else (invalid bytes, another declared encoding) is a 400
    here, rather than text that a parser would decode one way and a logger or database another."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise PushRejected(400, "the body is not UTF-8") from None
    declared = _DECLARED_ENCODING.match(body)
    if declared and declared.group(1).decode("ascii", "replace").strip().lower() not in ("utf-8", "utf8"):
        raise PushRejected(400, "the body declares an encoding other than UTF-8")


def parse_xml(body: bytes) -> dict[str, Any]:
    """The fields of `<xml>...</xml>` of a UTF-8 body; PushRejected(400) for anything else."""
    require_utf8(body)
    if _DTD.search(body):
        raise PushRejected(400, "XML with a DTD or entity declaration")
    try:
        document = xmltodict.parse(body, disable_entities=True)
    except Exception as exc:  # expat raises ExpatError, and ValueError for odd encodings
        raise PushRejected(400, f"malformed XML: {type(exc).__name__}") from None
    fields = document.get("xml") if isinstance(document, dict) else None
    if not isinstance(fields, dict):
        raise PushRejected(400, "the root element is not <xml>")
    return fields


class WeChatProtocol:
    def __init__(
        self,
        token: str,
        app_id: str,
        aes_key: str | None,
        replay_window_s: int = 300,
        clock: Callable[[], float] = time.time,
        require_aes: bool = True,
    ) -> None:
        self._token = token
        self._app_id = app_id
        self._crypto = WeChatCrypto(token, aes_key, app_id) if aes_key else None
        # Safe mode: a plain push's signature covers only token, timestamp and nonce, not the body,
        # so with a key configured only encrypted pushes are taken (unless compatible mode is chosen).
        self._require_aes = require_aes and self._crypto is not None
        self._replay_window_s = replay_window_s
        self._clock = clock

    def verify_server(self, query: Mapping[str, str]) -> str:
        """GET /wechat: the `echostr` to send back when the signature is right."""
        self._check_signature(query, query.get("signature", ""))
        echostr = query.get("echostr", "")
        if not echostr:
            raise PushRejected(400, "missing echostr")
        return echostr

    @property
    def replay_window_s(self) -> int:
        return self._replay_window_s

    def open_push(self, query: Mapping[str, str], body: bytes) -> OpenedPush:
        """Check, decrypt and parse one POST /wechat.

        The signature (every push carries `signature` over token, timestamp and nonce) is checked
        before any byte of the body is parsed; in safe mode `msg_signature` over the ciphertext is
        checked next, then the ciphertext decrypted. The plain copy of a compatible-mode push is
        never read. The query's `openid` must name the sender of the message.
        """
        encrypted = query.get("encrypt_type", "raw").lower() == "aes"
        self._check_signature(query, query.get("signature", ""))
        if self._require_aes and not encrypted:
            raise PushRejected(403, "this account takes encrypted (safe-mode) pushes only")
        require_utf8(body)
        fields = self._decrypt(query, body) if encrypted else parse_xml(body)
        try:
            message = InboundMessage.from_fields(fields)
        except MalformedMessage as exc:
            raise PushRejected(400, str(exc)) from None
        if query.get("openid", "") != message.openid:
            raise PushRejected(403, "the query's openid is not the message's sender")
        return OpenedPush(message, encrypted, query.get("timestamp", ""), query.get("nonce", ""))

    def render_text_reply(self, push: OpenedPush, text: str) -> str:
        """Passive reply XML (encrypted with the push's own timestamp and nonce in safe mode)."""
        reply = TextReply(
            source=push.message.raw.get("ToUserName", ""),
            target=push.message.openid,
            content=text,
            time=int(self._clock()),
        ).render()
        if push.encrypted and self._crypto is not None:
            return str(self._crypto.encrypt_message(reply, push.nonce, push.timestamp))
        return str(reply)

    def _check_signature(self, query: Mapping[str, str], signature: str, *extra: str) -> None:
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        if not (signature and timestamp and nonce):
            raise PushRejected(403, "missing signature, timestamp or nonce")
        expected = sign(self._token, timestamp, nonce, *extra)
        if not hmac.compare_digest(expected, signature):
            raise PushRejected(403, "bad signature")
        if not timestamp.isdigit() or abs(self._clock() - int(timestamp)) > self._replay_window_s:
            raise PushRejected(403, "timestamp outside the replay window")

    def _decrypt(self, query: Mapping[str, str], body: bytes) -> dict[str, Any]:
        if self._crypto is None:
            raise PushRejected(400, "encrypted push but WECHAT_AES_KEY is not configured")
        envelope = parse_xml(body)
        encrypted = envelope.get("Encrypt")
        if not isinstance(encrypted, str) or not encrypted:
            raise PushRejected(400, "encrypted push without <Encrypt>")
        # In safe mode the signature covering the ciphertext is msg_signature, not signature.
        msg_signature = query.get("msg_signature", "")
        self._check_signature(query, msg_signature, encrypted)
        try:
            plain = self._crypto.decrypt_message(
                {"Encrypt": encrypted}, msg_signature, query["timestamp"], query["nonce"]
            )
        except Exception as exc:  # bad base64/padding, or a ciphertext for another app id
            raise PushRejected(400, f"cannot decrypt: {type(exc).__name__}") from None
        return parse_xml(plain.encode("utf-8"))


def encrypt_for_push(aes_key: str, app_id: str, xml: str) -> str:
    """The `<Encrypt>` payload WeChat would send for `xml` (used by the simulator and tests)."""
    key = base64.b64decode(aes_key + "=")
    return PrpCrypto(key).encrypt(xml, app_id).decode("ascii")


def decrypt_reply(token: str, aes_key: str, app_id: str, reply_xml: str) -> str:
    """Check and decrypt an encrypted passive reply (what WeChat does with it; simulator and tests)."""
    envelope = parse_xml(reply_xml.encode("utf-8"))
    crypto = WeChatCrypto(token, aes_key, app_id)
    plain: str = crypto.decrypt_message(
        {"Encrypt": envelope["Encrypt"]}, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
    )
    return plain
