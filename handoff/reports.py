"""The supervisor view's figures (queue lengths and waits, agents, call-backs, the 24-hour
answer share) and the latest audit entries. Numbers only: the wording is in the templates."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from core.tickets import Ticket
from handoff.routing import QUEUES, AgentState
from handoff.service import HandoffService
from handoff.store import AuditEntry
from handoff.task_store import DONE_OUTCOMES

AUDIT_ROWS = 20
SHARE_DAYS = 30
QUALITY_DAYS = (7, 30)


@dataclass(frozen=True)
class SupervisorReport:
    queue_lengths: dict[str, int]
    longest_wait_s: dict[str, float]  # only queues with someone waiting
    agents: list[AgentState]  # online first, then by name
    callbacks_due: int
    callbacks_overdue: int
    answered_24h: int
    requests_24h: int
    audit: list[AuditEntry]
    quality: list["QueueQuality"] = field(default_factory=list)  # per queue (elder desk first) and period
    tickets: list["TicketFigures"] = field(default_factory=list)  # per desk (elder first) and period
    escalated: list[Ticket] = field(default_factory=list)  # open tickets past their promise

    @property
    def online_agents(self) -> int:
        """Agents who take chats now: online and ready (an agent on a break is not counted)."""
        return sum(1 for agent in self.agents if agent.online and agent.ready)

    @property
    def not_ready_agents(self) -> int:
        return sum(1 for agent in self.agents if agent.online and not agent.ready)

    @property
    def share_24h(self) -> float | None:
        """Percentage of requests answered within 24 h, None when there were none."""
        return 100 * self.answered_24h / self.requests_24h if self.requests_24h else None


async def supervisor_report(service: HandoffService) -> SupervisorReport:
    now = service.clock()
    waiting = await service.store.waiting()
    lengths = {queue: sum(1 for q in waiting if q.chat.queue == queue) for queue in QUEUES}
    longest = {
        queue: max((now - q.enqueued_at).total_seconds() for q in waiting if q.chat.queue == queue)
        for queue in QUEUES
        if lengths[queue]
    }
    callbacks = [task for task in await service.store.tasks.open_tasks() if task.kind == "callback"]
    answered, requests = await answered_within_24h(service, now)
    agents = sorted(await service.assignment.agent_states(), key=lambda a: (not a.online, a.name))
    return SupervisorReport(
        queue_lengths=lengths,
        longest_wait_s=longest,
        agents=agents,
        callbacks_due=sum(1 for task in callbacks if task.due_at > now),
        callbacks_overdue=sum(1 for task in callbacks if task.due_at <= now),
        answered_24h=answered,
        requests_24h=requests,
        audit=await service.store.audit_entries(limit=AUDIT_ROWS),
        quality=await quality(service, now),
        tickets=await ticket_figures(service, now),
        escalated=await service.tickets.store.escalated(),
    )


@dataclass(frozen=True)
class QueueQuality:
    """Closing the loop for one queue over the last `days` days: the satisfaction answers to
    the question asked when a chat with a person ended, and the next-day follow-ups (次日回访)
    that fell due and whose outcome was recorded."""

    queue: str
    days: int
    asked: int
    satisfied: int  # 1 满意
    neutral: int  # 2 一般
    unsatisfied: int  # 3 不满意
    follow_ups_due: int
    follow_ups_done: int

    @property
    def answered(self) -> int:
        return self.satisfied + self.neutral + self.unsatisfied

    @property
    def satisfied_share(self) -> float | None:
        return 100 * self.satisfied / self.answered if self.answered else None

    @property
    def answer_share(self) -> float | None:
        return 100 * self.answered / self.asked if self.asked else None

    @property
    def follow_up_share(self) -> float | None:
        return 100 * self.follow_ups_done / self.follow_ups_due if self.follow_ups_due else None


async def quality(service: HandoffService, now: dt.datetime) -> list[QueueQuality]:
    longest = max(QUALITY_DAYS)
    surveys = await service.store.surveys_since(now - dt.timedelta(days=longest))
    follow_ups = await service.store.tasks.tasks_due_since("follow_up", now - dt.timedelta(days=longest), now)
    rows = []
    for queue in QUEUES:  # the elder desk first
        for days in QUALITY_DAYS:
            since = now - dt.timedelta(days=days)
            asked = [s for s in surveys if s.queue == queue and s.asked_at >= since]
            # a follow-up belongs to the elder desk when the chat it follows was an elder's
            due = [t for t in follow_ups if (queue == QUEUES[0]) == t.is_elder and t.due_at >= since]
            rows.append(
                QueueQuality(
                    queue=queue,
                    days=days,
                    asked=len(asked),
                    satisfied=sum(1 for s in asked if s.score == 1),
                    neutral=sum(1 for s in asked if s.score == 2),
                    unsatisfied=sum(1 for s in asked if s.score == 3),
                    follow_ups_due=len(due),
                    follow_ups_done=sum(1 for t in due if t.outcome in DONE_OUTCOMES),
                )
            )
    return rows


@dataclass(frozen=True)
class TicketFigures:
    """Tickets of one desk over the last `days` days: opened and closed by category, the share
    closed within their promise, the first response time, and the satisfaction answers to the
    question sent with each resolution."""

    queue: str
    days: int
    opened: dict[str, int]  # category -> tickets opened in the period
    closed: dict[str, int]  # category -> tickets resolved or closed in the period
    closed_in_time: int
    first_response_s: float | None  # median, over tickets that had a first response in the period
    surveyed: int
    satisfied: int  # 1 满意
    unsatisfied: int  # 3 不满意

    @property
    def closed_total(self) -> int:
        return sum(self.closed.values())

    @property
    def opened_total(self) -> int:
        return sum(self.opened.values())

    @property
    def in_time_share(self) -> float | None:
        return 100 * self.closed_in_time / self.closed_total if self.closed_total else None

    @property
    def satisfied_share(self) -> float | None:
        return 100 * self.satisfied / self.surveyed if self.surveyed else None


async def ticket_figures(service: HandoffService, now: dt.datetime) -> list[TicketFigures]:
    store = service.tickets.store
    found = await store.tickets_since(now - dt.timedelta(days=max(QUALITY_DAYS)))
    scores = await store.survey_scores([t.id for t in found])
    rows = []
    for queue in QUEUES:  # the elder desk first
        for days in QUALITY_DAYS:
            since = now - dt.timedelta(days=days)
            mine = [t for t in found if t.queue == queue]
            opened = [t for t in mine if t.created_at >= since]
            closed = [t for t in mine if t.done_at is not None and t.done_at >= since]
            waits = sorted(
                (t.first_response_at - t.created_at).total_seconds()
                for t in mine
                if t.first_response_at is not None and t.first_response_at >= since
            )
            answered = [scores[t.id] for t in closed if t.id in scores]
            rows.append(
                TicketFigures(
                    queue=queue,
                    days=days,
                    opened=_by_category(opened),
                    closed=_by_category(closed),
                    closed_in_time=sum(1 for t in closed if t.done_at is not None and t.done_at <= t.due_at),
                    first_response_s=waits[len(waits) // 2] if waits else None,
                    surveyed=len(answered),
                    satisfied=answered.count(1),
                    unsatisfied=answered.count(3),
                )
            )
    return rows


def _by_category(found: list[Ticket]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ticket in found:
        counts[ticket.category] = counts.get(ticket.category, 0) + 1
    return counts


async def answered_within_24h(service: HandoffService, now: dt.datetime, days: int = SHARE_DAYS) -> tuple[int, int]:
    """(answered within 24 h, requests) over handoff requests of the last `days` days.

    Answered: an agent's reply reached the outbox, or a call-back/follow-up was recorded as
    done, within 24 h of the request. Requests younger than 24 h count only once answered.
    """
    day = dt.timedelta(hours=24)
    chats = await service.store.chats_since(now - dt.timedelta(days=days))
    tasks = await service.store.tasks.tasks_of_chats([chat.id for chat in chats])
    done_at: dict[int, dt.datetime] = {}
    for task in tasks:
        if task.chat_id is not None and task.done_at is not None and task.outcome in ("reached", "resolved_online"):
            done_at[task.chat_id] = min(task.done_at, done_at.get(task.chat_id, task.done_at))
    answered = requests = 0
    for chat in chats:
        moments = [m for m in (chat.first_agent_reply_at, done_at.get(chat.id)) if m is not None]
        in_time = any(m - chat.created_at <= day for m in moments)
        if in_time or now - chat.created_at >= day:
            requests += 1
            answered += int(in_time)
    return answered, requests
