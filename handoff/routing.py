"""Routing rules and assignment: which queue a handoff joins and which agent gets which chat.

Pure functions over plain dataclasses, so the rules are easy to read and to test; the
service feeds them the state it read from the database and Redis.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, replace

from core.vocabulary import HandoffReason, Queue

ELDER_QUEUE = Queue.ELDER.value
GENERAL_QUEUE = Queue.GENERAL.value
QUEUES = (ELDER_QUEUE, GENERAL_QUEUE)  # in order of priority
QUEUE_LABELS = {ELDER_QUEUE: "年长客户专席", GENERAL_QUEUE: "普通队列"}

REASON_LABELS = {
    HandoffReason.REQUEST_HUMAN.value: "主动要求人工",
    HandoffReason.FALLBACK.value: "机器人连续两次没听懂",
    HandoffReason.ELDER.value: "65岁以上客户",
    HandoffReason.VOICE_UNRECOGNISED.value: "语音未能识别",
    HandoffReason.NEEDS_IN_PERSON.value: "需要人工办理",
    HandoffReason.CANNOT_COPE.value: "表示不会用/看不懂",
    HandoffReason.COMPLAINT.value: "投诉",
    HandoffReason.DISPUTE.value: "费用异议",
    HandoffReason.OPERATOR_TOPIC.value: "机器人办不了的业务",
    HandoffReason.LOST_PHONE.value: "手机丢失/被盗",
}
DEFAULT_REASON = HandoffReason.REQUEST_HUMAN.value

ELDER_SKILL = "elder"
SKILL_LABELS = {
    ELDER_SKILL: "年长客户服务",
    "sichuanese": "四川话",
    "cantonese": "粤语",
    "shanghainese": "上海话",
    "minnan": "闽南语",
    "hakka": "客家话",
}


def normalise_skills(raw: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """ "elder, Sichuanese" -> ("elder", "sichuanese"); order kept, duplicates dropped."""
    parts = raw.split(",") if isinstance(raw, str) else list(raw)
    seen: list[str] = []
    for part in parts:
        skill = part.strip().lower()
        if skill and skill not in seen:
            seen.append(skill)
    return tuple(seen)


@dataclass(frozen=True)
class Route:
    queue: str
    reason: str
    dialect: str | None
    is_elder: bool
    follow_up: bool  # 次日回访 for those who said they cannot cope


def route(
    reason: str,
    queue_hint: str | None,
    age: int | None,
    dialect: str | None,
    elder_age: int = 65,
    bound: bool = True,
) -> Route:
    """The queue for a handoff. The elder queue when the profile says 65+ or the assistant
    asked for it, or for a voice note nobody could transcribe from an openid with no bound
    number (someone who speaks rather than types, and whom we cannot look up, is served by
    the elder-care desk, where binding is offered by a person); unknown reasons are treated as
    a plain request for a human."""
    known_reason = reason if reason in REASON_LABELS else DEFAULT_REASON
    is_elder = (
        (age is not None and age >= elder_age)
        or queue_hint == ELDER_QUEUE
        or known_reason == HandoffReason.ELDER.value
        or (not bound and known_reason == HandoffReason.VOICE_UNRECOGNISED.value)
    )
    return Route(
        queue=ELDER_QUEUE if is_elder else GENERAL_QUEUE,
        reason=known_reason,
        dialect=(dialect or None),
        is_elder=is_elder,
        follow_up=known_reason == HandoffReason.CANNOT_COPE.value,
    )


@dataclass(frozen=True)
class AgentState:
    agent_id: int
    name: str
    skills: tuple[str, ...]
    capacity: int
    active_chats: int
    online: bool  # the console is open (live presence)
    ready: bool  # 就绪: takes chats automatically

    @property
    def free_slots(self) -> int:
        return max(0, self.capacity - self.active_chats)


@dataclass(frozen=True)
class WaitingChat:
    chat_id: int
    queue: str
    dialect: str | None
    enqueued_at: dt.datetime


def serves_queue(skills: tuple[str, ...], queue: str) -> bool:
    """The elder-care queue needs the elder skill; every agent serves the others."""
    return queue != ELDER_QUEUE or ELDER_SKILL in skills


def can_serve_queue(agent: AgentState, queue: str) -> bool:
    return serves_queue(agent.skills, queue)


def suitable_agent_online(queue: str, agents: list[AgentState]) -> bool:
    """Someone who could take this queue has the console open (ready or not, busy or not)."""
    return any(agent.online and can_serve_queue(agent, queue) for agent in agents)


def queue_order(chat: WaitingChat) -> tuple[int, dt.datetime, int]:
    return (QUEUES.index(chat.queue) if chat.queue in QUEUES else len(QUEUES), chat.enqueued_at, chat.chat_id)


def choose_agent(chat: WaitingChat, agents: list[AgentState]) -> AgentState | None:
    """The online, ready agent with the right skill and a free slot: dialect speakers first,
    then the fewest active chats (ties: lowest id, so the choice is stable)."""
    candidates = [a for a in agents if a.online and a.ready and a.free_slots > 0 and can_serve_queue(a, chat.queue)]
    if not candidates:
        return None
    if chat.dialect:
        speakers = [a for a in candidates if chat.dialect in a.skills]
        candidates = speakers or candidates
    return min(candidates, key=lambda a: (a.active_chats, a.agent_id))


def plan_assignments(waiting: list[WaitingChat], agents: list[AgentState]) -> list[tuple[int, int]]:
    """(chat_id, agent_id) pairs for everything that can be assigned now, elder queue first."""
    pool = {agent.agent_id: agent for agent in agents}
    assignments: list[tuple[int, int]] = []
    for chat in sorted(waiting, key=queue_order):
        chosen = choose_agent(chat, list(pool.values()))
        if chosen is None:
            continue
        assignments.append((chat.chat_id, chosen.agent_id))
        pool[chosen.agent_id] = replace(chosen, active_chats=chosen.active_chats + 1)
    return assignments


def people_ahead(chat_id: int, waiting: list[WaitingChat]) -> int:
    """How many chats in the same queue were waiting before this one."""
    mine = next((chat for chat in waiting if chat.chat_id == chat_id), None)
    if mine is None:
        return 0
    return sum(1 for other in waiting if other.queue == mine.queue and queue_order(other) < queue_order(mine))


# A rough handling time per chat, for the subscriber's 「大约N分钟」: the queue moves by about one
# chat per agent every this many minutes.
MINUTES_PER_CHAT = 3


def expected_wait_minutes(queue: str, ahead: int, agents: list[AgentState]) -> int:
    """About how long until an agent takes a chat with `ahead` chats before it in `queue`:
    0 when a ready agent has a free slot now, else whole minutes (at least 1), from the
    number of agents online who can serve the queue."""
    serving = [a for a in agents if a.online and can_serve_queue(a, queue)]
    free_now = sum(a.free_slots for a in serving if a.ready)
    if free_now > ahead:
        return 0
    return max(1, math.ceil((ahead + 1) * MINUTES_PER_CHAT / max(1, len(serving))))
