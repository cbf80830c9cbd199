"""What one Rasa event means for the operator figures: a `Fact`, or nothing.

Rasa's broker publishes each tracker event as JSON with its `sender_id` (the subscriber's openid)
and `timestamp`. Only five kinds matter here; everything else is ignored.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import Enum
from typing import Any

from core.privacy import mask_binding_input

# The assistant did not understand: the fallback, and the clarifying question (nlu/'s low confidence).
UNRECOGNISED_ACTIONS = frozenset({"action_default_fallback", "action_clarify"})
ELDER_SLOT = "is_elder"
TEXT_LIMIT = 200  # characters of a subscriber's message kept for the "not understood" list


class FactKind(str, Enum):
    SESSION = "session"  # a conversation session started
    USER = "user"  # the subscriber wrote (text kept, masked, to name what was not understood)
    UNRECOGNISED = "unrecognised"  # the assistant fell back or asked to clarify
    HANDOFF = "handoff"  # handed to a person; detail: the reason (core.vocabulary.HandoffReason)
    ELDER = "elder"  # the session's subscriber is 65 or older


@dataclass(frozen=True)
class Fact:
    digest: str  # sha256 of the message body: a redelivered message gives the same digest
    sender_id: str
    kind: FactKind
    ts: float  # Rasa's event timestamp (seconds since the epoch)
    detail: str | None = None


class BadEvent(ValueError):
    """A message that is not a Rasa event (not JSON, no sender or timestamp)."""


def fact_from_message(body: bytes) -> Fact | None:
    try:
        event = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadEvent(f"not JSON: {exc}") from None
    if not isinstance(event, dict) or not event.get("sender_id") or event.get("timestamp") is None:
        raise BadEvent("no sender_id or timestamp")
    kind, detail = _classify(event)
    if kind is None:
        return None
    return Fact(
        digest=hashlib.sha256(body).hexdigest(),
        sender_id=str(event["sender_id"]),
        kind=kind,
        ts=float(event["timestamp"]),
        detail=detail,
    )


def _classify(event: dict[str, Any]) -> tuple[FactKind | None, str | None]:
    name = event.get("event")
    if name == "session_started":
        return FactKind.SESSION, None
    if name == "user":
        return FactKind.USER, mask_binding_input(str(event.get("text") or ""))[:TEXT_LIMIT]
    if name == "action" and event.get("name") in UNRECOGNISED_ACTIONS:
        return FactKind.UNRECOGNISED, None  # the consumer names the message it answered
    if name == "slot" and event.get("name") == ELDER_SLOT and event.get("value") is True:
        return FactKind.ELDER, None
    if name == "bot":
        handoff = ((event.get("data") or {}).get("custom") or {}).get("handoff")
        if isinstance(handoff, dict):
            return FactKind.HANDOFF, str(handoff.get("reason") or "unknown")
    return None, None
