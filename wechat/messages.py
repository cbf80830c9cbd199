"""Messages crossing the gateway's boundaries: one pushed WeChat message, and outgoing API messages."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

MESSAGE_TYPES = ("text", "voice", "image", "location", "link", "video", "shortvideo", "event")
# Subscription-notice events (订阅通知的事件推送) and the element holding their <List> items.
CONSENT_EVENTS = {
    "subscribe_msg_popup_event": "SubscribeMsgPopupEvent",  # the subscriber answered the consent popup
    "subscribe_msg_change_event": "SubscribeMsgChangeEvent",  # she turned a notice off in her settings
}
SENT_EVENT = "subscribe_msg_sent_event"  # the outcome of an earlier bizsend
SENT_EVENT_ELEMENT = "SubscribeMsgSentEvent"
MAX_TEMPLATE_ID = 128  # the column that keeps consents (gw_notice_consents.template_id)


@dataclass(frozen=True)
class ConsentDecision:
    """One <List> item of a consent event: the subscriber accepted or rejected one template."""

    template_id: str
    accepted: bool
    scene: str | None = None  # PopupScene: "1" H5 page, "2" article


@dataclass(frozen=True)
class NoticeDelivery:
    """One <List> item of subscribe_msg_sent_event: WeChat's outcome of a subscription notice."""

    template_id: str
    msg_id: str | None
    error_code: int  # 0: delivered
    error_status: str | None = None


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
    consents: tuple[ConsentDecision, ...] = ()  # subscribe_msg_popup_event / subscribe_msg_change_event
    deliveries: tuple[NoticeDelivery, ...] = ()  # subscribe_msg_sent_event

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InboundMessage:
        data = dict(data)
        data["consents"] = tuple(ConsentDecision(**item) for item in data.get("consents") or ())
        data["deliveries"] = tuple(NoticeDelivery(**item) for item in data.get("deliveries") or ())
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
            consents=_consents(fields, event) if event in CONSENT_EVENTS else (),
            deliveries=_deliveries(fields) if event == SENT_EVENT else (),
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


def _list_items(fields: dict[str, Any], element: str) -> list[dict[str, Any]]:
    """The <List> children of `element` (xmltodict gives one child as a dict, several as a list)."""
    container = fields.get(element)
    if not isinstance(container, dict):
        raise MalformedMessage(f"missing {element}")
    items = container.get("List")
    items = items if isinstance(items, list) else [items]
    if not items or not all(isinstance(item, dict) for item in items):
        raise MalformedMessage(f"{element} has no List items")
    return items


def _template_id(item: dict[str, Any]) -> str:
    template_id = _field(item, "TemplateId")
    if len(template_id) > MAX_TEMPLATE_ID:
        raise MalformedMessage("TemplateId is too long")
    return template_id


def _consents(fields: dict[str, Any], event: str) -> tuple[ConsentDecision, ...]:
    decisions = []
    for item in _list_items(fields, CONSENT_EVENTS[event]):
        status = (_optional(item, "SubscribeStatusString") or "").lower()
        if status not in ("accept", "reject"):
            raise MalformedMessage("SubscribeStatusString must be accept or reject")
        decisions.append(
            ConsentDecision(template_id=_template_id(item), accepted=status == "accept",
                            scene=_optional(item, "PopupScene"))
        )  # fmt: skip
    return tuple(decisions)


def _deliveries(fields: dict[str, Any]) -> tuple[NoticeDelivery, ...]:
    deliveries = []
    for item in _list_items(fields, SENT_EVENT_ELEMENT):
        code = _optional(item, "ErrorCode") or "0"
        if not re.fullmatch(r"-?\d{1,9}", code):
            raise MalformedMessage("ErrorCode is not a number")
        deliveries.append(
            NoticeDelivery(template_id=_template_id(item), msg_id=_optional(item, "MsgID"),
                           error_code=int(code), error_status=_optional(item, "ErrorStatus"))
        )  # fmt: skip
    return tuple(deliveries)


def text_message(content: str) -> dict[str, Any]:
    """A customer-service API message body (what `Outbox.enqueue` takes): plain text."""
    return {"msgtype": "text", "text": {"content": content}}


def message_text(message: dict[str, Any]) -> str | None:
    """The text of an outgoing message, when it is a text message."""
    if message.get("msgtype") == "text":
        return str(message.get("text", {}).get("content", ""))
    return None
