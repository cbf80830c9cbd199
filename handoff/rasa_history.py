"""The bot's side of the conversation before a handoff, read from Rasa's tracker.

The gateway's hooks see only what happens once a chat is with a human; the turns before it
(what the subscriber asked, what the bot answered) live in Rasa's tracker store. At handoff
time we copy the recent turns into our own transcript, so the agent sees them at once and
the record stays complete even if Rasa is down later or its tracker is pruned. What the
subscriber typed while binding (her number, the SMS code) is masked in the copy.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from urllib.parse import quote

import aiohttp

from core.privacy import mask_binding_input

log = logging.getLogger(__name__)

MAX_TURNS = 30
BIND_INTENT = "bind_phone"
BINDING_PENDING = ("bind_phone", "bind_code:")  # the `pending` slot while a binding waits for input


@dataclass(frozen=True)
class Turn:
    sender: str  # subscriber | bot
    text: str
    at: dt.datetime
    source: str | None = None  # "voice" when the subscriber's turn was a transcribed voice note


class RasaHistory:
    def __init__(
        self, session: aiohttp.ClientSession | None, base_url: str, token: str | None = None, timeout_s: float = 2.0
    ) -> None:
        self.session = session
        self._own_session: aiohttp.ClientSession | None = None
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    def _session(self) -> aiohttp.ClientSession:
        if self.session is not None and not self.session.closed:
            return self.session
        if self._own_session is None or self._own_session.closed:
            self._own_session = aiohttp.ClientSession()
        return self._own_session

    async def aclose(self) -> None:
        if self._own_session is not None:
            await self._own_session.close()

    async def recent_turns(self, openid: str, limit: int = MAX_TURNS) -> list[Turn]:
        """Raises aiohttp.ClientError / asyncio.TimeoutError when Rasa cannot be read."""
        url = f"{self.base_url}/conversations/{quote(openid, safe='')}/tracker"
        params = {"include_events": "ALL"}
        if self.token:
            params["token"] = self.token
        async with self._session().get(url, params=params, timeout=self.timeout) as response:
            response.raise_for_status()
            tracker = await response.json(content_type=None)
        return turns_from_events(tracker.get("events") or [], limit)


def turns_from_events(events: list[dict], limit: int = MAX_TURNS) -> list[Turn]:
    turns: list[Turn] = []
    pending = ""  # the `pending` slot as the actions left it before each user message
    for event in events:
        kind = event.get("event")
        if kind == "slot" and event.get("name") == "pending":
            pending = str(event.get("value") or "")
        elif kind in ("restart", "reset_slots"):
            pending = ""
        text = event.get("text")
        if kind not in ("user", "bot") or not text:
            continue
        at = dt.datetime.fromtimestamp(float(event.get("timestamp") or 0), tz=dt.timezone.utc)
        metadata = event.get("metadata") or {}
        source = metadata.get("source") if isinstance(metadata, dict) else None
        text = str(text)
        if kind == "user" and text.startswith("/"):
            text = f"（点击菜单：{text[1:]}）"  # menu clicks reach Rasa as intent triggers
        elif kind == "user" and (pending.startswith(BINDING_PENDING) or _intent(event) == BIND_INTENT):
            text = mask_binding_input(text)
        turns.append(Turn(sender="subscriber" if kind == "user" else "bot", text=text, at=at, source=source))
    return turns[-limit:]


def _intent(event: dict) -> str | None:
    parse = event.get("parse_data")
    intent = parse.get("intent") if isinstance(parse, dict) else None
    return intent.get("name") if isinstance(intent, dict) else None
