"""A Rasa tracker store whose turn costs the same on event 1,000 of a session as on event 10.

Rasa's `SQLTrackerStore` loads every event of the session on each turn and replays it into a
tracker, which then goes whole to the policies' featurisers and to the action server: a turn's cost
grows with the session (issue #13 measured 84 ms for turns 1-10 and 235 ms at 964 events). A
handed-off elderly subscriber's long chat is such a session.

`WindowedSQLTrackerStore` keeps Rasa's `events` table as it is (every event, appended once; the
full history stays readable through `retrieve_full_tracker`, which `GET .../tracker` uses, so the
gateway and the console see everything). Once a session holds more than twice `window_events`
events, a row in `tracker_windows` records where the live window starts (the id of a user message)
and a few "prefix" events that restore the state before it: the slots, the active form and a paused
conversation. A turn then loads prefix + window, at most about 2 x `window_events` events. The
policies look back a few turns only (max_history), so they predict as before.

Configured in endpoints.yml (`type: nlu.tracker_store.WindowedSQLTrackerStore`, optional
`window_events`, default 24).
"""

from __future__ import annotations

import itertools
import json
from typing import Any, Dict, List, Optional, Text

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    ConversationPaused,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

DEFAULT_WINDOW_EVENTS = 24


class WindowedSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store with a bounded live tracker per conversation."""

    class SQLWindow(SQLTrackerStore.Base):
        """Where a conversation's live window starts, and the state before it."""

        __tablename__ = "tracker_windows"

        sender_id = sa.Column(sa.String(255), primary_key=True)
        first_event_id = sa.Column(sa.Integer, nullable=False)
        prefix = sa.Column(sa.Text, nullable=False)  # JSON list of Rasa event dicts

    def __init__(
        self, domain: Optional[Domain] = None, window_events: int = DEFAULT_WINDOW_EVENTS, **kwargs: Any
    ) -> None:
        super().__init__(domain, **kwargs)
        self.window_events = max(10, int(window_events))

    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        """The live tracker: the latest session, or its prefix and window once it is long."""
        with self.session_scope() as session:
            window = session.get(self.SQLWindow, sender_id)
            prefix = json.loads(window.prefix) if window is not None else []
            rows = self._live_rows(session, sender_id, window).all()
            events = prefix + [json.loads(row.data) for row in rows]
        if not self.domain or not events:
            return None
        return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Appends the tracker's new events; moves the window on when it has grown too long."""
        await self.stream_events(tracker)
        with self.session_scope() as session:
            window = session.get(self.SQLWindow, tracker.sender_id)
            prefix_length = len(json.loads(window.prefix)) if window is not None else 0
            stored_ids = [row.id for row in self._live_rows(session, tracker.sender_id, window, ids_only=True)]
            new_events = list(itertools.islice(tracker.events, prefix_length + len(stored_ids), None))
            new_rows = [self._row(tracker.sender_id, event) for event in new_events]
            session.add_all(new_rows)
            session.flush()  # assigns the new rows' ids
            if any(isinstance(event, SessionStarted) for event in new_events):
                # A new session: Rasa's own query (events since the last session start) is short again.
                if window is not None:
                    session.delete(window)
            elif len(stored_ids) + len(new_rows) > 2 * self.window_events:
                ids = stored_ids + [row.id for row in new_rows]
                self._move_window(session, tracker, window, prefix_length, ids)
            session.commit()

    def _live_rows(self, session: Any, sender_id: Text, window: Any, ids_only: bool = False) -> Any:
        if window is None:
            query = self._event_query(session, sender_id, fetch_events_from_all_sessions=False)
        else:
            query = (
                session.query(self.SQLEvent)
                .filter(self.SQLEvent.sender_id == sender_id, self.SQLEvent.id >= window.first_event_id)
                .order_by(self.SQLEvent.id)
            )
        return query.with_entities(self.SQLEvent.id) if ids_only else query

    def _row(self, sender_id: Text, event: Event) -> Any:
        data = event.as_dict()
        intent = data.get("parse_data", {}).get("intent", {}).get("name")
        return self.SQLEvent(
            sender_id=sender_id,
            type_name=event.type_name,
            timestamp=data.get("timestamp"),
            intent_name=intent,
            action_name=data.get("name"),
            data=json.dumps(data),
        )

    def _move_window(
        self, session: Any, tracker: DialogueStateTracker, window: Any, prefix_length: int, ids: List[int]
    ) -> None:
        events = list(tracker.events)
        cut = _turn_start_at_or_before(events, len(events) - self.window_events, lowest=prefix_length + 1)
        if cut is None:
            return
        slots = self.domain.slots if self.domain else list(tracker.slots.values())
        before = DialogueStateTracker.from_events(tracker.sender_id, events[:cut], slots=slots)
        prefix = json.dumps(state_events(before, at=events[cut].timestamp))
        first_event_id = ids[cut - prefix_length]
        if window is None:
            session.add(self.SQLWindow(sender_id=tracker.sender_id, first_event_id=first_event_id, prefix=prefix))
        else:
            window.first_event_id = first_event_id
            window.prefix = prefix


def _turn_start_at_or_before(events: List[Event], index: int, lowest: int) -> Optional[int]:
    """The index of the latest user message at or before `index` (a turn starts there)."""
    for position in range(min(index, len(events) - 1), lowest - 1, -1):
        if isinstance(events[position], UserUttered):
            return position
    return None


def state_events(tracker: DialogueStateTracker, at: float) -> List[Dict[Text, Any]]:
    """Events that rebuild `tracker`'s state (not its history): a session start, the slots that
    differ from their initial values, the active form, a pause, then a listen as after any turn."""
    stamp = at - 0.001  # just before the window's first event
    events: List[Event] = [ActionExecuted(ACTION_SESSION_START_NAME, timestamp=stamp), SessionStarted(timestamp=stamp)]
    for slot in tracker.slots.values():
        if slot.value != slot.initial_value:
            events.append(SlotSet(slot.name, slot.value, timestamp=stamp))
    if tracker.active_loop_name:
        events.append(ActiveLoop(tracker.active_loop_name, timestamp=stamp))
    if tracker.is_paused():
        events.append(ConversationPaused(timestamp=stamp))
    events.append(ActionExecuted(ACTION_LISTEN_NAME, timestamp=stamp))
    return [event.as_dict() for event in events]
