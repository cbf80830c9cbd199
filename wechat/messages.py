"""Messages crossing the gateway's boundaries: one pushed WeChat message, and outgoing API messages."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MESSAGE_TYPES = ("text", "voice", "image", "location", "link", "video", "shortvideo", "event")


@dataclass(frozen=True)
class InboundMessage:
    """One message or event pushed by WeChat, after signature check and decryption.

    `msg_key` identifies it across WeChat's retries: "openid:MsgId" for messages,
    "openid:CreateTime:Event" for events (they carry no MsgId). `raw` holds every XML field.
    """

    openid: str
    msg_key: str
    msg_type: str
    create_time: int
    content: str | None = None
    media_id: str | None = None
    audio_format: str | None = None
    recognition: str | None = None
    pic_url: str | None = None
    event: str | None = None  # lower-case: subscribe, unsubscribe, click, scan, view, location, ...
    event_key: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InboundMessage:
        return cls(**data)

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> InboundMessage:
        """Build from the fields of the pushed XML (`<xml><ToUserName>...</xml>` as a flat dict)."""
        openid = _field(fields, "FromUserName")
        msg_type = _field(fields, "MsgType").lower()
        create_time = int(_field(fields, "CreateTime"))
        event = _optional(fields, "Event")
        event = event.lower() if event else None
        msg_id = _optional(fields, "MsgId") or _optional(fields, "MsgID")
        if msg_type != "event" and msg_id:
            msg_key = f"{openid}:{msg_id}"
        else:
            msg_key = f"{openid}:{create_time}:{event or msg_type}"
        return cls(
            openid=openid,
            msg_key=msg_key,
            msg_type=msg_type if msg_type in MESSAGE_TYPES else "unknown",
            create_time=create_time,
            content=_optional(fields, "Content"),
            media_id=_optional(fields, "MediaId"),
            audio_format=(_optional(fields, "Format") or "").lower() or None,
            recognition=_optional(fields, "Recognition"),
            pic_url=_optional(fields, "PicUrl"),
            event=event,
            event_key=_optional(fields, "EventKey"),
            raw={key: value for key, value in fields.items() if isinstance(value, str)},
        )


class MalformedMessage(ValueError):
    """The pushed XML lacks a field every WeChat message has, or has one of the wrong shape."""


def _field(fields: dict[str, Any], name: str) -> str:
    value = _optional(fields, name)
    if not value:
        raise MalformedMessage(f"missing {name}")
    if name == "CreateTime" and not value.isdigit():
        raise MalformedMessage("CreateTime is not a number")
    return value


def _optional(fields: dict[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedMessage(f"{name} is not a plain value")
    return value.strip()


def text_message(content: str) -> dict[str, Any]:
    """A customer-service API message body (what `Outbox.enqueue` takes): plain text."""
    return {"msgtype": "text", "text": {"content": content}}


def message_text(message: dict[str, Any]) -> str | None:
    """The text of an outgoing message, when it is a text message."""
    if message.get("msgtype") == "text":
        return str(message.get("text", {}).get("content", ""))
    return None
