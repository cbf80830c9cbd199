"""The custom actions against the real (seeded PostgreSQL) billing backend and binding service.

Each test drives actions the way Rasa would: a tracker with the latest message (intent given,
entities from the real extractor) and the slots the previous actions set.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.account import ActionCheckBalance, ActionCheckUsage
from actions.binding_flow import ActionBindPhone
from actions.plans import ActionCheckPlan, ActionRecommendPlan
from actions.reply_router import ActionDefaultFallback, ActionHandleReply
from actions.service import ActionHandoff, ActionReportFault, ActionSessionStart
from actions.services import Services, build_services, use_services
from actions.transactions import ActionChangePlan, ActionTopUp
from billing.models import sms_outbox
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
        self.events.append({"event": "user", "text": normalized, "parse_data": parse})
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


async def test_suspended_line_says_why_and_what_to_do(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000004")
    reply = await chat.say(ActionCheckBalance(), "为啥停机了", "check_balance")
    assert "欠费23.50元" in reply and "欠费停机" in reply and "充值23.50元以上" in reply


async def test_top_up_confirmed_twice_credits_once(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000010")
    before = (await services.billing.get_balance("13800000010")).balance_fen
    reply = await chat.say(ActionTopUp(), "充一百块", "top_up")
    assert "充值100元" in reply and "回复1确认" in reply
    pending = chat.slots["pending"]
    receipt = await chat.say(ActionHandleReply(), "1", "affirm")
    assert "充值成功" in receipt and "订单号" in receipt
    # The same confirmation delivered again (e.g. a retried message with the old context).
    chat.slots["pending"] = pending
    again = await chat.say(ActionHandleReply(), "1", "affirm")
    assert "充值成功" in again
    after = (await services.billing.get_balance("13800000010")).balance_fen
    assert after - before == 10000
    assert f"当前余额：{after // 100}" in receipt


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


async def test_fault_report_gets_a_ticket_number(services: Services) -> None:
    chat = Conversation(services)
    reply = await chat.say(ActionReportFault(), "宽带坏了请派人来修一下", "report_fault")
    assert "工单号GZ" in reply


async def test_a_numbered_choice_is_an_answer_even_when_not_understood(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000014")
    before = (await services.billing.get_balance("13800000014")).balance_fen
    await chat.say(ActionTopUp(), "充20元", "top_up")
    reply = await chat.say(ActionDefaultFallback(), "我选2", "nlu_fallback")
    assert "已取消" in reply and not chat.payloads
    assert (await services.billing.get_balance("13800000014")).balance_fen == before
