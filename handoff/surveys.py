"""The satisfaction question after a chat or a resolved ticket, and its answer.

The closing message carries the question (one message, not two: WeChat allows five replies per
subscriber message). If the quota refuses it, it is owed and goes out ahead of the answer to her
next message. Her 1/2/3 within a day is her score, not a menu choice for the bot.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from core import wording
from handoff import console_texts as texts
from handoff.callbacks import CallbackService
from handoff.live import ConsoleEvent, LiveState
from handoff.messenger import ChatMessenger
from handoff.store import Chat, HandoffStore, Survey
from handoff.ticket_store import TicketStore

SURVEY_ANSWER_WINDOW = dt.timedelta(hours=24)
SURVEY_LABELS = {1: "满意", 2: "一般", 3: "不满意"}
_SURVEY_WORDS = {"1": 1, "2": 2, "3": 3, "满意": 1, "一般": 2, "不满意": 3}


class SurveyService:
    def __init__(
        self,
        store: HandoffStore,
        live: LiveState,
        messenger: ChatMessenger,
        callbacks: CallbackService,
        tickets: TicketStore,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.store = store
        self.live = live
        self.messenger = messenger
        self.callbacks = callbacks
        self.tickets = tickets
        self.clock = clock

    async def send_closing(self, chat: Chat, farewell: str) -> None:
        """The closing message with the satisfaction question, as one message. If WeChat's
        quota (or window) refuses it now, it is owed: it goes out with the subscriber's next
        answer (`before_bot`), and the transcript says so; it is never dropped silently."""
        survey_id = await self.store.create_survey(chat, self.clock()) if chat.agent_id is not None else None
        text = wording.with_survey(farewell) if survey_id is not None else farewell
        delivery = await self.messenger.send_system(chat, text)
        if delivery.sent:
            return
        if survey_id is not None:
            await self.store.survey_undelivered(survey_id, text)
            await self.messenger.note(chat.id, texts.CLOSING_OWED)
        else:
            await self.messenger.note(chat.id, texts.closing_not_sent(delivery.reason))

    async def before_bot(self, openid: str, text: str | None) -> tuple[list[str], bool]:
        """Called by the gateway before a message goes to the bot. Returns (texts to send
        first, whether the message was consumed): an answer 1/2/3 to the satisfaction question
        of a chat that ended recently is stored and thanked, not sent to the bot as a menu
        choice; a closing message the quota refused is delivered now, ahead of the answer."""
        survey = await self.store.latest_survey(openid)
        if survey is None or survey.answered_at is not None:
            return [], False
        now = self.clock()
        if now - survey.asked_at > SURVEY_ANSWER_WINDOW:
            return [], False
        if survey.chat_id is None:
            return await self._ticket_survey_answer(survey, text, now)
        if not survey.delivered and survey.closing_text and await self.store.take_owed_closing(survey.id):
            await self.messenger.note(survey.chat_id, texts.CLOSING_SENT_LATE)
            # she has not seen the question yet: this message is for the bot
            return [wording.later_notice(survey.closing_text)], False
        score = survey_score(text)
        if score is None:
            # she wrote something else: the question lapses, so a later 「1」 is a menu choice again
            await self.store.answer_survey(survey.id, None, now)
            return [], False
        if not await self.store.answer_survey(survey.id, score, now):
            return [], False
        await self.messenger.note(survey.chat_id, texts.satisfaction(SURVEY_LABELS[score]))
        chat = await self.store.chat(survey.chat_id)
        if score == 3 and chat is not None:
            await self.callbacks.open_task(chat, "follow_up", "system", note=texts.FOLLOW_UP_UNSATISFIED)
            await self.live.publish(ConsoleEvent("tasks", chat_id=chat.id))
        return [wording.SURVEY_THANKS[score]], True

    async def _ticket_survey_answer(self, survey: Survey, text: str | None, now: dt.datetime) -> tuple[list[str], bool]:
        """The answer to the satisfaction question sent with a ticket's resolution."""
        score = survey_score(text)
        if not await self.store.answer_survey(survey.id, score, now) or score is None:
            return [], False
        if survey.ticket_id is not None:
            await self.tickets.add_note(survey.ticket_id, "subscriber", texts.satisfaction(SURVEY_LABELS[score]), now)
        return [wording.TICKET_SURVEY_THANKS[score]], True


def survey_score(text: str | None) -> int | None:
    cleaned = (text or "").strip().strip("。.！!").translate(str.maketrans("１２３", "123"))
    return _SURVEY_WORDS.get(cleaned)
