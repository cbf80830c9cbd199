"""Call-backs and follow-ups: the promises to call a subscriber, kept until an agent records how
the call went (the console's 回电任务). They are tickets of kind callback / follow_up."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from core import wording
from core.vocabulary import HandoffReason
from handoff import console_texts as texts
from handoff import hours
from handoff.agent_store import Agent
from handoff.config import HandoffSettings
from handoff.errors import ConsoleError
from handoff.live import ConsoleEvent, LiveState
from handoff.messenger import ChatMessenger
from handoff.store import Chat, HandoffStore
from handoff.task_store import Task

NO_ANSWER_RETRY = dt.timedelta(hours=2)
TASK_OUTCOMES = {
    "reached": "已联系，问题已解决",
    "resolved_online": "已在微信里解决",
    "no_answer": "未接通，稍后再打",
    "closed_other": "其他（见备注）",
}


class CallbackService:
    def __init__(
        self,
        store: HandoffStore,
        live: LiveState,
        settings: HandoffSettings,
        messenger: ChatMessenger,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.store = store
        self.live = live
        self.settings = settings
        self.messenger = messenger
        self.clock = clock

    async def create(self, chat_id: int, agent: Agent, note: str | None) -> Task:
        """An agent's call-back task for this conversation (one open call-back per subscriber)."""
        chat = await self.store.chat(chat_id)
        if chat is None:
            raise ConsoleError(texts.NO_SUCH_CHAT)
        task = await self.open_task(
            chat, "callback", agent.name, note=(note or "").strip() or texts.AGENT_CALLBACK_NOTE
        )
        due = task.due_at.astimezone(self.settings.timezone).strftime("%m-%d %H:%M")
        await self.messenger.note(chat.id, texts.callback_created_note(agent.name, due))
        await self.live.publish(ConsoleEvent("tasks", chat_id=chat.id), ConsoleEvent("message", chat_id=chat.id))
        return task

    async def record_outcome(self, task_id: int, agent: Agent, outcome: str, note: str | None) -> Task:
        if outcome not in TASK_OUTCOMES:
            raise ConsoleError(texts.CHOOSE_OUTCOME)
        task = await self.store.tasks.task(task_id)
        if task is None:
            raise ConsoleError(texts.NO_SUCH_TASK)
        if not task.is_open:
            raise ConsoleError(texts.TASK_ALREADY_DONE)
        clean_note = (note or "").strip()[:500] or None
        if outcome == "closed_other" and not clean_note:
            raise ConsoleError(texts.OTHER_NEEDS_NOTE)
        now = self.clock()
        if outcome == "no_answer":
            done = await self.store.tasks.retry_task_later(task.id, clean_note, agent.name, now + NO_ANSWER_RETRY, now)
        else:
            done = await self.store.tasks.finish_task(task.id, outcome, clean_note, agent.name, now)
        if not done:
            raise ConsoleError(texts.TASK_JUST_DONE)
        await self.store.audit(
            agent.name,
            f"task_{outcome}",
            now,
            openid=task.openid,
            phone=task.phone,
            chat_id=task.chat_id,
            detail=f"task {task.id} ({task.kind})" + (f": {clean_note}" if clean_note else ""),
        )
        await self.live.publish(ConsoleEvent("tasks"))
        updated = await self.store.tasks.task(task.id)
        assert updated is not None
        return updated

    async def reveal_phone(self, task_id: int, agent: Agent) -> Task | None:
        """The full number of a call-back task, for dialling; every look is audited."""
        task = await self.store.tasks.task(task_id)
        if task is None or task.phone is None:
            return None
        await self.store.audit(
            agent.name,
            "reveal_phone",
            self.clock(),
            openid=task.openid,
            phone=task.phone,
            chat_id=task.chat_id,
            detail=f"task {task.id}",
        )
        return task

    async def promise(self, chat: Chat, why: str) -> str:
        """Promise her a call-back by a stated time (a task); the words to tell her."""
        # A lost or stolen phone may be answered by whoever has it: she is answered here instead.
        lost = chat.reason == HandoffReason.LOST_PHONE.value
        note = f"{texts.LOST_PHONE_DO_NOT_CALL} {chat.summary or ''}".strip() if lost else chat.summary
        task = await self.open_task(chat, "callback", "system", note=note)
        deadline = hours.describe_deadline(task.due_at, self.clock(), self.settings.timezone)
        if lost:
            text = wording.callback_for_lost_phone(deadline, chat.is_elder)
        elif chat.phone:
            text = wording.callback_promise(deadline, why, chat.is_elder)
        else:
            text = wording.callback_without_number(deadline, chat.is_elder)
        await self.messenger.note(chat.id, texts.callback_promised(deadline, task.id))
        return text

    async def open_task(self, chat: Chat, kind: str, actor: str, note: str | None) -> Task:
        """A call-back or follow-up task for this conversation's subscriber, due by the desk's hours."""
        # Asking again before we called back must not queue a second call: the open task stands.
        pending = await self.store.tasks.open_task_of(chat.openid, kind)
        if pending is not None:
            return pending
        now = self.clock()
        settings = self.settings
        if kind == "follow_up":
            due = hours.follow_up_due(now, settings.service_hours, settings.timezone, settings.callback_promise_hours)
        else:
            due = hours.callback_due(now, settings.service_hours, settings.timezone, settings.callback_promise_hours)
        values = {
            "kind": kind,
            "openid": chat.openid,
            "phone": chat.phone,
            "chat_id": chat.id,
            "reason": chat.reason,
            "note": note,
            "is_elder": chat.is_elder,
            "queue": chat.queue,
            "due_at": due,
            "created_by": actor,
        }
        if kind == "follow_up" and chat.agent_id is not None and chat.agent_id in await self.live.online_agent_ids():
            values["agent_id"] = chat.agent_id  # back to the agent who served her, while on duty
        return await self.store.tasks.create_task(values, now)

    async def close_answered(self, chat: Chat, actor: str) -> None:
        """A person answered her in this chat: the call-back promised to her before is kept."""
        task = await self.store.tasks.open_task_of(chat.openid, "callback")
        if task is None or task.created_at > chat.created_at:
            return
        note = texts.callback_kept_in_chat(chat.id)
        if await self.store.tasks.finish_task(task.id, "resolved_online", note, actor, self.clock()):
            await self.messenger.note(chat.id, texts.callback_closed(task.id))
            await self.live.publish(ConsoleEvent("tasks"))
