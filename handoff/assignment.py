"""Who serves whom: agents' readiness, and waiting conversations assigned to ready agents with
free slots (the elder queue first, handoff/routing.py decides), across workers."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from handoff import console_texts as texts
from handoff.agent_store import Agent
from handoff.live import ConsoleEvent, LiveState
from handoff.messenger import ChatMessenger
from handoff.routing import AgentState, WaitingChat, plan_assignments
from handoff.store import Chat, HandoffStore

OFFLINE_GRACE_S = 120.0  # an agent's console may be gone this long before their chats are re-queued


class Assignment:
    def __init__(
        self,
        store: HandoffStore,
        live: LiveState,
        messenger: ChatMessenger,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.store = store
        self.live = live
        self.messenger = messenger
        self.clock = clock
        self.offline_grace_s = OFFLINE_GRACE_S

    async def agent_states(self) -> list[AgentState]:
        agents = [a for a in await self.store.agents.list_agents() if not a.disabled]
        online = await self.live.online_agent_ids()
        active = await self.store.active_chat_counts()
        return [
            AgentState(
                agent_id=a.id,
                name=a.name,
                skills=a.skills,
                capacity=a.capacity,
                active_chats=active.get(a.id, 0),
                online=a.id in online,
                ready=a.ready,
            )
            for a in agents
        ]

    async def waiting(self) -> list[WaitingChat]:
        return [waiting_chat(q.chat, q.enqueued_at) for q in await self.store.waiting()]

    async def set_ready(self, agent: Agent, ready: bool) -> None:
        await self.store.agents.set_ready(agent.id, ready)
        await self.live.publish(ConsoleEvent("agents", agent_id=agent.id))
        if ready:
            await self.dispatch()

    async def dispatch(self) -> int:
        """Assign waiting chats to ready agents with free slots (elder queue first)."""
        lock = self.live.dispatch_lock()
        if not await lock.acquire():
            return 0
        assigned = 0
        try:
            waiting = await self.waiting()
            if not waiting:
                return 0
            agents = await self.agent_states()
            names = {agent.agent_id: agent.name for agent in agents}
            for chat_id, agent_id in plan_assignments(waiting, agents):
                if await self.store.assign(chat_id, agent_id, self.clock(), how="assigned"):
                    assigned += 1
                    await self.messenger.note(chat_id, texts.auto_assigned(names[agent_id]))
                    await self.live.publish(ConsoleEvent("chat", chat_id, agent_id))
            if assigned:
                await self.live.publish(ConsoleEvent("queue"), ConsoleEvent("agents"))
        finally:
            try:
                await lock.release()
            except Exception:  # the lock expired while we worked: nothing to release
                pass
        return assigned

    async def requeue_chats_of_vanished_agents(self, now: dt.datetime) -> None:
        """Chats must not sit with an agent whose console is gone: back to the queue, keeping
        their place (enqueued at the time of the original request)."""
        online = await self.live.online_agent_ids()
        for chat in await self.store.assigned_chats():
            if chat.agent_id is None or chat.agent_id in online:
                continue
            since = await self.live.offline_since(chat.agent_id)
            if time.time() - since < self.offline_grace_s:
                continue
            if await self.store.requeue(chat.id, chat.queue, now, enqueued_at=chat.created_at):
                agent = await self.store.agents.agent(chat.agent_id)
                await self.messenger.note(chat.id, texts.requeued_agent_offline(agent.name if agent else ""))
                await self.live.publish(ConsoleEvent("queue", chat.id), ConsoleEvent("chat", chat.id))


def waiting_chat(chat: Chat, enqueued_at: dt.datetime) -> WaitingChat:
    return WaitingChat(chat_id=chat.id, queue=chat.queue, dialect=chat.dialect, enqueued_at=enqueued_at)
