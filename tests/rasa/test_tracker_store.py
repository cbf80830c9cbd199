"""nlu.tracker_store.WindowedSQLTrackerStore: a long session's live tracker stays bounded, keeps its
state (slots, form, pause) and loses or repeats no event, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
from typing import Any, Coroutine, Iterator, List, TypeVar

import pytest
import sqlalchemy as sa
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    ConversationPaused,
    Event,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from nlu.tracker_store import WindowedSQLTrackerStore

WINDOW = 20
DOMAIN = Domain.from_yaml(
    """
version: "3.1"
intents: [check_balance, complaint]
slots:
  pending: {type: text, influence_conversation: false, mappings: [{type: custom}]}
  is_elder: {type: bool, influence_conversation: true, mappings: [{type: custom}]}
forms:
  complaint_form: {required_slots: [pending]}
responses:
  utter_balance: [{text: 余额}]
"""
)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[WindowedSQLTrackerStore]:
    if request.param == "sqlite":
        yield WindowedSQLTrackerStore(DOMAIN, window_events=WINDOW, host=f"sqlite:///{tmp_path / 'trackers.db'}")
        return
    base = sa.engine.make_url(os.environ.get("TEST_DATABASE_URL", "postgresql://127.0.0.1:5432/test"))
    base = base.set(drivername="postgresql+psycopg2")
    name = f"tracker_store_{os.getpid()}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    store = WindowedSQLTrackerStore(DOMAIN, window_events=WINDOW, host=url)
    try:
        yield store
    finally:
        store.engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def turn(number: int, clock: List[float]) -> List[Event]:
    def at() -> float:
        clock[0] += 1.0
        return clock[0]

    return [
        UserUttered(f"查余额{number}", {"name": "check_balance", "confidence": 1.0}, timestamp=at()),
        ActionExecuted("utter_balance", timestamp=at()),
        BotUttered(f"余额{number}", timestamp=at()),
        ActionExecuted("action_listen", timestamp=at()),
    ]


T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def add_turn(store: WindowedSQLTrackerStore, sender: str, events: List[Event]) -> DialogueStateTracker:
    """As Rasa's processor does: load the live tracker, apply the turn's events, save."""
    tracker = run(store.retrieve(sender)) or DialogueStateTracker(sender, DOMAIN.slots)
    for event in events:
        tracker.update(event, DOMAIN)
    run(store.save(tracker))
    return tracker


def long_session(store: WindowedSQLTrackerStore, sender: str, turns: int) -> List[Event]:
    clock = [1_000_000.0]
    sent: List[Event] = [ActionExecuted("action_session_start", timestamp=clock[0]), SessionStarted(timestamp=clock[0])]
    add_turn(store, sender, sent + [ActionExecuted("action_listen", timestamp=clock[0])])
    sent.append(ActionExecuted("action_listen", timestamp=clock[0]))
    for number in range(turns):
        events = turn(number, clock)
        if number == 5:
            events.insert(2, SlotSet("is_elder", True, timestamp=clock[0]))
        if number == 40:
            events.insert(2, ActiveLoop("complaint_form", timestamp=clock[0]))
            events.insert(3, SlotSet("pending", "complaint", timestamp=clock[0]))
        if number == turns - 30:
            events.insert(3, ConversationPaused(timestamp=clock[0]))
        add_turn(store, sender, events)
        sent.extend(events)
    return sent


def test_a_long_session_loads_a_bounded_tracker_with_the_same_state(store: WindowedSQLTrackerStore) -> None:
    sent = long_session(store, "elder", turns=100)
    live = run(store.retrieve("elder"))
    full = run(store.retrieve_full_tracker("elder"))

    assert len(sent) > 400
    assert len(live.events) <= 2 * WINDOW + 10  # the window plus a handful of prefix events
    assert [e.as_dict() for e in full.events] == [e.as_dict() for e in sent]  # nothing lost, nothing twice
    assert live.current_slot_values() == full.current_slot_values()
    assert live.current_slot_values()["is_elder"] is True  # set on turn 5, long before the window
    assert live.active_loop_name == full.active_loop_name == "complaint_form"
    assert live.is_paused() and full.is_paused()
    recent = [e.as_dict() for e in list(full.events)[-WINDOW:]]
    assert [e.as_dict() for e in list(live.events)[-WINDOW:]] == recent
    assert live.latest_message.text == full.latest_message.text == "查余额99"


def test_short_sessions_are_plain_rasa(store: WindowedSQLTrackerStore) -> None:
    sent = long_session(store, "brief", turns=5)
    live = run(store.retrieve("brief"))
    assert [e.as_dict() for e in live.events] == [e.as_dict() for e in sent]


def test_a_new_session_starts_from_its_own_events(store: WindowedSQLTrackerStore) -> None:
    long_session(store, "returning", turns=60)
    at = 5_000_000.0
    add_turn(store, "returning", [ActionExecuted("action_session_start", timestamp=at), SessionStarted(timestamp=at),
                                  ActionExecuted("action_listen", timestamp=at)])  # fmt: skip
    live = run(store.retrieve("returning"))
    assert [e.type_name for e in live.events] == ["action", "session_started", "action"]
    assert live.current_slot_values()["is_elder"] is None
    assert len(run(store.retrieve_full_tracker("returning")).events) > 240


def test_a_rewind_inside_the_window_takes_the_last_turn_back(store: WindowedSQLTrackerStore) -> None:
    long_session(store, "rewound", turns=60)
    at = 6_000_000.0
    add_turn(store, "rewound", [UserUttered("这条作废", {"name": "complaint", "confidence": 1.0}, timestamp=at),
                                ActionExecuted("action_listen", timestamp=at + 1),
                                UserUtteranceReverted(timestamp=at + 2)])  # fmt: skip
    live = run(store.retrieve("rewound"))
    full = run(store.retrieve_full_tracker("rewound"))
    assert live.latest_message.text == full.latest_message.text == "查余额59"
    assert live.current_slot_values() == full.current_slot_values()
