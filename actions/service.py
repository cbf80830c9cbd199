"""Menu, session start, human handoff, fallback, fault reports and out-of-scope answers."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import replies
from actions.services import get_services, phone_is_elder
from actions.turn import FlowAction, Turn
from core.vocabulary import HandoffReason, Queue

CANNOT_COPE = re.compile(r"不会用|不会弄|不会搞|弄不来|搞不懂|看不懂|看不清|听不懂|年纪大|岁数大|老了|眼神不好|太复杂")
SAYS_OLD = re.compile(r"年纪大|岁数大|老了|老人|老年")


async def show_menu(turn: Turn) -> None:
    turn.say(replies.menu(turn.elder))
    turn.set("pending", "menu")


async def hand_off(turn: Turn, reason: HandoffReason | None = None, said: str | None = None) -> None:
    """Tell the subscriber and emit the handoff payload that the gateway carries out.

    `said`: what the subscriber said about the matter, when this turn's text is only the
    answer to an offer (「1」); it goes into the agent's summary instead.
    """
    text = said if said else turn.text
    if reason is None:
        reason = HandoffReason.CANNOT_COPE if CANNOT_COPE.search(text) else HandoffReason.REQUEST_HUMAN
    queue = Queue.ELDER if turn.elder or SAYS_OLD.search(text) else Queue.GENERAL
    turn.say(replies.handing_off(queue == Queue.ELDER))
    handoff = {"reason": reason.value, "queue": queue.value, "summary": _summary(reason, text)}
    turn.send_payload({"handoff": handoff})
    turn.handed_off = True


SUMMARY_LABELS = {
    HandoffReason.REQUEST_HUMAN: "用户要求人工",
    HandoffReason.CANNOT_COPE: "用户表示不会用/看不懂",
    HandoffReason.FALLBACK: "机器人连续两次没听懂",
    HandoffReason.ELDER: "年长客户",
    HandoffReason.NEEDS_IN_PERSON: "需营业厅实名办理",
    HandoffReason.DISPUTE: "费用异议，请核实扣费",
}


def _summary(reason: HandoffReason, text: str) -> str:
    said = f"：「{text[:60]}」" if text else ""
    return SUMMARY_LABELS.get(reason, reason.value) + said


def consecutive_fallbacks(tracker: Tracker) -> int:
    count = 0
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if intent != "nlu_fallback":
            break
        count += 1
    return count


async def fallback(turn: Turn) -> None:
    misses = consecutive_fallbacks(turn.tracker)
    if misses >= 2 or (turn.elder and misses >= 1):
        await hand_off(turn, HandoffReason.FALLBACK)
        return
    turn.say(replies.not_understood(turn.elder))
    turn.set("pending", "menu")


async def report_fault(turn: Turn) -> None:
    phones = await turn.services.binding.bound_phones(turn.openid)
    ticket = await turn.services.billing.create_fault_ticket(phones[0] if phones else None, turn.openid, turn.text)
    turn.say(replies.fault_ticket(ticket.ticket_no, turn.elder))


class ActionShowMenu(FlowAction):
    action_name = "action_show_menu"

    async def flow(self, turn: Turn) -> None:
        await show_menu(turn)


class ActionHandoff(FlowAction):
    action_name = "action_handoff"

    async def flow(self, turn: Turn) -> None:
        await hand_off(turn)


class ActionReportFault(FlowAction):
    action_name = "action_report_fault"

    async def flow(self, turn: Turn) -> None:
        await report_fault(turn)


class ActionOutOfScope(FlowAction):
    action_name = "action_out_of_scope"

    async def flow(self, turn: Turn) -> None:
        turn.say(replies.out_of_scope(turn.elder))
        turn.set("pending", "menu")


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
