"""The custom actions against the real (seeded PostgreSQL) billing backend and binding service.

Each test drives actions the way Rasa would: a tracker with the latest message (intent given,
entities from the real extractor) and the slots the previous actions set.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import uuid
from typing import Any

import pytest
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import insert, select

from actions.account import ActionCheckBalance, ActionCheckBill, ActionCheckUsage
from actions.binding_flow import ActionBindPhone
from actions.charges import ActionDisputeCharge
from actions.guidance import ActionReportFault
from actions.invoices import ActionRequestInvoice
from actions.plans import ActionCheckPlan, ActionRecommendPlan
from actions.points import ActionCheckPoints
from actions.reply_router import ActionClarify, ActionDefaultFallback, ActionHandleReply
from actions.service import ActionHandoff, ActionSessionStart
from actions.services import Services, build_services, use_services
from actions.transactions import ActionCancelService, ActionChangePlan, ActionTopUp
from actions.value_added import ActionListServices
from billing.models import sms_outbox, subscribers, vas_subscriptions
from billing.payments import PaymentNotice, SettleOutcome
from billing.periods import local_date, month_of, shift_month, utc_now
from core.audit import audit_log
from core.tickets import tickets_of
from nlu.entities import extract_entities
from nlu.normalize import normalize


class Conversation:
    """One subscriber talking to the actions; slots carry over like in a Rasa tracker."""

    def __init__(self, services: Services, openid: str | None = None) -> None:
        self.services = services
        self.openid = openid or f"test-{uuid.uuid4().hex[:12]}"
        self.slots: dict[str, Any] = {}
        self.events: list[dict[str, Any]] = []
        self.payloads: list[dict[str, Any]] = []

    async def say(
        self, action: Action, text: str, intent: str, metadata: dict[str, Any] | None = None, **extra_entities: Any
    ) -> str:
        normalized = normalize(text)
        entities = [{"entity": e.entity, "value": e.value} for e in extract_entities(normalized)]
        entities += [{"entity": name, "value": value} for name, value in extra_entities.items()]
        parse = {"text": normalized, "intent": {"name": intent, "confidence": 1.0}, "entities": entities}
        if metadata:
            parse["metadata"] = metadata
        self.events.append({"event": "user", "text": text, "parse_data": parse})  # Rasa keeps her words
        tracker = Tracker(self.openid, dict(self.slots), parse, list(self.events), False, None, {}, "action_listen")
        dispatcher = CollectingDispatcher()
        new_events = await action.run(dispatcher, tracker, {})
        for event in new_events:
            if event.get("event") == "slot":
                self.slots[event["name"]] = event["value"]
        self.events.extend(new_events)
        self.payloads += [m["custom"] for m in dispatcher.messages if m.get("custom")]
        return "\n".join(m["text"] for m in dispatcher.messages if m.get("text"))

    async def bind(self, phone: str) -> None:
        await self.services.binding.bind_directly(self.openid, phone, actor="test")
        self.slots["is_elder"] = None


async def bound(services: Services, phone: str = "13800000001") -> Conversation:
    """A subscriber who has proven `phone` (the demo's 138…0001, balance 58.30元, by default)."""
    chat = Conversation(services)
    await chat.bind(phone)
    return chat


@pytest.fixture
async def services(seeded_engine) -> Services:
    built = build_services(seeded_engine)
    use_services(asyncio.get_running_loop(), built)
    return built


async def latest_code(services: Services, phone: str) -> str:
    async with services.engine.connect() as conn:
        text = (
            await conn.execute(
                select(sms_outbox.c.text).where(sms_outbox.c.phone == phone).order_by(sms_outbox.c.id.desc()).limit(1)
            )
        ).scalar_one()
    return "".join(ch for ch in text if ch.isdigit())[:6]


async def test_no_account_data_before_binding(services: Services) -> None:
    chat = Conversation(services)
    reply = await chat.say(ActionCheckBalance(), "查话费", "check_balance")
    assert "绑定" in reply and "58.30" not in reply
    assert chat.slots["pending"] == "bind_phone"
    for action, intent in [
        (ActionCheckUsage(), "check_usage"),
        (ActionCheckPlan(), "check_plan"),
        (ActionTopUp(), "top_up"),
    ]:
        reply = await chat.say(action, "查一下", intent)
        assert "绑定" in reply and "GB" not in reply and "套餐是" not in reply


async def test_binding_then_the_original_question_is_answered(services: Services) -> None:
    chat = Conversation(services)
    await chat.say(ActionCheckBalance(), "我的余额", "check_balance")
    reply = await chat.say(ActionHandleReply(), "13800000001", "inform")
    assert "验证码已发送到138****0001" in reply
    assert chat.slots["pending"] == "bind_code:13800000001"
    code = await latest_code(services, "13800000001")
    reply = await chat.say(ActionHandleReply(), code, "inform")
    assert "绑定成功" in reply
    assert "您的话费余额：58.30元" in reply  # the question that needed the account, answered
    assert chat.slots["pending"] is None


async def test_several_months_of_bills_are_each_months_total(services: Services) -> None:
    # Before: 「最近三个月的账单」 got last month's bill alone.
    chat = await bound(services)
    reply = await chat.say(ActionCheckBill(), "我想查一下最近三个月的账单", "check_bill")
    lines = reply.split("\n")
    assert lines[0] == "您近3个月的账单：" and lines[1] == "· 11月 44元"
    assert [line[:5] for line in lines[2:4]] == ["· 10月", "· 9月 "] and lines[-1].startswith("看某个月的明细")
    elder = await bound(services)
    elder.slots["is_elder"] = True
    assert (await elder.say(ActionCheckBill(), "这两个月的话费", "check_bill")).startswith(
        "近2个月话费：11月44元，10月"
    )
    # a month named is that month's bill, as before
    single = await bound(services)
    assert (await single.say(ActionCheckBill(), "10月的账单", "check_bill")).startswith("您10月账单")


async def test_asking_to_bind_when_bound_is_not_told_to_bind_first(services: Services) -> None:
    # Before: 「您已绑定138****0001。」 then 「查询前需要先绑定手机号」, which says the opposite.
    chat = await bound(services)
    reply = await chat.say(ActionBindPhone(), "我换手机了 需要重新绑定吗", "bind_phone")
    assert reply == "您已绑定138****0001，换手机不用重新绑定。要再绑定别的号码，请回复11位手机号。"
    assert "先绑定" not in reply and chat.slots["pending"] == "bind_phone"
    assert "验证码已发送" in await chat.say(ActionHandleReply(), "13800000008", "inform")


async def test_five_wrong_codes_lock_binding(services: Services) -> None:
    chat = Conversation(services)
    await chat.say(ActionBindPhone(), "绑定13800000008", "bind_phone")
    right = await latest_code(services, "13800000008")
    wrong = "000000" if right != "000000" else "111111"
    replies = [await chat.say(ActionHandleReply(), wrong, "inform") for _ in range(5)]
    assert "还可以再试4次" in replies[0]
    assert "错误次数过多" in replies[4]
    # Even the right code is refused while locked, and nothing gets bound.
    await chat.say(ActionBindPhone(), "绑定13800000008", "bind_phone")
    assert await services.binding.bound_phones(chat.openid) == []


async def test_balance_with_exact_figures(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000001")
    assert "58.30元" in await chat.say(ActionCheckBalance(), "余额还有多少", "check_balance")


async def test_a_question_about_another_number_is_never_answered_with_her_own(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000001")
    reply = await chat.say(ActionCheckBalance(), "帮我查一下13800000016还有多少钱", "check_balance")
    assert "58.30" not in reply and "138****0016" in reply  # her own balance is 58.30元
    assert chat.slots["pending"] == "bind_code:13800000016" and chat.slots["after_bind"] == "balance"
    proven = await chat.say(ActionHandleReply(), await latest_code(services, "13800000016"), "inform")
    other = await services.billing.get_balance("13800000016")
    assert "绑定成功" in proven and "58.30" not in proven
    assert f"{other.balance_fen // 100}." in proven  # the number asked about, once proven
    # with both bound, the number named is the one answered, whichever was bound first
    usage = await chat.say(ActionCheckUsage(), "13800000016的流量还剩多少", "check_usage")
    assert usage == (await chat.say(ActionCheckUsage(), "13800000016流量", "check_usage"))
    assert usage != await chat.say(ActionCheckUsage(), "我的流量", "check_usage")


async def test_suspended_line_says_why_and_what_to_do(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000004")
    reply = await chat.say(ActionCheckBalance(), "为啥停机了", "check_balance")
    assert "欠费23.50元" in reply and "欠费停机" in reply and "充值23.50元以上" in reply


async def test_top_up_confirmed_twice_sends_one_payment_and_only_the_payment_credits_once(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000010")
    before = (await services.billing.get_balance("13800000010")).balance_fen
    reply = await chat.say(ActionTopUp(), "充一百块", "top_up")
    assert "充值100元" in reply and "回复1确认" in reply
    pending = chat.slots["pending"]
    link = await chat.say(ActionHandleReply(), "1", "affirm")
    assert "微信支付100元" in link and "/pay/" in link and "订单号" in link and "充值成功" not in link
    # The same confirmation delivered again (e.g. a retried message with the old context).
    chat.slots["pending"] = pending
    again = await chat.say(ActionHandleReply(), "1", "affirm")
    assert again == link
    assert (await services.billing.get_balance("13800000010")).balance_fen == before  # the reply moves no money
    # WeChat Pay's verified notification (tests/test_payments.py: through the gateway), twice
    order_no = pending.partition(":")[2]
    notice = PaymentNotice(order_no=order_no, transaction_id=f"4200{uuid.uuid4().int % 10**20:020d}",
                           amount_fen=10000, payer_openid=chat.openid)  # fmt: skip
    first, second = await services.payments.settle(notice), await services.payments.settle(notice)
    assert (first.outcome, second.outcome) == (SettleOutcome.CREDITED, SettleOutcome.DUPLICATE)
    after = (await services.billing.get_balance("13800000010")).balance_fen
    assert after - before == 10000
    assert first.top_up is not None and first.top_up.balance_after_fen == after


async def test_top_up_asks_amount_and_can_be_cancelled(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000011")
    before = (await services.billing.get_balance("13800000011")).balance_fen
    assert "充值多少元" in await chat.say(ActionTopUp(), "我要交话费", "top_up")
    assert "1到5000元" in await chat.say(ActionHandleReply(), "9000", "inform")
    assert "充值50元" in await chat.say(ActionHandleReply(), "５０元", "inform")
    assert "已取消" in await chat.say(ActionHandleReply(), "2", "deny")
    assert (await services.billing.get_balance("13800000011")).balance_fen == before


async def test_elder_first_message_goes_straight_to_the_elder_desk_with_her_answer(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000002")
    await chat.say(ActionSessionStart(), "", "session_start")
    assert chat.slots["is_elder"] is True
    first = await chat.say(ActionCheckBalance(), "我还有多少钱", "check_balance")
    # her answer, her low balance, and nothing about a person: the handoff service says that
    assert first == "您的话费余额：12.60元。\n余额不多了，回复3充话费。"
    assert "转人工" not in first and "回复0" not in first
    (payload,) = chat.payloads
    handoff = payload["handoff"]
    assert (handoff["reason"], handoff["queue"], handoff["direct"]) == ("elder", "elder", True)
    assert "「我还有多少钱」" in handoff["summary"] and "12.60元" in handoff["summary"]  # question and answer
    # once per session: her next question is just answered
    second = await chat.say(ActionCheckBalance(), "还有多少钱", "check_balance")
    assert "12.60元" in second and len(chat.payloads) == 1
    # 「0」 still asks for a person, without the bot promising one
    assert await chat.say(ActionHandleReply(), "0", "inform") == ""
    assert chat.payloads[-1]["handoff"]["queue"] == "elder" and "direct" not in chat.payloads[-1]["handoff"]


async def test_an_elder_asked_a_question_is_connected_on_her_next_message(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000002")
    await chat.say(ActionSessionStart(), "", "session_start")
    assert "充多少钱" in await chat.say(ActionTopUp(), "我要交话费", "top_up")  # the elder wording
    assert not chat.payloads  # her amount must reach the bot
    await chat.say(ActionCheckBalance(), "还有多少钱", "check_balance")
    assert chat.payloads[-1]["handoff"]["direct"] is True


async def test_an_elder_asked_which_she_meant_is_connected_at_once(services: Services) -> None:
    # A clarifying menu is not something only the bot can finish: a person answers it better.
    chat = Conversation(services)
    await chat.bind("13800000002")
    await chat.say(ActionSessionStart(), "", "session_start")
    first = await chat.say(ActionClarify(), "那个话费是不是又没了", "dispute_charge")
    assert "1" in first and chat.slots["pending"].startswith("clarify:")  # the question stays for the bot
    handoff = chat.payloads[-1]["handoff"]
    assert (handoff["reason"], handoff["queue"], handoff["direct"]) == ("elder", "elder", True)


async def test_saying_she_cannot_manage_reaches_a_person_at_once_with_her_answer(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000001")
    reply = await chat.say(ActionCheckBalance(), "我还剩多少话费啊，你们发的短信我看不懂", "check_balance")
    assert "58.30元" in reply  # answered all the same
    handoff = chat.payloads[-1]["handoff"]
    assert (handoff["reason"], handoff["queue"]) == ("cannot_cope", "general") and "direct" not in handoff
    assert "话费啊，你们发的短信我看不懂" in handoff["summary"]  # her words as she wrote them, for the agent
    assert "58.30元" in handoff["summary"]
    # an elder goes to the elder desk
    elder = Conversation(services)
    await elder.bind("13800000002")
    await elder.say(ActionSessionStart(), "", "session_start")
    await elder.say(ActionCheckBalance(), "字太小了看不清 我还有多少钱", "check_balance")
    assert (elder.payloads[-1]["handoff"]["reason"], elder.payloads[-1]["handoff"]["queue"]) == ("cannot_cope", "elder")
    # asking whether data will run out is no such thing, nor is someone else who cannot manage
    other = Conversation(services)
    await other.bind("13800000005")
    await other.say(ActionCheckUsage(), "这个月流量会不会用完", "check_usage")
    await other.say(ActionCheckUsage(), "流量应该不会用超吧", "check_usage")
    await other.say(ActionCheckBalance(), "我妈不会用手机 我帮她看看话费", "check_balance", relative="妈")
    await other.say(ActionCheckBalance(), "他看不懂短信 你跟我说还剩多少钱", "check_balance")
    assert not other.payloads
    # her daughter named, but it is she who cannot manage
    mother = Conversation(services)
    await mother.bind("13800000005")
    reply = await mother.say(
        ActionCheckBalance(), "我女儿给我买的手机 我不会弄 怎么查话费", "check_balance", relative="女儿"
    )
    assert "元" in reply and mother.payloads[-1]["handoff"]["reason"] == "cannot_cope"


async def test_elder_direct_off_offers_a_human_instead(services: Services, monkeypatch) -> None:
    monkeypatch.setenv("ELDER_DIRECT", "0")
    chat = Conversation(services)
    await chat.bind("13800000002")
    await chat.say(ActionSessionStart(), "", "session_start")
    first = await chat.say(ActionCheckBalance(), "帮我看看还有多少钱", "check_balance")
    assert "12.60元" in first and "回复0" in first and not chat.payloads
    assert "回复0" not in await chat.say(ActionCheckBalance(), "还有多少钱", "check_balance")


async def test_an_unbound_voice_note_is_served_by_a_person_who_binds(services: Services) -> None:
    chat = Conversation(services)
    voice = {"source": "voice", "confidence": 0.9, "asr": "vosk"}
    reply = await chat.say(ActionCheckBalance(), "查一下话费", "check_balance", metadata=voice)
    assert "验证码" not in reply and "11位" not in reply  # no form to fill in
    assert "客服会帮您办" in reply
    handoff = chat.payloads[-1]["handoff"]
    assert (handoff["reason"], handoff["queue"]) == ("elder", "elder") and "语音" in handoff["summary"]
    assert chat.slots["is_elder"] is True and chat.slots["pending"] is None
    # she said her number: the code goes to it, and a person, not a form, asks her for it
    said = Conversation(services)
    reply = await said.say(ActionCheckBalance(), "我的号码是13800000012 查一下话费", "check_balance", metadata=voice)
    assert "客服会帮您办" in reply and "验证码已发送" not in reply and said.slots["pending"] is None
    assert said.payloads[-1]["handoff"]["queue"] == "elder"
    # typed text from an unbound openid still gets the binding form
    typed = Conversation(services)
    assert "11位" in await typed.say(ActionCheckBalance(), "查一下话费", "check_balance")
    assert not typed.payloads


async def test_repeated_failures_reach_the_elder_desk(services: Services) -> None:
    chat = Conversation(services)
    await chat.say(ActionDefaultFallback(), "阿巴阿巴", "nlu_fallback")
    await chat.say(ActionCheckUsage(), "流量", "check_usage")
    await chat.say(ActionDefaultFallback(), "啦啦啦", "nlu_fallback")
    await chat.say(ActionDefaultFallback(), "那个那个", "nlu_fallback")
    handoff = chat.payloads[-1]["handoff"]
    assert (handoff["reason"], handoff["queue"]) == ("fallback", "elder")  # three misses in one session


async def test_cannot_cope_goes_to_a_human_with_reason(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000002")
    await chat.say(ActionSessionStart(), "", "session_start")
    await chat.say(ActionHandoff(), "我不会用这个", "request_human")
    handoff = chat.payloads[-1]["handoff"]
    assert handoff == {"reason": "cannot_cope", "queue": "elder", "summary": handoff["summary"]}
    assert "我不会用这个" in handoff["summary"]


async def test_two_fallbacks_in_a_row_hand_off(services: Services) -> None:
    chat = Conversation(services)
    first = await chat.say(ActionDefaultFallback(), "阿巴阿巴", "nlu_fallback")
    assert "没太明白" in first and not chat.payloads
    await chat.say(ActionDefaultFallback(), "啦啦啦", "nlu_fallback")
    assert chat.payloads[-1]["handoff"]["reason"] == "fallback"
    assert chat.payloads[-1]["handoff"]["queue"] == "general"


async def test_plan_change_confirmed_and_in_person_plans_offer_a_human(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000012")
    reply = await chat.say(ActionChangePlan(), "办个全家享", "change_plan", plan="FAMILY99")
    assert "营业厅" in reply and "回复0" in reply
    reply = await chat.say(ActionChangePlan(), "换成孝心套餐", "change_plan", plan="ELDER18")
    assert "孝心18元套餐" in reply and "回复1确认" in reply
    done = await chat.say(ActionHandleReply(), "确认", "affirm")
    assert "办理成功" in done and "1日起" in done


async def test_recommendation_uses_real_usage(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000001")
    reply = await chat.say(ActionRecommendPlan(), "哪个套餐适合我", "recommend_plan")
    assert "GB" in reply and ("推荐" in reply or "合适" in reply)


async def test_fault_report_asks_where_before_a_ticket(services: Services) -> None:
    # the whole fault form is in tests/test_tickets_chat.py
    chat = Conversation(services)
    reply = await chat.say(ActionReportFault(), "宽带坏了请派人来修一下", "report_fault")
    assert "位置" in reply and "单号" not in reply


async def test_a_numbered_choice_is_an_answer_even_when_not_understood(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000014")
    before = (await services.billing.get_balance("13800000014")).balance_fen
    await chat.say(ActionTopUp(), "充20元", "top_up")
    reply = await chat.say(ActionDefaultFallback(), "我选2", "nlu_fallback")
    assert "已取消" in reply and not chat.payloads
    assert (await services.billing.get_balance("13800000014")).balance_fen == before


# ---- bills of the month asked, disputes, services, points, invoices ---------------------

MAX_LINES = 8


def short(reply: str) -> str:
    assert len(reply.splitlines()) <= MAX_LINES, reply
    return reply


async def subscriber_with_services(services: Services, *codes: str) -> str:
    """A subscriber of this test's own (numbers starting 139) with the given services."""
    phone = f"139{secrets.randbelow(10**8):08d}"
    now = utc_now()
    async with services.engine.begin() as conn:
        await conn.execute(
            insert(subscribers).values(
                phone=phone,
                name="测试用户",
                birth_date=dt.date(1990, 1, 1),
                plan_code="LIVE29",
                balance_fen=5000,
                status="active",
                tags=[],
                created_at=now,
                updated_at=now,
            )
        )
        for code in codes:
            await conn.execute(
                insert(vas_subscriptions).values(
                    phone=phone, service_code=code, status="active", since=dt.date(2026, 1, 1), renew_day=1
                )
            )
    return phone


async def test_the_new_account_questions_need_a_bound_number(services: Services) -> None:
    chat = Conversation(services)
    for action, text, intent in [
        (ActionDisputeCharge(), "怎么扣了这么多", "dispute_charge"),
        (ActionListServices(), "我开了哪些业务", "list_services"),
        (ActionCancelService(), "帮我把彩铃退订了", "cancel_service"),
        (ActionCheckPoints(), "我有多少积分", "check_points"),
        (ActionRequestInvoice(), "我要开发票", "request_invoice"),
    ]:
        reply = await chat.say(action, text, intent)
        assert "绑定" in reply and "元" not in reply and "积分" not in reply
        assert chat.slots["pending"] == "bind_phone"


async def test_bill_of_the_month_asked(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000016")
    current = month_of(local_date(utc_now()))
    reply = await chat.say(ActionCheckBill(), "上上个月账单多少", "check_bill")
    assert f"{int(shift_month(current, -2)[5:])}月账单：共244.60元" in reply and "国际漫游费" in reply
    assert "共199元" in await chat.say(ActionCheckBill(), "上个月的账单", "check_bill")
    assert "没有查到您2001年1月的账单" in await chat.say(ActionCheckBill(), "2001年1月的账单", "check_bill")
    assert "下月初才出" in await chat.say(ActionCheckBill(), "这个月的账单", "check_bill")


async def test_bill_month_asked_before_binding_is_answered_after_it(services: Services) -> None:
    chat = Conversation(services)
    await chat.say(ActionCheckBill(), "上上个月账单", "check_bill")
    await chat.say(ActionHandleReply(), "13800000016", "inform")
    reply = await chat.say(ActionHandleReply(), await latest_code(services, "13800000016"), "inform")
    assert "绑定成功" in reply and "国际漫游费" in reply


async def test_dispute_lists_the_charges_and_offers_a_person_only(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000001")
    reply = short(await chat.say(ActionDisputeCharge(), "这个月咋多了十五块 怎么扣了这么多", "dispute_charge"))
    assert "视频会员（自动续费） 15元" in reply and "日 视频会员" in reply and "共扣费59元" in reply
    assert reply.endswith("1 登记投诉，专人核实 2 不用了")
    assert "充值" not in reply and "回复1确认" not in reply and "回复3" not in reply and "推荐" not in reply
    assert chat.slots["pending"].startswith("dispute_offer:")

    # Anything but an answer to the offer asks again: never a top-up.
    again = await chat.say(ActionHandleReply(), "我充了50", "inform")
    assert "1 登记投诉" in again and "充值50" not in again and "回复1确认" not in again
    assert not chat.payloads

    # 「1」 opens a complaint ticket (乱扣费) with her own words, kept by the desk
    opened = await chat.say(ActionHandleReply(), "1", "inform")
    assert "已登记投诉，单号T" in opened and "138****0001" in opened
    [ticket] = await tickets_of(services.engine, chat.openid)
    assert (ticket.kind, ticket.category, ticket.status) == ("complaint", "billing", "open")
    assert "扣费异议" in (ticket.note or "") and "怎么扣了这么多" in (ticket.note or "")


async def test_a_top_up_she_does_not_see_is_answered_with_what_arrived_and_can_be_checked(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000001")
    reply = short(await chat.say(ActionDisputeCharge(), "我充了钱怎么还没到账", "dispute_charge"))
    assert reply.startswith("您最近到账的充值：\n· 12月2日 30元") and "现在余额58.30元" in reply
    assert "扣费" not in reply and "回复1确认" not in reply  # not the month's charges, and nothing sold
    assert reply.endswith("没看到您那笔？1 登记投诉，专人核实 2 不用了")
    opened = await chat.say(ActionHandleReply(), "1", "inform")
    assert "已登记投诉，单号T" in opened
    [ticket] = await tickets_of(services.engine, chat.openid)
    assert "我充了钱怎么还没到账" in (ticket.note or "")
    # told at length, as on the phone: still a top-up she does not see, not this month's charges
    spoken = await bound(services)
    said = "喂 你好 是这样的啊 我昨天去营业厅交了两百块钱 然后今天一看余额怎么还是负的 你们是不是没给我充上啊"
    assert (await spoken.say(ActionDisputeCharge(), said, "dispute_charge")).startswith("您最近到账的充值：")
    # an elder hears her last top-up in one line
    elder = Conversation(services)
    await elder.bind("13800000002")
    elder.slots["is_elder"] = True
    said = await elder.say(ActionDisputeCharge(), "充的话费咋没到", "dispute_charge")
    assert said.startswith("您最近一笔充值：") and said.endswith("1 转人工核实 2 不用了")


async def test_data_that_goes_fast_is_answered_with_her_usage_and_can_be_checked(services: Services) -> None:
    # Before: the month's charges, which say nothing about her data.
    chat = Conversation(services)
    await chat.bind("13800000001")
    reply = await chat.say(ActionDisputeCharge(), "为什么我的流量用得这么快 我都没怎么用", "dispute_charge")
    assert reply.startswith("本月用量：\n流量已用14GB") and "扣费" not in reply
    assert reply.endswith("觉得用量不对？1 登记投诉，专人核实 2 不用了")
    assert "已登记投诉，单号T" in await chat.say(ActionHandleReply(), "1", "inform")
    [ticket] = await tickets_of(services.engine, chat.openid)
    assert "流量用得这么快" in (ticket.note or "")
    # read as a usage question, the same answer; money about data is still a dispute about charges
    usage = Conversation(services)
    await usage.bind("13800000001")
    assert "觉得用量不对" in await usage.say(ActionCheckUsage(), "流量咋跑得这么快", "check_usage")
    money = Conversation(services)
    await money.bind("13800000001")
    assert "共扣费" in await money.say(ActionDisputeCharge(), "流量费怎么扣了这么多", "dispute_charge")


async def test_dispute_about_last_month_shows_its_bill_and_can_be_declined(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000001")
    reply = short(await chat.say(ActionDisputeCharge(), "上个月话费怎么这么多", "dispute_charge"))
    assert "账单共44元" in reply and "增值业务：彩铃 5元" in reply and "本月到目前已扣59元" in reply
    assert "充值" not in reply and "回复1确认" not in reply
    assert "好的" in await chat.say(ActionHandleReply(), "2", "deny")
    assert not chat.payloads and chat.slots["pending"] is None


async def test_dispute_asked_before_binding_keeps_the_words_for_the_agent(services: Services) -> None:
    chat = Conversation(services)
    await chat.say(ActionDisputeCharge(), "莫名其妙扣我钱", "dispute_charge")
    await chat.say(ActionHandleReply(), "13800000001", "inform")
    reply = await chat.say(ActionHandleReply(), await latest_code(services, "13800000001"), "inform")
    assert "绑定成功" in reply and "共扣费59元" in reply
    await chat.say(ActionHandleReply(), "1", "affirm")
    [ticket] = await tickets_of(services.engine, chat.openid)
    assert "莫名其妙扣我钱" in (ticket.note or "")


async def test_service_list_shows_three_then_more(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000014")
    reply = short(await chat.say(ActionListServices(), "我开了哪些业务", "list_services"))
    assert "每月共45元" in reply and "视频会员 15元/月" in reply and '还有2项，回复"更多"' in reply
    assert chat.slots["pending"] == "more:services"
    more = short(await chat.say(ActionDefaultFallback(), "更多", "nlu_fallback"))
    assert "彩铃 5元/月" in more and "短信包 5元/月" in more and "视频会员" not in more
    assert not chat.payloads


async def test_cancel_service_asks_confirmation_and_is_idempotent(services: Services) -> None:
    phone = await subscriber_with_services(services, "CRBT5", "VRBT6", "VIDEO15")
    chat = Conversation(services)
    await chat.bind(phone)
    reply = await chat.say(ActionCancelService(), "帮我把视频彩铃退订了", "cancel_service", service="视频彩铃")
    assert reply == "退订视频彩铃（每月6元）？回复1确认退订，回复2保留。"  # not 「2取消」, read as 「取消业务」
    assert chat.slots["pending"] == "service_confirm:VRBT6"
    assert len(await services.billing.list_services(phone)) == 3  # nothing cancelled yet
    pending = chat.slots["pending"]
    assert "已退订视频彩铃" in await chat.say(ActionHandleReply(), "1", "affirm")
    chat.slots["pending"] = pending  # the same confirmation delivered again
    assert "已经退订过了" in await chat.say(ActionHandleReply(), "1", "affirm")
    assert [s.service.code for s in await services.billing.list_services(phone)] == ["VIDEO15", "CRBT5"]
    async with services.engine.connect() as conn:
        actions = (await conn.execute(select(audit_log.c.action).where(audit_log.c.phone == phone))).scalars().all()
    assert actions == ["bind", "cancel_service"]

    assert "彩铃（每月5元）" in await chat.say(ActionCancelService(), "彩铃不要了", "cancel_service")
    assert "继续保留" in await chat.say(ActionHandleReply(), "2", "deny")
    assert len(await services.billing.list_services(phone)) == 2


async def test_cancel_all_monthly_services_lets_the_subscriber_choose_one(services: Services) -> None:
    phone = await subscriber_with_services(services, "CRBT5", "SMS5", "DATA10", "VIDEO15")
    chat = Conversation(services)
    await chat.bind(phone)
    reply = short(await chat.say(ActionCancelService(), "把我开的所有包月都退掉", "cancel_service", service="包月"))
    assert "一项一项确认" in reply and "1 视频会员 15元/月" in reply and '还有1项，回复"更多"' in reply
    assert chat.slots["pending"].startswith("service_which:")
    assert len(await services.billing.list_services(phone)) == 4
    more = await chat.say(ActionDefaultFallback(), "更多", "nlu_fallback")
    assert "4 " in more and chat.slots["pending"].startswith("service_which:")
    assert "退订10元5GB流量包（每月10元）" in await chat.say(ActionHandleReply(), "2", "inform")
    assert "已退订" in await chat.say(ActionHandleReply(), "1", "affirm")
    assert len(await services.billing.list_services(phone)) == 3


async def test_cancel_an_unknown_service_lists_the_own_ones_and_takes_a_name(services: Services) -> None:
    phone = await subscriber_with_services(services, "CRBT5", "SMS5")
    chat = Conversation(services)
    await chat.bind(phone)
    reply = await chat.say(ActionCancelService(), "取消我的游戏包", "cancel_service", service="游戏包")
    assert "没有找到您开通的「游戏包」" in reply and "1 短信包" not in reply and "短信包 5元/月" in reply
    assert "退订短信包" in await chat.say(ActionDefaultFallback(), "短信包", "nlu_fallback")


async def test_only_services_on_the_own_number_can_be_cancelled(services: Services) -> None:
    mine = await subscriber_with_services(services, "CRBT5")
    theirs = await subscriber_with_services(services, "SMS5")
    chat = Conversation(services)
    await chat.bind(mine)
    chat.slots["pending"] = "service_confirm:SMS5"  # a forged or stale confirmation
    reply = await chat.say(ActionHandleReply(), "1", "affirm")
    assert "已退订" not in reply
    assert [s.service.code for s in await services.billing.list_services(theirs)] == ["SMS5"]


async def test_points_balance_expiry_and_rewards(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000001")
    reply = short(await chat.say(ActionCheckPoints(), "我有多少积分", "check_points"))
    assert "3260积分" in reply and "800分12月31日到期" in reply
    assert "五常大米5斤 3000分" in reply and "10元话费 1000分" in reply and "电饭煲" not in reply


async def test_invoices_of_recent_payments(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000014")
    reply = short(await chat.say(ActionRequestInvoice(), "我要开发票 报销用", "request_invoice"))
    assert "已开电子发票，号码FP" in reply and "「我的-发票」" in reply and '回复"更多"' in reply
    assert "邮箱" not in reply and "已发送" not in reply
    assert chat.slots["pending"] == "more:payments:"
    assert "更早的充值" in await chat.say(ActionDefaultFallback(), "更多", "nlu_fallback")
