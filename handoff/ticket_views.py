"""What the console's ticket pages show: the lists (mine, my desk's, overdue, a search) and one
ticket with its conversation, history, the subscriber's other tickets and the desk's canned
replies. Read-only; the verbs are handoff/tickets.py.

An agent sees the tickets she owns and those of her desk's queues (handoff/access.py's desk);
a supervisor sees every ticket. Others answer 404, like chats.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.tickets import Ticket
from handoff import access
from handoff.agent_store import Agent
from handoff.service import HandoffService
from handoff.store import Message
from handoff.ticket_store import CannedReply, TicketEvent

SEARCH_MIN_CHARS = 2


@dataclass(frozen=True)
class TicketLists:
    mine: list[Ticket]
    desk: list[Ticket]  # open, not yet owned, in the agent's desk's queues
    overdue: list[Ticket]  # open and past their promise, among those she may see
    query: str
    results: list[Ticket]  # the search, when there is one
    agent_names: dict[int, str]


@dataclass(frozen=True)
class TicketPage:
    ticket: Ticket
    events: list[TicketEvent]
    transcript: list[Message]  # the conversation the ticket came from, when there was a chat
    previous: list[Ticket]  # the subscriber's other tickets, newest first
    canned: list[CannedReply]
    agents: list[Agent]  # whom it may be assigned to
    agent_names: dict[int, str]
    overdue: bool


def may_see_ticket(agent: Agent, ticket: Ticket) -> bool:
    return agent.is_supervisor or ticket.agent_id == agent.id or ticket.queue in access.desk_queues(agent)


async def ticket_lists(service: HandoffService, agent: Agent, query: str = "") -> TicketLists:
    store = service.tickets.store
    now = service.clock()
    query = query.strip()
    results: list[Ticket] = []
    if len(query) >= SEARCH_MIN_CHARS:
        results = [t for t in await store.search(query) if may_see_ticket(agent, t)]
    return TicketLists(
        mine=await store.open_tickets(agent_id=agent.id),
        desk=await store.open_tickets(queues=access.desk_queues(agent)),
        overdue=[t for t in await store.open_tickets(overdue_at=now) if may_see_ticket(agent, t)],
        query=query,
        results=results,
        agent_names=await _agent_names(service),
    )


async def ticket_page(service: HandoffService, ticket_id: int, agent: Agent) -> TicketPage | None:
    ticket = await service.tickets.store.ticket(ticket_id)
    if ticket is None or not may_see_ticket(agent, ticket):
        return None
    transcript = await service.store.transcript(ticket.chat_id) if ticket.chat_id is not None else []
    previous = [t for t in await service.tickets.store.tickets_of_openid(ticket.openid) if t.id != ticket.id]
    agents = [a for a in await service.store.agents.list_agents() if not a.disabled]
    return TicketPage(
        ticket=ticket,
        events=await service.tickets.history(ticket.id),
        transcript=transcript,
        previous=previous,
        canned=await service.canned.of_desk(ticket.queue),
        agents=agents,
        agent_names={a.id: a.name for a in agents},
        overdue=ticket.overdue(service.clock()),
    )


async def supervisor_escalations(service: HandoffService) -> list[Ticket]:
    return await service.tickets.store.escalated()


async def _agent_names(service: HandoffService) -> dict[int, str]:
    return {agent.id: agent.name for agent in await service.store.agents.list_agents()}
