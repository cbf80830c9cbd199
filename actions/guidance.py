"""Requests answered with guidance or a person rather than a backend transaction (issue 10):
real-name suspension, low balance, a relative's number, complaints, ticket progress, broadband
faults, self-described elders, emoji, the voice-reply switch, and what is outside the menu."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from actions import account, binding_flow, plans, replies, service, ticket_form, topup, understanding
from actions.account import account_phone
from actions.turn import FlowAction, Turn, voice_replies_enabled
from billing.backend import LineStatus, SuspendReason
from core.privacy import mask_phone
from core.vocabulary import HandoffReason
from core.wording import VOICE_REPLIES_OFF, VOICE_REPLIES_ON


async def real_name_suspension(turn: Turn) -> None:
    # Never a repair ticket: the line works again once the subscriber's identity is checked.
    # With her number proven, what her own line says first: 「我的号码是不是实名了」 from a working
    # line is not told how to get it back.
    phones = await turn.services.binding.bound_phones(turn.openid)
    if phones:
        balance = await turn.services.billing.get_balance(phones[0])
        if balance.status == LineStatus.ACTIVE:
            turn.say(replies.not_suspended_for_real_name(turn.elder))
            return
        if balance.suspend_reason != SuspendReason.REAL_NAME:  # cut off for another reason: that one
            turn.say(replies.balance(balance, turn.elder, asked_status=True))
            return
    turn.say(replies.real_name_suspension(turn.elder))


async def low_balance_help(turn: Turn) -> None:
    phone = await account_phone(turn, "low_balance_help")
    if phone:
        balance = await turn.services.billing.get_balance(phone)
        turn.say(replies.low_balance_help(balance, turn.elder))


async def ask_relative(turn: Turn) -> None:
    """A family member's number: answered only for a number bound to this openid. A top-up for
    her (「我妈不会用手机，帮她充五十」) is the family top-up, which asks for her number; binding
    his number (「把我老公的号码也绑上 以后我帮他交话费」) comes first when she says so."""
    if understanding.names_operator_errand(turn.text):  # 「我爸的手机老收到广告短信 能不能帮他屏蔽」
        await service.hand_off_operator_errand(turn)
        return
    if understanding.asks_a_top_up(turn.parse) and not understanding.asks_to_bind(turn.text):
        await (topup.top_up if understanding.kin_only_called(turn.text) else topup.top_up_for_relative)(turn)
        return
    if understanding.asks_about_her_other_line(turn.text):
        await her_other_line(turn)
        return
    phones = await turn.services.binding.bound_phones(turn.openid)
    asked = turn.entity("phone")
    own = understanding.own_line_question(turn.text) if not asked else None
    # 「查下我老婆的流量」: her data, not her balance, also once her number is bound.
    flow = "relative_usage" if understanding.about_usage(turn.text) else "relative_balance"
    if own == "check_balance":  # 「我孙女帮我弄的这个微信…我这个月电话费多少钱」: her own line
        await account.balance(turn)
    elif own == "check_usage":
        await account.usage(turn)
    elif own == "check_bill":
        await account.bill(turn)
    elif asked and str(asked) in phones:
        await relative_answer(turn, str(asked), flow)
    elif asked:
        # The number is named: binding proves it the usual way, the code goes to that phone.
        turn.say(replies.relative_needs_binding(mask_phone(str(asked))))
        await binding_flow.send_code(turn, str(asked))
        turn.set("after_bind", f"{flow}:{asked}")
    elif len(phones) > 1 and not understanding.asks_to_bind(turn.text):
        turn.say(replies.choose_bound_number([mask_phone(phone) for phone in phones]))
        turn.set("pending", f"relative_which:{flow}")
    else:
        # Binding a family number proves it the usual way: the code goes to that phone.
        relative = turn.entity("relative")
        turn.say(replies.ask_relative_how_to_bind(str(relative) if relative else None))
        turn.set("pending", "bind_phone")
        turn.set("after_bind", flow)


async def resume_relative_balance(turn: Turn) -> None:
    """After a family number is bound: its balance (the number named, else the one bound last)."""
    await _resume_relative(turn, "relative_balance")


async def resume_relative_usage(turn: Turn) -> None:
    await _resume_relative(turn, "relative_usage")


async def _resume_relative(turn: Turn, flow: str) -> None:
    phones = await turn.services.binding.bound_phones(turn.openid)
    phone = turn.resumed if turn.resumed in phones else phones[-1] if phones else None
    if phone is not None:
        await relative_answer(turn, phone, flow)


async def relative_answer(turn: Turn, phone: str, flow: str = "relative_balance") -> None:
    """A bound family number's balance, or its usage (`flow` "relative_usage")."""
    billing = turn.services.billing
    if flow == "relative_usage":
        answer = replies.usage(await billing.get_usage(phone), turn.elder)
    else:
        answer = replies.balance(await billing.get_balance(phone), turn.elder)
    turn.say(replies.about_number(mask_phone(phone), answer))


async def her_other_line(turn: Turn) -> None:
    """「我有两个号 帮我查一下另一个号的话费」: with two bound, the second; with more, she picks;
    with one, the other is bound first (the code goes to it), then answered."""
    phones = await turn.services.binding.bound_phones(turn.openid)
    asked = understanding.plain_request(turn.text, ("check_usage", "check_bill")) or "check_balance"
    flow = {"check_usage": account.usage, "check_bill": account.bill}.get(asked, account.balance)
    if len(phones) == 2:
        turn.about_phone = phones[1]
        await flow(turn)
    elif len(phones) > 2:
        turn.say(replies.choose_bound_number([mask_phone(phone) for phone in phones]))
        turn.set("pending", "relative_which:" + ("relative_usage" if asked == "check_usage" else "relative_balance"))
    else:
        turn.say(replies.ask_other_line(turn.elder))
        turn.set("pending", "bind_phone")
        turn.set("after_bind", {"check_usage": "usage", "check_bill": "bill"}.get(asked, "balance"))


async def complaint(turn: Turn) -> None:
    await ticket_form.start_complaint(turn)


async def ticket_status(turn: Turn) -> None:
    await ticket_form.progress(turn)


async def fault(turn: Turn) -> None:
    """What is broken, where, a reachable number and a time slot (actions/ticket_form.py); but
    「我交了钱怎么还是打不了电话」 from a line cut off is a top-up she does not see, not a repair,
    and 「打不出去了 是不是欠费了」 is first told whether her line is cut off."""
    if understanding.says_top_up_missing(turn.text):
        phone = await account_phone(turn, "dispute")
        if not phone:
            return
        line = await turn.services.billing.get_balance(phone)
        if line.status == LineStatus.SUSPENDED or line.arrears_fen > 0:
            await account.top_ups_arrived(turn, phone, turn.words)
            return
        # Her line works and owes nothing: what fails is the phone or the network, a repair.
    elif understanding.asks_if_cut_off(turn.text) and "宽带" not in turn.text:
        # 「我打电话打不出去了 是不是欠费了」: whether her line is cut off first (and, if it works,
        # where to report the fault), which also answers the balance she asked about.
        turn.also_answered.add("check_balance")
        await account.balance(turn)
        return
    await service.report_fault(turn)


async def broadband_fault(turn: Turn) -> None:
    if understanding.asks_broadband_account(turn.text):
        # 「我的宽带账号是多少」: the account is the operator's to look up, not a repair.
        await service.hand_off_operator_errand(turn)
        return
    await ticket_form.start_fault(turn, broadband=True)


ELDER_LOOKUPS: dict[str, Callable[[Turn], Awaitable[None]]] = {
    "check_balance": account.balance,
    "check_usage": account.usage,
    "check_bill": account.bill,
    "check_plan": plans.check_plan,
}


async def elder_self_described(turn: Turn) -> None:
    if understanding.asks_a_plan_for_an_old_one_at_home(turn.text):
        # 「我家老人不会用智能手机 能不能换个老人机的套餐」: the writer copes; the plans for the old.
        await plans.list_plans(turn)
        return
    # An elder who says so is served by a person on the elder-care desk, bound or not; a look-up
    # she asked for in the same breath (「我不太会弄 我就想知道我还有多少钱」) is answered first when
    # her line is bound (binding is a person's to help with).
    lookup = ELDER_LOOKUPS.get(understanding.second_request(turn.parse) or "")
    if lookup is not None and await turn.services.binding.bound_phones(turn.openid):
        await lookup(turn)
    if understanding.wants_spoken_answers(turn.parse) and voice_replies_enabled():
        # 「字太小了看不清 你能不能说话给我听」: what comes from now on is spoken too.
        _speak_from_now_on(turn)
    await service.hand_off(turn, HandoffReason.ELDER)


async def emoji(turn: Turn) -> None:
    turn.say(replies.emoji_reply(turn.elder))
    turn.set("pending", turn.slot("pending"))  # a question asked before the emoji still stands


async def voice_reply(turn: Turn) -> None:
    """The gateway keeps the choice (the payload) and speaks the answers from now on."""
    on = turn.intent == "voice_reply_on"
    if on and not understanding.asks_for_voice(turn.text):
        # 「刚才那个客服把我电话挂了」 read as a wish for spoken answers: a setting is not changed on a guess.
        await (complaint(turn) if understanding.complains_of_service(turn.text) else service.fallback(turn))
        return
    if on and not voice_replies_enabled():
        turn.set("voice_replies", on)
        turn.say(replies.voice_reply_unavailable())
    elif on:
        _speak_from_now_on(turn)
    else:
        turn.set("voice_replies", False)
        turn.say(VOICE_REPLIES_OFF)
        turn.send_payload({"voice_replies": "text"})


def _speak_from_now_on(turn: Turn) -> None:
    """The gateway keeps the choice (the payload) and speaks the answers from now on."""
    turn.set("voice_replies", True)
    turn.say(VOICE_REPLIES_ON)
    turn.send_payload({"voice_replies": "voice"})


# What the operator does but the assistant cannot: an honest sentence and a person. Read only in
# a message the NLU already found outside the menu, so broad words (停机, 密码) are safe here.
OPERATOR_TOPICS = re.compile(
    r"携号转网|携转|转网|销户|销号|停号|注销|名下|补卡|换卡|挂失|漫游|出国|国外|境外|副卡|靓号|选号|营业厅|合约机|合约|过户|停机|报停|"
    r"丢了|丢失|弄丢|被偷|被盗|密码|PUK|PIN码|装宽带|新装|办宽带|移机|续费|到期|副号|亲情号|国际|流量包|加油包|叠加包|香港|澳门|台湾|港澳",
    re.IGNORECASE,
)


class ActionOutOfScope(FlowAction):
    action_name = "action_out_of_scope"

    async def flow(self, turn: Turn) -> None:
        if OPERATOR_TOPICS.search(turn.text) or understanding.says_phone_lost(turn.text):
            await service.hand_off_operator_errand(turn)
            return
        if understanding.says_line_troubled(turn.text):  # 「我手机卡好像出问题了」: whether her line works
            await account.balance(turn)
            return
        if understanding.asks_how_charges_work(turn.text):  # 「月租是几号扣啊」
            await account.charges_explained(turn)
            return
        turn.say(replies.out_of_scope(turn.elder))
        turn.set("pending", "menu")


class ActionRealNameSuspension(FlowAction):
    action_name = "action_real_name_suspension"

    async def flow(self, turn: Turn) -> None:
        await real_name_suspension(turn)


class ActionLowBalanceHelp(FlowAction):
    action_name = "action_low_balance_help"

    async def flow(self, turn: Turn) -> None:
        await low_balance_help(turn)


class ActionAskRelative(FlowAction):
    action_name = "action_ask_relative"

    async def flow(self, turn: Turn) -> None:
        await ask_relative(turn)


class ActionComplaint(FlowAction):
    action_name = "action_complaint"

    async def flow(self, turn: Turn) -> None:
        await complaint(turn)


class ActionTicketStatus(FlowAction):
    action_name = "action_ticket_status"

    async def flow(self, turn: Turn) -> None:
        await ticket_status(turn)


class ActionReportFault(FlowAction):
    action_name = "action_report_fault"

    async def flow(self, turn: Turn) -> None:
        await fault(turn)


class ActionReportBroadbandFault(FlowAction):
    action_name = "action_report_broadband_fault"

    async def flow(self, turn: Turn) -> None:
        await broadband_fault(turn)


class ActionElderSelfDescribed(FlowAction):
    action_name = "action_elder_self_described"

    async def flow(self, turn: Turn) -> None:
        await elder_self_described(turn)


class ActionEmoji(FlowAction):
    action_name = "action_emoji"

    async def flow(self, turn: Turn) -> None:
        await emoji(turn)


class ActionVoiceReply(FlowAction):
    action_name = "action_voice_reply"

    async def flow(self, turn: Turn) -> None:
        await voice_reply(turn)
