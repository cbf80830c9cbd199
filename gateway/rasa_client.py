"""Client of the Rasa server (REST channel for messages, HTTP API for the tracker).

RASA_URL may name several Rasa replicas (comma-separated): each subscriber is pinned to one and
moves to the next while hers is unreachable (gateway/rasa_replicas.py).

Subscriber text always goes through `as_plain_text` (`send`): nothing a subscriber writes or
says is read by Rasa as an intent command. Only `trigger` sends an intent, and only one of the
gateway's own (a menu click's, the greeting), checked against INTENT_TRIGGER. The HTTP API calls
carry Rasa's `--auth-token` (RASA_AUTH_TOKEN, see core/local_secrets.py).
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any
from urllib.parse import quote

import aiohttp

from core.vocabulary import TURN_FAILED_PAYLOAD
from gateway.rasa_replicas import RasaReplicas, replica_urls

log = logging.getLogger(__name__)


class RasaUnavailable(Exception):
    """Rasa (or the action server behind it) could not answer: network error, timeout, HTTP error."""


class ReplicaUnreachable(RasaUnavailable):
    """A Rasa replica refused the connection or died during it: another replica may take the turn."""


class TurnFailedInside(RasaUnavailable):
    """A replica ran the turn but could not finish it (its custom actions failed: its action server is
    down or restarting); the turn was taken back, so another replica, with an action server of its
    own, may take it."""


class RasaClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        timeout_s: float = 30.0,
        actions_url: str | None = None,
        token: str | None = None,
        replica_down_s: float = 10.0,
    ) -> None:
        self._session = session
        self.token = token
        self.replicas = RasaReplicas(replica_urls(base_url), down_for_s=replica_down_s)
        self.base_url = self.replicas.urls[0]  # for readers of the shared tracker store (any replica serves)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        # rasa-sdk serves GET /health beside its /webhook.
        self._actions_health = actions_url.rstrip("/").removesuffix("/webhook") + "/health" if actions_url else None

    async def send(
        self, openid: str, text: str, metadata: dict[str, Any] | None = None, *, retry: bool = False
    ) -> list[dict[str, Any]]:
        """One user turn; the bot's messages ({"text": ...} and/or {"custom": {...}}) in order.

        `retry`: the message was taken up before (its worker died, or its answer could not be
        stored): when Rasa already answered it (`metadata["msg_key"]` on a completed turn), that
        answer is returned and no second turn is run."""
        return await self._turn(openid, as_plain_text(text), metadata, retry)

    async def trigger(
        self, openid: str, intent: str, metadata: dict[str, Any] | None = None, *, retry: bool = False
    ) -> list[dict[str, Any]]:
        """One turn started by the gateway itself ("/greet", a menu click's "/check_balance")."""
        if not INTENT_TRIGGER.fullmatch(intent):
            raise ValueError(f"not an intent trigger: {intent!r}")
        return await self._turn(openid, intent, metadata, retry)

    async def _turn(
        self, openid: str, message: str, metadata: dict[str, Any] | None, retry: bool
    ) -> list[dict[str, Any]]:
        body = {"sender": openid, "message": message, "metadata": metadata or {}}
        failed_inside: TurnFailedInside | None = None
        for attempt, replica in enumerate(self.replicas.for_turn(openid, retry=retry)):
            try:
                # On a second replica the turn may have run before its first one died: check first.
                with self.replicas.turn_on(replica, openid):
                    return await self._turn_on(replica, openid, body, retry or attempt > 0)
            except ReplicaUnreachable as exc:
                self.replicas.mark_down(replica)
                log.warning("Rasa replica %s unreachable (%s)", replica, exc)
            except TurnFailedInside as exc:
                # Each replica has its own action server (RASA_REPLICAS): while this one's is down,
                # its subscribers are answered by the next replica rather than deferred.
                self.replicas.mark_down(replica)
                log.warning("Rasa replica %s could not finish a turn (%s)", replica, exc)
                failed_inside = exc
        if failed_inside is not None:
            raise failed_inside
        raise RasaUnavailable("no Rasa replica reachable")

    async def _turn_on(self, replica: str, openid: str, body: dict[str, Any], retry: bool) -> list[dict[str, Any]]:
        msg_key = body["metadata"].get("msg_key")
        if retry and msg_key:
            earlier = answer_in_tracker(await self._tracker_events(openid, replica), str(msg_key))
            if earlier is not None:
                return earlier
        answer = await self._rest_turn(replica, body)
        if not answer:
            # An empty answer is read from the tracker itself, once: asking the action server's
            # health afterwards would race with its restart, and with replicas ask the wrong one.
            events = await self._empty_answer_events(openid, replica)
            if events is None:  # a stale pause was lifted: ask again
                answer = await self._rest_turn(replica, body)
                events = [] if answer else await self._tracker_events(openid, replica)
            if not answer and not turn_completed(events, None if msg_key is None else str(msg_key)):
                # A custom action failed (no closing `action_listen`): Rasa logs it and answers 200
                # with whatever it said before it.
                await self.take_back_failed_turn(openid, events)
                raise TurnFailedInside("the turn failed inside Rasa (its action server is down?)")
        if any(isinstance(item.get("custom"), dict) and TURN_FAILED_PAYLOAD in item["custom"] for item in answer):
            # The action server came back in the middle of the turn (actions/reply_router.py).
            await self.take_back_failed_turn(openid)
            raise TurnFailedInside("the turn broke off inside Rasa and was answered by its fallback")
        return answer

    async def _empty_answer_events(self, openid: str, replica: str) -> list[dict[str, Any]] | None:
        """The tracker's events after an empty answer; None when the conversation was left paused by
        the first version, whose handoffs paused Rasa as well. The gateway asks Rasa only when the
        conversation record says the assistant answers, so such a pause is stale: the unanswered
        message is taken back and the conversation resumed."""
        tracker = await self._tracker(openid, replica)
        if tracker.get("paused") is not True:
            return _events_of(tracker)
        log.info("resuming a conversation left paused by an earlier version")
        await self._append_events(openid, [*TAKE_BACK, {"event": "resume"}])
        return None

    async def _rest_turn(self, replica: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        answer = await self._post(replica, "/webhooks/rest/webhook", body)
        self.replicas.mark_up(replica)
        if not isinstance(answer, list) or not all(isinstance(item, dict) for item in answer):
            raise RasaUnavailable("unexpected answer from the REST channel")
        return answer

    async def take_back_failed_turn(self, openid: str, events: list[dict[str, Any]] | None = None) -> None:
        """Undo a turn that failed inside Rasa, so that its retry is the only turn.

        A turn whose custom actions failed ends in fallbacks with no closing `action_listen`. Rasa's
        circuit breaker counts actions back to the last `action_listen`, so it would count those
        fallbacks against every later turn and never answer this subscriber again; and the retry
        would be a second user turn. `rewind` drops the failed turn from the history the policies
        see, together with the `action_listen` before it (Rasa's own reverting actions are followed
        by one), so a new `action_listen` follows it: the retry then comes after a listen, as every
        user message does (without it, mid-conversation, the policies saw the previous turn's last
        action before the message and answered with fallbacks), and it stops the breaker's count.
        When the failure hit the session's start (our `action_session_start` is a custom action
        too), there is no dialogue to keep: `restart` lets the retry start the session afresh.
        """
        try:
            events = events if events is not None else await self._tracker_events(openid)
            started = any(event.get("event") == "session_started" for event in events)
        except RasaUnavailable:
            started = True  # the usual case; a rewind is harmless even in the other
        try:
            await self._append_events(openid, TAKE_BACK if started else [{"event": "restart"}])
        except RasaUnavailable as exc:
            log.warning("could not take back a failed turn (%s); the retry may find Rasa's breaker tripped", exc)

    async def _tracker_events(self, openid: str, replica: str | None = None) -> list[dict[str, Any]]:
        return _events_of(await self._tracker(openid, replica))

    async def _tracker(self, openid: str, replica: str | None = None) -> dict[str, Any]:
        url = f"{replica or self.replicas.ranked(openid)[0]}/conversations/{quote(openid, safe='')}/tracker"
        params = {"token": self.token} if self.token else None
        try:
            async with self._session.get(url, params=params, timeout=self._timeout) as response:
                if response.status != 200:
                    raise RasaUnavailable(f"tracker: HTTP {response.status}")
                tracker = await response.json(content_type=None)
        except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError) as exc:
            raise ReplicaUnreachable(f"tracker: {type(exc).__name__}") from exc
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise RasaUnavailable(f"tracker: {type(exc).__name__}") from exc
        return tracker if isinstance(tracker, dict) else {}

    async def is_up(self) -> bool:
        """Whether a Rasa replica answers (with several, the gateway carries on while one does)."""
        answers = await asyncio.gather(*(self._answers(f"{url}/") for url in self.replicas.urls))
        return any(answers)

    async def actions_up(self) -> bool | None:
        """Whether the action server answers; None when its address is not configured."""
        if self._actions_health is None:
            return None
        return await self._answers(self._actions_health)

    async def _answers(self, url: str) -> bool:
        try:
            async with self._session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
                return response.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return False

    async def _append_events(self, openid: str, events: list[dict[str, Any]]) -> None:
        path = f"/conversations/{quote(openid, safe='')}/tracker/events"
        for replica in self.replicas.ranked(openid):
            try:
                await self._post(replica, path, events, "tracker events", authenticated=True)
                return
            except ReplicaUnreachable:
                self.replicas.mark_down(replica)
        raise RasaUnavailable("tracker events: no Rasa replica reachable")

    async def _post(
        self, replica: str, path: str, body: Any, what: str = "REST channel", authenticated: bool = False
    ) -> Any:
        # `what`, not the path, goes into errors: paths carry openids.
        params = {"token": self.token} if authenticated and self.token else None
        try:
            async with self._session.post(
                f"{replica}{path}", json=body, params=params, timeout=self._timeout
            ) as response:
                if response.status != 200:
                    raise RasaUnavailable(f"{what}: HTTP {response.status}")
                return await response.json(content_type=None)
        except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError) as exc:
            raise ReplicaUnreachable(f"{what}: {type(exc).__name__}") from exc
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise RasaUnavailable(f"{what}: {type(exc).__name__}") from exc


def _events_of(tracker: dict[str, Any]) -> list[dict[str, Any]]:
    events = tracker.get("events")
    return [event for event in events or [] if isinstance(event, dict)] if isinstance(events, list) else []


def turn_completed(events: list[dict[str, Any]], msg_key: str | None) -> bool:
    """Whether the turn of `msg_key` (else the latest user message) is in the tracker and reached its
    closing `action_listen`."""
    turn = _turn_events(events, msg_key)
    return turn is not None and _listen_index(turn) is not None


def answer_in_tracker(events: list[dict[str, Any]], msg_key: str) -> list[dict[str, Any]] | None:
    """The bot's messages of the completed turn for `msg_key`, as the REST channel gave them; None
    when there is no such turn, it was taken back (`rewind`/`restart`) or it never finished."""
    turn = _turn_events(events, msg_key)
    if turn is None or any(event.get("event") in ("rewind", "restart") for event in turn):
        return None
    listen = _listen_index(turn)
    if listen is None:
        return None
    return [message for event in turn[:listen] if event.get("event") == "bot" for message in _rest_message(event)]


def _turn_events(events: list[dict[str, Any]], msg_key: str | None) -> list[dict[str, Any]] | None:
    """What followed the user message of `msg_key` (else the latest one), up to the next user message."""
    starts = [
        i
        for i, e in enumerate(events)
        if e.get("event") == "user" and (msg_key is None or (e.get("metadata") or {}).get("msg_key") == msg_key)
    ]
    if not starts:
        return None
    turn: list[dict[str, Any]] = []
    for event in events[starts[-1] + 1 :]:
        if event.get("event") == "user":
            break
        turn.append(event)
    return turn


def _listen_index(turn: list[dict[str, Any]]) -> int | None:
    return next(
        (i for i, e in enumerate(turn) if e.get("event") == "action" and e.get("name") == "action_listen"), None
    )


def _rest_message(bot_event: dict[str, Any]) -> list[dict[str, Any]]:
    data = bot_event.get("data") or {}
    message = {key: value for key, value in (("text", bot_event.get("text")), ("buttons", data.get("buttons")),
                                             ("custom", data.get("custom"))) if value}  # fmt: skip
    return [message] if message else []


# Undo the latest user message: drop its turn (and the listen before it), then listen again.
TAKE_BACK = [{"event": "rewind"}, {"event": "action", "name": "action_listen"}]

INTENT_PREFIX = "/"
# What `trigger` sends: a bare intent name, never entities or anything else after it.
INTENT_TRIGGER = re.compile(r"/[a-z][a-z0-9_]{0,63}")
# Full-width solidus: Rasa no longer reads the message as an intent command, and the NLU front
# end keeps it full-width (nlu/spoken.py), in training too, so the classifier sees the emoji code.
ESCAPED_PREFIX = "\uff0f"


def as_plain_text(text: str) -> str:
    """Subscriber text as text: WeChat's emoji codes (「/::)」「/:rose」) and anything else that
    starts with "/" would otherwise trigger an intent or inject entities ("/top_up{...}")."""
    stripped = text.lstrip()
    if stripped.startswith(INTENT_PREFIX):
        return ESCAPED_PREFIX + stripped[len(INTENT_PREFIX) :]
    return text
