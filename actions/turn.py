"""One dialogue turn as the actions see it: who is asking, what they said, what to answer.

Flows (actions/account.py, topup.py, plans.py, ...) take a `Turn`, say things and set slots;
`FlowAction` turns that into rasa-sdk events. A flow that does not set `pending` clears it, so
a short reply like "1" always refers to the question asked last.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import replies, understanding
from actions.services import Services, get_services


@dataclass
class Turn:
    tracker: Tracker
    dispatcher: CollectingDispatcher
    services: Services
    slot_updates: Dict[str, Any] = field(default_factory=dict)
    handed_off: bool = False
    # Set when a flow is resumed after binding: what the original question asked for (the
    # month, the service named ...), saved in `after_bind` as "flow:argument".
    resumed: Optional[str] = None

    @property
    def openid(self) -> str:
        return self.tracker.sender_id

    @property
    def elder(self) -> bool:
        return bool(self.slot("is_elder"))

    @property
    def parse(self) -> Dict[str, Any]:
        """Rasa's parse of the latest message: text, intent, intent_ranking, entities."""
        return self.tracker.latest_message or {}

    @property
    def text(self) -> str:
        return self.parse.get("text") or ""

    @property
    def intent(self) -> Optional[str]:
        return ((self.tracker.latest_message or {}).get("intent") or {}).get("name")

    def entity(self, name: str) -> Any:
        return next(self.tracker.get_latest_entity_values(name), None)

    def slot(self, name: str) -> Any:
        if name in self.slot_updates:
            return self.slot_updates[name]
        return self.tracker.get_slot(name)

    def say(self, text: str) -> None:
        self.dispatcher.utter_message(text=text)

    def send_payload(self, payload: Dict[str, Any]) -> None:
        self.dispatcher.utter_message(json_message=payload)

    def set(self, slot: str, value: Any) -> None:
        self.slot_updates[slot] = value

    def events(self) -> List[Dict[Text, Any]]:
        updates = dict(self.slot_updates)
        updates.setdefault("pending", None)
        return [SlotSet(name, value) for name, value in updates.items()]


Flow = Callable[[Turn], Awaitable[None]]


class FlowAction(Action):
    """An action that runs one flow; subclasses set `action_name` and `flow`."""

    action_name: str = ""

    def name(self) -> Text:
        return self.action_name

    async def flow(self, turn: Turn) -> None:
        raise NotImplementedError

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        turn = Turn(tracker, dispatcher, get_services())
        await self.flow(turn)
        _offer_second_request(turn)
        _offer_human_to_elder_once(turn)
        return turn.events()


def _offer_second_request(turn: Turn) -> None:
    # Two requests in one message: the first is answered, the second offered as a choice,
    # unless the answer itself asked a question (its number must keep its meaning).
    second = understanding.second_request(turn.parse)
    if second and not turn.handed_off and not turn.slot_updates.get("pending"):
        turn.say(replies.offer_second_request(understanding.REQUEST_LABELS[second]))
        turn.set("pending", f"next:{second}")


def _offer_human_to_elder_once(turn: Turn) -> None:
    # Elderly subscribers are offered a person on their first answer of a session.
    if turn.elder and not turn.handed_off and not turn.slot("human_offered"):
        turn.say(replies.offer_human())
        turn.set("human_offered", True)
