"""One dialogue turn as the actions see it: who is asking, what they said, what to answer.

Flows (actions/account.py, topup.py, plans.py, ...) take a `Turn`, say things and set slots;
`FlowAction` turns that into rasa-sdk events. A flow that does not set `pending` clears it, so
a short reply like "1" always refers to the question asked last.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import replies, ticket_form, understanding
from actions.services import Services, get_services
from core.privacy import mask_phone
from core.vocabulary import HandoffReason, Queue

ANSWER_LIMIT = 200  # each of question and answer; the handoff keeps 500 characters of summary
# Questions whose answer the bot needs to finish what she started. Any other question (a
# clarifying menu, a choice of numbers) a person answers better, so it does not delay her.
AWAITS_HER_ANSWER = (
    "bind_phone",
    "bind_code:",
    "topup_amount",
    "topup_number:",
    "topup_confirm:",
    "plan_confirm:",
    "plan_pick:",
    "service_which:",
    "service_confirm:",
    ticket_form.FORM,
)


@dataclass
class Turn:
    tracker: Tracker
    dispatcher: CollectingDispatcher
    services: Services
    slot_updates: Dict[str, Any] = field(default_factory=dict)
    handed_off: bool = False
    # Set when a flow is resumed after binding: what the original question asked for (the
    # month, the service named ...), saved in `after_bind` as "flow:argument".
    resumed: Optional[str] = None
    # The number an account question is about when it is not simply her first bound number: the
    # number just bound to answer it (the resumed question's message is only the SMS code).
    about_phone: Optional[str] = None
    # Requests this turn's answer took up beside its own (「扣了多少钱 还有多少钱」: the balance too):
    # not offered again as a second request.
    also_answered: set[str] = field(default_factory=set)

    @property
    def openid(self) -> str:
        return self.tracker.sender_id

    @property
    def elder(self) -> bool:
        return bool(self.slot("is_elder"))

    @property
    def parse(self) -> Dict[str, Any]:
        """Rasa's parse of the latest message: text, intent, intent_ranking, entities."""
        return self.tracker.latest_message or {}

    @property
    def text(self) -> str:
        return self.parse.get("text") or ""

    @property
    def words(self) -> str:
        """What she wrote, as she wrote it, for people to read (summaries, tickets). The parse
        holds nlu/'s normalised copy, made for the classifier: openers dropped, commas half-width."""
        for event in reversed(self.tracker.events):
            if event.get("event") == "user":
                return str(event.get("text") or "") or self.text
        return self.text

    @property
    def intent(self) -> Optional[str]:
        return ((self.tracker.latest_message or {}).get("intent") or {}).get("name")

    def entity(self, name: str) -> Any:
        return next(self.tracker.get_latest_entity_values(name), None)

    def slot(self, name: str) -> Any:
        if name in self.slot_updates:
            return self.slot_updates[name]
        return self.tracker.get_slot(name)

    def say(self, text: str) -> None:
        self.dispatcher.utter_message(text=text)

    def send_payload(self, payload: Dict[str, Any]) -> None:
        self.dispatcher.utter_message(json_message=payload)

    def said(self) -> List[str]:
        """What this turn has said so far."""
        return [str(m["text"]) for m in self.dispatcher.messages if m.get("text")]

    @property
    def by_voice(self) -> bool:
        """The message was a voice note (the gateway's metadata: {"source": "voice", ...})."""
        metadata = self.parse.get("metadata") or {}
        return isinstance(metadata, dict) and metadata.get("source") == "voice"

    def hand_off(self, reason: HandoffReason, queue: Queue, summary: str, direct: bool = False) -> None:
        """Emit the handoff payload the gateway carries out. The sentence about the person
        (now / in about N minutes / a call-back by a time) is the handoff service's: it alone
        knows the desk hours, who is on duty and the wait."""
        handoff: Dict[str, Any] = {"reason": reason.value, "queue": queue.value, "summary": summary}
        if direct:
            handoff["direct"] = True
        self.send_payload({"handoff": handoff})
        self.handed_off = True

    def set(self, slot: str, value: Any) -> None:
        self.slot_updates[slot] = value

    def events(self) -> List[Dict[Text, Any]]:
        updates = dict(self.slot_updates)
        updates.setdefault("pending", None)
        return [SlotSet(name, value) for name, value in updates.items()]


Flow = Callable[[Turn], Awaitable[None]]


class FlowAction(Action):
    """An action that runs one flow; subclasses set `action_name` and `flow`."""

    action_name: str = ""

    def name(self) -> Text:
        return self.action_name

    async def flow(self, turn: Turn) -> None:
        raise NotImplementedError

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        turn = Turn(tracker, dispatcher, get_services())
        if ticket_form.in_form(turn) and not _leaves_form(turn):
            # A complaint or fault report is being filled in: this message answers its question
            # (「账单看不懂，多扣了钱」 is what happened; the ticket reaches a person anyway).
            await ticket_form.continue_form(turn)
        elif _an_errand_for_a_person(turn):
            _person_for_an_operator_errand(turn)
        elif _unsure_and_not_helped_before(turn):
            _person_for_who_was_not_helped(turn)
        elif _could_not_reach_a_person(turn):
            _person_for_who_could_not_get_through(turn)
        elif _waited_for_a_call_back_in_vain(turn):
            _person_for_a_call_back_not_kept(turn)
        elif _asks_if_her_phone_takes_5g(turn):
            turn.say(replies.five_g_phone(turn.elder))
        elif _refuses_binding(turn):
            turn.say(replies.why_bind(turn.elder))
        elif _asks_hours(turn):
            turn.say(replies.hours(turn.elder))
        elif _asks_own_number(turn):
            await _own_number(turn)
        elif _asks_price_beyond_plan(turn):
            await _price_beyond_plan(turn)
        elif _asks_for_promotions(turn):
            turn.say(replies.no_promotions(turn.elder))
        elif _asks_what_if_balance_runs_out(turn):
            await _when_balance_runs_out(turn)
        elif _asks_if_a_bot(turn):
            turn.say(replies.i_am_the_assistant(turn.elder))
        else:
            await self.flow(turn)
            _person_for_a_lost_phone(turn)
            _person_for_who_cannot_manage(turn)
        _offer_second_request(turn)
        await _elder_first_message(turn)
        return turn.events()


def _leaves_form(turn: Turn) -> bool:
    """A menu click (the gateway's own trigger) leaves an open ticket form; a shared location or
    photo is an answer to it."""
    metadata = turn.parse.get("metadata") or {}
    return isinstance(metadata, dict) and metadata.get("msg_type") == "event"


def _awaits_her_answer(turn: Turn) -> bool:
    """She is answering a question only the bot completes (an amount, 回复1确认, the SMS code)."""
    return str(turn.slot("pending") or "").startswith(AWAITS_HER_ANSWER)


def _an_errand_for_a_person(turn: Turn) -> bool:
    """「怎么改服务密码」 read as a request for the menu, 「我的号码入网多久了」 as a weak guess at usage:
    what the assistant cannot do, asked while the classifier is unsure; and a grave matter
    (identity theft, a line whose owner died) however sure it is."""
    if _awaits_her_answer(turn):
        return False
    if understanding.names_a_grave_matter(turn.text):
        return True
    return understanding.unsure_of_request(turn.parse) and understanding.names_operator_errand(turn.text)


def _person_for_an_operator_errand(turn: Turn) -> None:
    """Told plainly that a person does this, and a person: not the menu, nor a wrong answer."""
    if understanding.says_bereaved(turn.text):
        tell = replies.bereaved()
    elif understanding.says_number_misused(turn.text):
        tell = replies.number_misused(turn.elder)
    else:
        tell = replies.operator_topic(turn.elder)
    # 「帮我妈问的 她八十多了 能不能派人上门」: the elder desk, for whoever the old person is.
    elder = turn.elder or understanding.mentions_old_age(turn.text)
    _told_and_handed_on(turn, tell, HandoffReason.OPERATOR_TOPIC, elder)


def _unsure_and_not_helped_before(turn: Turn) -> bool:
    """「我前后打了五次电话都没解决，今天必须给我个答复」 read as nothing clear: not a numbered menu for
    someone who has asked before and was not helped."""
    if _awaits_her_answer(turn):
        return False
    return understanding.unsure_of_request(turn.parse) and understanding.says_asked_before_unhelped(turn.text)


def _person_for_who_was_not_helped(turn: Turn) -> None:
    elder = turn.elder or understanding.says_old(turn.text)
    tell = replies.sorry_not_helped(turn.elder)
    _told_and_handed_on(turn, tell, HandoffReason.COMPLAINT, elder, "（多次联系未解决）")


def _could_not_reach_a_person(turn: Turn) -> bool:
    """「你们客服电话打不通 一直占线」 (read as a fault of her line, a repair ticket): she tried to
    reach a person; one comes here, however the classifier read it."""
    return not _awaits_her_answer(turn) and understanding.says_hotline_unreachable(turn.text)


def _person_for_who_could_not_get_through(turn: Turn) -> None:
    elder = turn.elder or understanding.says_old(turn.text)
    tell = replies.hotline_unreachable(turn.elder)
    _told_and_handed_on(turn, tell, HandoffReason.REQUEST_HUMAN, elder, "（客服电话没打通）")


def _waited_for_a_call_back_in_vain(turn: Turn) -> bool:
    """「上次那个客服说给我回电话 到现在也没打」 (read as a ticket's progress): a promise not kept."""
    return not _awaits_her_answer(turn) and understanding.says_callback_not_kept(turn.text)


def _person_for_a_call_back_not_kept(turn: Turn) -> None:
    elder = turn.elder or understanding.says_old(turn.text)
    tell = replies.call_back_not_kept(turn.elder)
    _told_and_handed_on(turn, tell, HandoffReason.COMPLAINT, elder, "（说好的回电没等到）")


def _asks_if_her_phone_takes_5g(turn: Turn) -> bool:
    """「5G套餐是不是要换手机」 (read as the list of plans): a question with one answer."""
    return not _awaits_her_answer(turn) and understanding.asks_if_phone_takes_5g(turn.text)


def _asks_hours(turn: Turn) -> bool:
    """「你们几点下班」 (read as nothing the assistant answers)."""
    return not _awaits_her_answer(turn) and understanding.asks_hours(turn.text)


def _asks_own_number(turn: Turn) -> bool:
    """「我的号码是多少来着 我忘了」 (read as her plan)."""
    return not _awaits_her_answer(turn) and understanding.asks_own_number(turn.text)


async def _own_number(turn: Turn) -> None:
    """The numbers she proved here, masked as every reply masks them; with none, binding is asked."""
    phones = await turn.services.binding.bound_phones(turn.openid)
    turn.say(replies.own_number([mask_phone(phone) for phone in phones]))
    if not phones:
        turn.set("pending", "bind_phone")


def _refuses_binding(turn: Turn) -> bool:
    """「怎么一直让我绑定 我不想绑」 (read as 绑定 or 解绑, or as a refusal of the number asked for):
    why, and what she can do without it. A question asked before (the number) is dropped."""
    return understanding.refuses_binding(turn.text)


def _asks_price_beyond_plan(turn: Turn) -> bool:
    """「流量用完了会怎么样 会不会扣很多钱」 (read as usage, a dispute, or nothing clear): the rates."""
    return not _awaits_her_answer(turn) and understanding.asks_price_beyond_plan(turn.text)


async def _price_beyond_plan(turn: Turn) -> None:
    """The standard rates, which need no account; with a line bound, what she has left this month."""

    async def left(phone: str) -> str:
        return replies.allowance_left(await turn.services.billing.get_usage(phone))

    await _say_with_her_line(turn, replies.price_beyond_plan(turn.elder), left)


def _asks_what_if_balance_runs_out(turn: Turn) -> bool:
    """「余额用完了会怎么样」 (read as nothing clear: a menu with 查工单进度 in it)."""
    return not _awaits_her_answer(turn) and understanding.asks_what_if_balance_runs_out(turn.text)


async def _when_balance_runs_out(turn: Turn) -> None:
    """What happens, which needs no account; with a line bound, her balance and the top-up offer."""

    async def her_balance(phone: str) -> str:
        balance = await turn.services.billing.get_balance(phone)
        return replies.low_balance_help(balance, turn.elder)

    await _say_with_her_line(turn, replies.when_balance_runs_out(turn.elder), her_balance)


async def _say_with_her_line(turn: Turn, answer: str, about_her_line: Callable[[str], Awaitable[str]]) -> None:
    """An answer that needs no account, followed, when she has bound a line, by what it says of
    that line (her first); with none bound nothing is asked: the answer stands on its own."""
    phones = await turn.services.binding.bound_phones(turn.openid)
    if phones:
        answer += "\n" + await about_her_line(phones[0])
    turn.say(answer)


def _asks_for_promotions(turn: Turn) -> bool:
    """「帮我看看有没有什么优惠活动」 (read as the plan list): there is no list of them to show."""
    return not _awaits_her_answer(turn) and understanding.asks_for_promotions(turn.text)


def _asks_if_a_bot(turn: Turn) -> bool:
    """「你是机器人吗」 (read as a request for a person): the honest answer, and a person on 0."""
    return not _awaits_her_answer(turn) and understanding.asks_if_a_bot(turn.text)


def _told_and_handed_on(turn: Turn, tell: str, reason: HandoffReason, elder: bool, note: str = "") -> None:
    """The assistant's own sentence, then the handoff (whose service says when a person comes)."""
    turn.set("human_offered", True)
    turn.say(tell)
    summary = summary_of(turn, replies.HANDOFF_LABELS[reason] + note)
    turn.hand_off(reason, Queue.ELDER if elder else Queue.GENERAL, summary)


def _person_for_a_lost_phone(turn: Turn) -> None:
    """A lost or stolen phone reaches a person at once, whatever the classifier made of the message
    (「手机被偷了 赶紧帮我停掉」 read as a balance question): the line must be suspended before
    whoever has it uses it."""
    if turn.handed_off or not understanding.says_phone_lost(turn.text):
        return
    _told_and_handed_on(turn, replies.lost_phone(turn.elder), HandoffReason.LOST_PHONE, turn.elder)


def _person_for_who_cannot_manage(turn: Turn) -> None:
    """Anyone who says she cannot manage (「看不懂」「不会弄」) reaches a person at once, whatever
    the classifier made of the rest; what the flow already answered stays with it. The handoff
    service says the one true thing: a person now, in about N minutes, or a call-back."""
    if turn.handed_off or not understanding.says_cannot_manage(turn.parse):
        return
    _withdraw_clarifying_question(turn)
    turn.set("human_offered", True)
    elder = turn.elder or understanding.says_old(turn.text)
    if elder and not turn.elder:
        turn.set("is_elder", True)  # 「我是老年人，看不清」: the elder desk, and shorter replies from now on
    turn.hand_off(
        HandoffReason.CANNOT_COPE,
        Queue.ELDER if elder else Queue.GENERAL,
        summary_of(turn, replies.HANDOFF_LABELS[HandoffReason.CANNOT_COPE]),
    )


def _withdraw_clarifying_question(turn: Turn) -> None:
    """A person is coming: a numbered 「您是想」 question would only be one more thing to read."""
    pending = str(turn.slot_updates.get("pending") or "")
    if not pending.startswith("clarify:"):
        return
    options = [understanding.REQUEST_LABELS[name] for name in pending.removeprefix("clarify:").split(",")]
    question = {replies.clarify(options, turn.elder)}
    turn.dispatcher.messages[:] = [m for m in turn.dispatcher.messages if m.get("text") not in question]
    turn.slot_updates.pop("pending", None)


def _offer_second_request(turn: Turn) -> None:
    # Two requests in one message: the first is answered, the second offered as a choice. When
    # the answer itself asked a question (its numbers must keep their meaning), the second is
    # acknowledged instead, to be asked for again once this one is done.
    second = understanding.second_request(turn.parse)
    if not second or turn.handed_off or _already_taken_up(turn, second):
        return
    label = understanding.REQUEST_LABELS[second]
    if turn.slot_updates.get("pending"):
        turn.say(replies.second_request_later(label))
    else:
        turn.say(replies.offer_second_request(label))
        turn.set("pending", f"next:{second}")


# The pending question of each request's own flow: a second request this turn's answer already
# took up (「我老伴欠费了，给她充一百」: her number is being asked) is not offered again.
PENDING_OF_REQUEST = {"top_up": "topup_", "bind_phone": "bind_", "change_plan": "plan_", "cancel_service": "service_"}


# Requests a flow answers as part of its own: 「我爸那个号码…他还有多少话费」 is the relative's balance.
ANSWERED_WITH = {"ask_relative": frozenset({"check_balance"}), "change_plan": frozenset({"recommend_plan"})}


def _already_taken_up(turn: Turn, request: str) -> bool:
    if request in ANSWERED_WITH.get(turn.intent or "", frozenset()) or request in turn.also_answered:
        return True
    pending = str(turn.slot_updates.get("pending") or "")
    if pending.startswith("clarify:"):  # the clarifying question already offers it as a choice
        return request in pending.removeprefix("clarify:").split(",")
    prefix = PENDING_OF_REQUEST.get(request)
    return prefix is not None and pending.startswith(prefix)


def elder_direct() -> bool:
    """ELDER_DIRECT (default on): an elder's first message of a session goes straight to the
    elder desk; off: she is offered a person (回复0) instead."""
    return os.environ.get("ELDER_DIRECT", "1").strip().lower() not in {"0", "false", "no", "off"}


def voice_replies_enabled() -> bool:
    """VOICE_REPLIES (default on): the gateway speaks answers to those who ask (gateway/voice_replies.py)."""
    return os.environ.get("VOICE_REPLIES", "1").strip().lower() not in {"0", "false", "no", "off"}


async def _elder_first_message(turn: Turn) -> None:
    """Once per session (`human_offered`), for an elder: a bound 65+ subscriber (`is_elder`),
    or an openid with no bound number that speaks to us by voice note."""
    if turn.handed_off or turn.slot("human_offered"):
        return
    unbound_voice = turn.by_voice and not await turn.services.binding.bound_phones(turn.openid)
    if not (turn.elder or unbound_voice):
        return
    turn.set("human_offered", True)
    if unbound_voice:
        # Someone who speaks rather than types and whom we cannot look up: a person on the
        # elder desk, who also offers to bind her number (no form to fill in).
        turn.set("is_elder", True)
        pending = str(turn.slot_updates.get("pending") or "")
        if pending == "bind_phone" or pending.startswith("bind_code:"):
            _take_back_binding_form(turn, pending.partition(":")[2])
        turn.hand_off(HandoffReason.ELDER, Queue.ELDER, summary_of(turn, "语音留言、未绑定号码，请帮助绑定"))
        return
    if not elder_direct():
        turn.say(replies.offer_human())
        return
    pending = turn.slot_updates.get("pending") or ""
    if pending.startswith(AWAITS_HER_ANSWER):
        # She started something only the bot completes (an amount, 回复1确认, the SMS code): her
        # reply must reach the bot, so she is connected on her next message instead.
        turn.set("human_offered", False)
        return
    # The answer is already given; the handoff service connects her only if a person can come,
    # and says so itself (a person now, or in about N minutes).
    turn.hand_off(HandoffReason.ELDER, Queue.ELDER, summary_of(turn, "年长客户，首条消息直接转人工"), direct=True)


def _take_back_binding_form(turn: Turn, phone: str = "") -> None:
    # The account gate asked for a phone number, or sent the code to the number she said: for
    # an elder a person binds (and asks her for that code).
    form = (replies.ask_phone_to_bind(True), replies.ask_phone_to_bind(False), replies.code_sent(phone))
    turn.dispatcher.messages[:] = [m for m in turn.dispatcher.messages if m.get("text") not in form]
    turn.slot_updates.pop("pending", None)
    turn.slot_updates.pop("after_bind", None)
    turn.say(replies.bind_by_person())


def summary_of(turn: Turn, label: str) -> str:
    """For the agent: why, what she said and what the assistant already answered."""
    summary = label
    if turn.words:
        summary += f"：「{_shorten(turn.words, ANSWER_LIMIT)}」"
    answer = "\n".join(turn.said())
    if answer:
        summary += f"；机器人已答：「{_shorten(answer, ANSWER_LIMIT)}」"
    return summary


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
