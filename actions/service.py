"""Menu, session start, human handoff, fallback, fault reports and out-of-scope answers."""

from __future__ import annotations

import re
from typing import Any, Dict, Iterable, Iterator, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import replies, ticket_form, understanding
from actions.services import get_services, phone_is_elder
from actions.turn import FlowAction, Turn
from core.vocabulary import HandoffReason, Queue

CANNOT_COPE = re.compile(understanding.CANNOT_MANAGE.pattern + r"|年纪大|岁数大|老了")
# Reasons a lost phone takes over: they only say that a person is needed, not why.
LOST_PHONE_TAKES_OVER = frozenset(
    {HandoffReason.REQUEST_HUMAN, HandoffReason.OPERATOR_TOPIC, HandoffReason.FALLBACK, HandoffReason.CANNOT_COPE}
)
# Intents whose handoff may carry 「不会用」 and the next-day teaching follow-up with it.
ASKS_FOR_A_PERSON = frozenset({"request_human", "elder_self_described"})
SUMMARY_LIMIT = 500


async def show_menu(turn: Turn) -> None:
    turn.say(replies.menu(turn.elder))
    turn.set("pending", "menu")


async def hand_off(
    turn: Turn, reason: HandoffReason | None = None, said: str | None = None, tell: str | None = None
) -> None:
    """Emit the handoff payload that the gateway carries out. The action says nothing about the
    person (`tell` is only the assistant's own answer, e.g. why it cannot do this itself): the
    handoff service decides whether a person comes now, in about N minutes, or calls back, and
    says that one true thing. `said`: what the subscriber said about the matter when this
    turn's text is only the answer to an offer (「1」); it goes into the agent's summary."""
    text = said if said else turn.text
    if reason is None:
        cannot_cope = turn.intent in ASKS_FOR_A_PERSON and CANNOT_COPE.search(text)
        reason = HandoffReason.CANNOT_COPE if cannot_cope else HandoffReason.REQUEST_HUMAN
    if reason in LOST_PHONE_TAKES_OVER and understanding.says_phone_lost(text):
        reason, tell = HandoffReason.LOST_PHONE, replies.lost_phone(turn.elder)
    says_old = turn.intent == "elder_self_described" or understanding.says_old(text)
    repeated_failures = reason == HandoffReason.FALLBACK and session_misses(turn.tracker) >= REPEATED_MISSES
    elder = turn.elder or reason == HandoffReason.ELDER or says_old or repeated_failures
    if elder and not turn.elder:
        turn.set("is_elder", True)  # shorter replies from now on; binding is offered by a person
    if tell:
        turn.say(tell)
    turn.hand_off(reason, Queue.ELDER if elder else Queue.GENERAL, _summary(reason, said or turn.words))


async def hand_off_operator_errand(turn: Turn) -> None:
    """What the operator does but the assistant cannot (a data pack, call records, 销户 ...): said
    plainly, and a person."""
    await hand_off(turn, HandoffReason.OPERATOR_TOPIC, tell=replies.operator_topic(turn.elder))


def _summary(reason: HandoffReason, text: str) -> str:
    # The whole request: the agent must not have to ask again what was already said.
    said = f"：「{_shorten(text, SUMMARY_LIMIT)}」" if text else ""
    return replies.HANDOFF_LABELS.get(reason, reason.value) + said


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Not understood this many times in one session (not only in a row): likely someone who finds
# the assistant hard to use, served by the elder desk.
REPEATED_MISSES = 3


def session_misses(tracker: Tracker) -> int:
    """Messages not understood since the session started."""
    turns = _fallback_turns(reversed(tracker.events), back_to_handoff=False)
    return sum(missed for missed in turns if missed is not None)


def consecutive_fallbacks(tracker: Tracker) -> int:
    """Messages not understood in a row, counted since the last handoff (a chat that comes
    back from a person starts afresh); emoji in between do not count."""
    count = 0
    for missed in _fallback_turns(reversed(tracker.events), back_to_handoff=True):
        if missed is None:
            continue  # a sticker is neither a miss nor an understood request
        if not missed:
            break
        count += 1
    return count


_NOTHING_SET = object()


def _fallback_turns(newest_first: Iterable[Dict[str, Any]], back_to_handoff: bool) -> Iterator[bool | None]:
    """For each of her messages, newest first: True when it was not understood, False when it was,
    None for a sticker. A message the classifier could not place but the assistant answered anyway
    (a request in plain words, a dispute) was understood: only a turn that ended in the menu, a
    clarifying question or a handoff for misses was a miss. The message being answered now has no
    outcome yet: its classification decides. Goes back to the last handoff (`back_to_handoff`),
    else to the session's start."""
    left_pending: object = _NOTHING_SET  # what the turn after this message left pending
    handed_on = False  # ... and whether it handed her to a person for not being understood
    for event in newest_first:
        kind = event.get("event")
        if not back_to_handoff and kind == "session_started":
            return
        handoff = _handoff_of(event)
        if handoff is not None and back_to_handoff:
            return
        if isinstance(handoff, dict) and handoff.get("reason") == HandoffReason.FALLBACK.value:
            handed_on = True
            continue
        if kind == "slot" and event.get("name") == "pending":
            left_pending = event.get("value")  # newest first: ends as the turn's first setting
            continue
        if kind != "user":
            continue
        outcome, missed, left_pending, handed_on = left_pending, handed_on, _NOTHING_SET, False
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if intent == "emoji_only":
            yield None
        elif intent != "nlu_fallback":
            yield False
        else:
            yield missed or outcome is _NOTHING_SET or _asks_again(outcome)


def _handoff_of(event: Dict[str, Any]) -> Any:
    """The handoff payload a bot event carried (Rasa records it as data.custom), if any."""
    custom = (event.get("data") or {}).get("custom") if event.get("event") == "bot" else None
    return custom.get("handoff") if isinstance(custom, dict) else None


def _asks_again(pending: object) -> bool:
    """A turn that left the menu or a clarifying question pending did not understand her."""
    return isinstance(pending, str) and (pending == "menu" or pending.startswith("clarify:"))


async def fallback(turn: Turn) -> None:
    if too_many_misses(turn):
        await hand_off(turn, HandoffReason.FALLBACK)
        return
    turn.say(replies.not_understood(turn.elder))
    turn.set("pending", "menu")


def too_many_misses(turn: Turn) -> bool:
    misses = consecutive_fallbacks(turn.tracker)
    return misses >= 2 or (turn.elder and misses >= 1)


async def report_fault(turn: Turn, broadband: bool = False) -> None:
    # What is broken, where, a reachable number and a time slot (actions/ticket_form.py).
    await ticket_form.start_fault(turn, broadband=broadband)


class ActionShowMenu(FlowAction):
    action_name = "action_show_menu"

    async def flow(self, turn: Turn) -> None:
        await show_menu(turn)


class ActionHandoff(FlowAction):
    action_name = "action_handoff"

    async def flow(self, turn: Turn) -> None:
        await hand_off(turn)


class ActionSessionStart(Action):
    """Starts a session and reads the profile: 65+ sets `is_elder` (offered a human at once)."""

    def name(self) -> Text:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        is_elder = await subscriber_is_elder(tracker.sender_id)
        return [SessionStarted(), SlotSet("is_elder", is_elder), ActionExecuted("action_listen")]


async def subscriber_is_elder(openid: str) -> bool:
    services = get_services()
    phones = await services.binding.bound_phones(openid)
    return bool(phones) and await phone_is_elder(services, phones[0])
