"""Routing rules, assignment and service-hours arithmetic (pure functions)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from handoff import hours
from handoff.config import ConfigError, HandoffSettings, ServiceHours
from handoff.routing import (
    ELDER_QUEUE,
    GENERAL_QUEUE,
    AgentState,
    WaitingChat,
    choose_agent,
    normalise_skills,
    people_ahead,
    plan_assignments,
    route,
    suitable_agent_online,
)

TZ = ZoneInfo("Asia/Shanghai")
T0 = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.timezone.utc)  # 10:00 in Shanghai


def agent(agent_id: int, skills: str = "", capacity: int = 3, active: int = 0, online: bool = True, ready: bool = True):
    return AgentState(agent_id, f"a{agent_id}", normalise_skills(skills), capacity, active, online, ready)


def waiting(chat_id: int, queue: str, minutes: int, dialect: str | None = None) -> WaitingChat:
    return WaitingChat(chat_id, queue, dialect, T0 + dt.timedelta(minutes=minutes))


# ---- which queue ------------------------------------------------------------------------


def test_seventy_year_old_who_cannot_cope_goes_to_elder_queue_with_a_follow_up():
    decision = route("cannot_cope", "general", age=70, dialect=None)
    assert decision.queue == ELDER_QUEUE
    assert decision.is_elder and decision.follow_up


def test_young_subscriber_asking_for_human_goes_to_general_queue():
    decision = route("request_human", "general", age=30, dialect="cantonese")
    assert decision == route("request_human", None, 30, "cantonese")
    assert (decision.queue, decision.is_elder, decision.follow_up, decision.dialect) == (
        GENERAL_QUEUE,
        False,
        False,
        "cantonese",
    )


def test_assistant_hint_or_elder_reason_routes_to_elder_queue_without_profile():
    assert route("fallback", "elder", age=None, dialect=None).queue == ELDER_QUEUE
    assert route("elder", None, age=None, dialect=None).queue == ELDER_QUEUE
    assert route("fallback", None, age=64, dialect=None).queue == GENERAL_QUEUE
    assert route("fallback", None, age=65, dialect=None).queue == ELDER_QUEUE


def test_unknown_reason_is_a_plain_request_for_a_human():
    assert route("something_new", None, age=40, dialect=None).reason == "request_human"


def test_skills_are_normalised():
    assert normalise_skills(" Elder, sichuanese,elder ,,") == ("elder", "sichuanese")


# ---- which agent --------------------------------------------------------------------------


def test_assignment_prefers_fewest_active_chats_and_never_offline_or_unready_agents():
    chat = waiting(1, GENERAL_QUEUE, 0)
    agents = [
        agent(1, active=2),
        agent(2, active=1),
        agent(3, active=0, online=False),
        agent(4, active=0, ready=False),
    ]
    assert choose_agent(chat, agents).agent_id == 2


def test_elder_queue_needs_the_elder_skill():
    chat = waiting(1, ELDER_QUEUE, 0)
    assert choose_agent(chat, [agent(1, "sichuanese")]) is None
    assert choose_agent(chat, [agent(1, "sichuanese"), agent(2, "elder", active=2)]).agent_id == 2


def test_dialect_speaker_is_preferred_even_when_busier():
    chat = waiting(1, ELDER_QUEUE, 0, dialect="sichuanese")
    agents = [agent(1, "elder", active=0), agent(2, "elder,sichuanese", active=2)]
    assert choose_agent(chat, agents).agent_id == 2
    # ...but not beyond capacity
    agents = [agent(1, "elder", active=0), agent(2, "elder,sichuanese", capacity=2, active=2)]
    assert choose_agent(chat, agents).agent_id == 1


def test_elder_queue_is_served_before_earlier_general_chats():
    queue = [waiting(1, GENERAL_QUEUE, 0), waiting(2, GENERAL_QUEUE, 1), waiting(3, ELDER_QUEUE, 5)]
    elder_agent = agent(7, "elder", capacity=1)
    assert plan_assignments(queue, [elder_agent]) == [(3, 7)]
    # with room for two, the elder chat still comes first, then the oldest general chat
    assert plan_assignments(queue, [agent(7, "elder", capacity=2)]) == [(3, 7), (1, 7)]


def test_plan_respects_capacity_across_several_chats():
    queue = [waiting(i, GENERAL_QUEUE, i) for i in range(1, 6)]
    plan = plan_assignments(queue, [agent(1, capacity=2), agent(2, capacity=1, active=0)])
    assert [chat for chat, _ in plan] == [1, 2, 3]
    assert sorted(a for _, a in plan) == [1, 1, 2]


def test_suitable_agent_online_counts_busy_and_unready_agents_but_not_offline_ones():
    assert suitable_agent_online(ELDER_QUEUE, [agent(1, "elder", ready=False, active=3)])
    assert not suitable_agent_online(ELDER_QUEUE, [agent(1, "elder", online=False), agent(2, "cantonese")])
    assert suitable_agent_online(GENERAL_QUEUE, [agent(2, "cantonese")])


def test_people_ahead_counts_earlier_chats_in_the_same_queue():
    queue = [
        waiting(1, GENERAL_QUEUE, 0),
        waiting(2, ELDER_QUEUE, 1),
        waiting(3, GENERAL_QUEUE, 2),
        waiting(4, ELDER_QUEUE, 3),
    ]
    assert [people_ahead(i, queue) for i in (1, 2, 3, 4)] == [0, 0, 1, 1]


# ---- service hours and promised call-backs ----------------------------------------------


HOURS = ServiceHours.parse("08:00-20:00")


def local(hour: int, minute: int = 0, day: int = 23) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=TZ)


@pytest.mark.parametrize(
    "now, due, words",
    [
        (local(15, 20), local(18), "今天18点"),  # 15:20 + 2 h -> 17:20 -> 18:00
        (local(16, 0), local(18), "今天18点"),
        (local(18, 30), local(20), "今天20点"),  # capped at closing
        (local(19, 30), local(10, day=24), "明天10点"),  # too close to closing
        (local(21, 0), local(10, day=24), "明天10点"),
        (local(6, 0), local(10), "今天10点"),  # before opening
    ],
)
def test_callback_due_follows_service_hours(now, due, words):
    got = hours.callback_due(now, HOURS, TZ, promise_hours=2)
    assert got == due
    assert hours.describe_deadline(got, now, TZ) == words


def test_follow_up_is_next_day_and_opening_hours_are_checked():
    assert hours.follow_up_due(local(23, 50), HOURS, TZ, 2) == local(10, day=24)
    assert hours.is_open(local(8, 0), HOURS, TZ) and not hours.is_open(local(20, 0), HOURS, TZ)


def test_round_the_clock_desk_and_bad_settings():
    always = ServiceHours.parse("00:00-24:00")
    assert hours.is_open(local(23, 59), always, TZ)
    assert hours.follow_up_due(local(23, 0), always, TZ, 2) == local(10, day=24)  # not at 02:00
    assert hours.describe_deadline(local(0, 0, day=24), local(22, 30), TZ) == "今天24点"
    for bad in ("8-20", "20:00-08:00", "08:00-25:00", "x"):
        with pytest.raises(ConfigError):
            ServiceHours.parse(bad)
    with pytest.raises(ConfigError, match="MAX_WAIT_MINUTES"):
        HandoffSettings.from_env({"MAX_WAIT_MINUTES": "0", "AGENT_SESSION_SECRET": "s"})
    settings = HandoffSettings.from_env({"SERVICE_HOURS": "09:30-17:00", "AGENT_SESSION_SECRET": "s"})
    assert settings.service_hours.open == dt.time(9, 30) and settings.timezone.key == "Asia/Shanghai"
