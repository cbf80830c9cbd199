"""What the agent console reads, and its log-in sessions.

The console's handlers (console.py) parse the request, call one function here or one action
of `HandoffService`, and render a template with the result. Nothing here knows HTML or the
console's wording: the dataclasses carry facts, the templates (handoff/templates/) say them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from core.tickets import Ticket
from core.vocabulary import ChatStatus
from handoff import access, auth
from handoff.agent_store import Agent
from handoff.messenger import Outcome
from handoff.profile import Profile
from handoff.routing import QUEUES, AgentState
from handoff.service import HandoffService, WindowView
from handoff.store import Chat, Message, QueuedChat
from handoff.task_store import Task
from handoff.ticket_store import CannedReply

DUE_SOON = dt.timedelta(hours=2)  # call-backs shown on the dashboard and counted in the header


# ---- log-in sessions ----------------------------------------------------------------------
# The database row (ho_agent_sessions) is the authority: it expires, can be revoked, and is
# only honoured while the agent is not disabled. The browser holds the row's random token
# (inside the encrypted session cookie); the row holds only the token's HMAC.


@dataclass(frozen=True)
class LogIn:
    agent: Agent | None = None
    token: str | None = None
    refused: Literal["locked", "wrong"] | None = None


async def log_in(service: HandoffService, name: str, password: str, address: str) -> LogIn:
    """Check the password and open a session. Every attempt is counted before the check, per
    source address and per name from that address; too many lock that pair (or the address)
    for a while, never the name for everyone."""
    if not await service.live.reserve_login_attempt(name, address):
        return LogIn(refused="locked")
    agent = await service.store.agents.agent_by_name(name) if name else None
    matches = await auth.password_matches_async(password, agent.password_hash if agent else auth.dummy_hash())
    if agent is None or agent.disabled or not matches:
        return LogIn(refused="wrong")
    await service.live.login_succeeded(name, address)
    token = auth.new_session_token()
    now = service.clock()
    expires = now + dt.timedelta(hours=service.settings.session_hours)
    await service.store.agents.create_session(_digest(service, token), agent.id, now, expires)
    return LogIn(agent=agent, token=token)


async def session_agent(service: HandoffService, token: str | None) -> Agent | None:
    """The agent of a live session: None once it expired or was revoked, or the agent was disabled."""
    if not token:
        return None
    return await service.store.agents.session_agent(_digest(service, token), service.clock())


async def log_out(service: HandoffService, token: str, agent: Agent) -> None:
    await service.store.agents.revoke_session(_digest(service, token), service.clock())
    await service.assignment.set_ready(agent, False)


def _digest(service: HandoffService, token: str) -> str:
    return auth.token_digest(service.settings.session_secret, token)


# ---- the dashboard ------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueView:
    waiting: list[QueuedChat]  # by queue (elder desk first), then longest waiting first
    counts: dict[str, int]  # every queue, empty ones too


@dataclass(frozen=True)
class MineView:
    chats: list[Chat]
    latest: dict[int, dt.datetime]  # chat id -> the subscriber's latest message
    previews: dict[int, Message] = field(default_factory=dict)  # chat id -> that message (preview)
    replied: dict[int, dt.datetime] = field(default_factory=dict)  # chat id -> the agent's latest reply


@dataclass(frozen=True)
class Dashboard:
    queue: QueueView
    mine: MineView
    due: list[Task]


async def queue(service: HandoffService, agent: Agent) -> QueueView:
    """The chats waiting in the queues of the agent's desk (every queue for a supervisor)."""
    desks = access.desk_queues(agent)
    waiting = [q for q in await service.store.waiting() if q.chat.queue in desks]
    ordered = sorted(
        waiting, key=lambda q: (QUEUES.index(q.chat.queue) if q.chat.queue in QUEUES else len(QUEUES), q.enqueued_at)
    )
    counts = {name: sum(1 for q in waiting if q.chat.queue == name) for name in QUEUES}
    return QueueView(waiting=ordered, counts=counts)


async def mine(service: HandoffService, agent: Agent) -> MineView:
    chats = await service.store.chats_of_agent(agent.id)
    ids = [chat.id for chat in chats]
    latest = await service.store.last_subscriber_message_at(ids)
    return MineView(
        chats=chats,
        latest=latest,
        previews=await service.store.last_subscriber_messages(ids),
        replied=await service.store.last_subscriber_message_at(ids, sender="agent"),
    )


async def due_soon(service: HandoffService) -> list[Task]:
    """Open tasks due within two hours (overdue ones included)."""
    horizon = service.clock() + DUE_SOON
    return [task for task in await service.store.tasks.open_tasks() if task.due_at <= horizon]


async def dashboard(service: HandoffService, agent: Agent) -> Dashboard:
    return Dashboard(queue=await queue(service, agent), mine=await mine(service, agent), due=await due_soon(service))


# ---- one chat -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatHead:
    chat: Chat
    agent_name: str | None
    window: WindowView
    waited_since: dt.datetime | None  # while waiting: when it joined the queue


@dataclass(frozen=True)
class Transcript:
    messages: list[Message]
    agent_names: dict[int, str]
    outcomes: dict[int, Outcome] = field(default_factory=dict)  # message id -> what became of it at WeChat


@dataclass(frozen=True)
class ChatPage:
    head: ChatHead
    transcript: Transcript
    profile: Profile
    earlier: list[Chat]  # the subscriber's other handoffs, newest first (the page lists the first ten)
    open_tasks: list[Task]  # the subscriber's unfinished call-backs and follow-ups
    transfer_to: list[AgentState]  # the other agents online
    can_reply: bool
    green_channel: bool
    canned: list[CannedReply]  # the desk's canned replies (editable at /agent/canned)
    tickets: list[Ticket]  # the subscriber's tickets, newest first

    @property
    def chat(self) -> Chat:
        return self.head.chat


async def visible_chat(service: HandoffService, chat_id: int, agent: Agent) -> Chat | None:
    """The chat if this agent may see it (handoff/access.py), else None, as if it did not exist."""
    chat = await service.store.chat(chat_id)
    return chat if chat is not None and access.may_see_chat(agent, chat) else None


async def chat_head(service: HandoffService, chat_id: int, agent: Agent) -> ChatHead | None:
    chat = await visible_chat(service, chat_id, agent)
    return await _head(service, chat) if chat else None


async def transcript(service: HandoffService, chat_id: int, agent: Agent) -> Transcript | None:
    """The transcript (re-fetched on live events): its view is audited once per few minutes."""
    chat = await visible_chat(service, chat_id, agent)
    if chat is None:
        return None
    await _audit_view(service, agent, chat, VIEW_TRANSCRIPT, every_time=False)
    return await _transcript(service, chat)


async def chat_page(service: HandoffService, chat_id: int, agent: Agent) -> ChatPage | None:
    chat = await visible_chat(service, chat_id, agent)
    if chat is None:
        return None
    await _audit_view(service, agent, chat, VIEW_TRANSCRIPT, every_time=True)
    profile = await service.profile_of(chat)
    earlier = [c for c in await service.store.chats_of_openid(chat.openid) if c.id != chat.id]
    tasks = await service.store.tasks.tasks_of_openid(chat.openid)
    online = [state for state in await service.assignment.agent_states() if state.online and state.agent_id != agent.id]
    return ChatPage(
        head=await _head(service, chat),
        transcript=await _transcript(service, chat),
        profile=profile,
        earlier=earlier,
        open_tasks=[task for task in tasks if task.is_open],
        transfer_to=online,
        can_reply=chat.status == ChatStatus.ASSIGNED and (chat.agent_id == agent.id or agent.is_supervisor),
        green_channel=chat.is_open and profile.green_channel_allowed(service.settings.elder_age),
        canned=await service.canned.of_desk(chat.queue),
        tickets=await service.tickets.store.tickets_of_openid(chat.openid),
    )


async def voice_note_chat(service: HandoffService, audio_id: int, agent: Agent) -> Chat | None:
    """The chat through which this agent may play a stored voice note (audited), else None."""
    chat = next((c for c in await service.store.chats_with_audio(audio_id) if access.may_see_chat(agent, c)), None)
    if chat is not None:
        await _audit_view(service, agent, chat, PLAY_VOICE, every_time=True, detail=f"voice note {audio_id}")
    return chat


VIEW_TRANSCRIPT = "view_transcript"
PLAY_VOICE = "play_voice"
VIEW_AUDIT_EVERY_S = 300  # a transcript re-fetched by the live console is audited once per 5 minutes


async def _audit_view(
    service: HandoffService, agent: Agent, chat: Chat, action: str, *, every_time: bool, detail: str | None = None
) -> None:
    """Who saw which chat's transcript or voice note, and when (the one audit log)."""
    first = await service.live.first_view(agent.id, chat.id, action, VIEW_AUDIT_EVERY_S)
    if every_time or first:
        await service.store.audit(
            agent.name, action, service.clock(), openid=chat.openid, phone=chat.phone, chat_id=chat.id, detail=detail
        )


async def _head(service: HandoffService, chat: Chat) -> ChatHead:
    agent = await service.store.agents.agent(chat.agent_id) if chat.agent_id else None
    waited_since = None
    if chat.status == ChatStatus.WAITING:
        waited_since = next((q.enqueued_at for q in await service.store.waiting() if q.chat.id == chat.id), None)
    return ChatHead(
        chat=chat,
        agent_name=agent.name if agent else None,
        window=await service.window_view(chat.openid),
        waited_since=waited_since,
    )


async def _transcript(service: HandoffService, chat: Chat) -> Transcript:
    names = {agent.id: agent.name for agent in await service.store.agents.list_agents()}
    messages = await service.store.transcript(chat.id)
    return Transcript(messages=messages, agent_names=names, outcomes=await service.messenger.outcomes(messages))


# ---- call-back tasks ----------------------------------------------------------------------


@dataclass(frozen=True)
class TasksPage:
    open: list[Task]
    done: list[Task]  # the latest finished ones
    revealed: dict[int, str]  # task id -> full number, shown once after an audited request


async def tasks(service: HandoffService, revealed: dict[int, str] | None = None) -> TasksPage:
    return TasksPage(
        open=await service.store.tasks.open_tasks(),
        done=await service.store.tasks.recent_done_tasks(),
        revealed=revealed or {},
    )
