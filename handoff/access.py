"""Which chats an agent may open: her own (assigned to her now or handled by her before) and
those waiting in a queue of her desk. Supervisors see every chat. Pure rules over the store's
dataclasses; the console asks them before it shows a chat, its transcript or its voice notes."""

from __future__ import annotations

from core.vocabulary import ChatStatus
from handoff.agent_store import Agent
from handoff.routing import QUEUES, serves_queue
from handoff.store import Chat


def desk_queues(agent: Agent) -> tuple[str, ...]:
    """The queues whose waiting chats this agent sees (all of them for a supervisor)."""
    if agent.is_supervisor:
        return QUEUES
    return tuple(queue for queue in QUEUES if serves_queue(agent.skills, queue))


def may_see_chat(agent: Agent, chat: Chat) -> bool:
    if agent.is_supervisor or chat.agent_id == agent.id:
        return True
    return chat.status == ChatStatus.WAITING and chat.queue in desk_queues(agent)
