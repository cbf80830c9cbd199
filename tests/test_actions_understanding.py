"""Issue 10 in the actions: ask instead of guessing, no transaction on a vague or disputed
message, a second request offered as a choice, lists cut to a phone screen, guidance for
needs beyond the menu, and handoffs that keep the whole request."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from rasa_sdk import Action
from test_actions import Conversation, bound, latest_code, subscriber_with_services

from actions import replies, service, understanding
from actions.account import ActionCheckBalance, ActionCheckBill, ActionCheckUsage
from actions.binding_flow import ActionBindPhone
from actions.charges import ActionDisputeCharge
from actions.guidance import (
    ActionAskRelative,
    ActionComplaint,
    ActionElderSelfDescribed,
    ActionEmoji,
    ActionLowBalanceHelp,
    ActionOutOfScope,
    ActionRealNameSuspension,
    ActionReportBroadbandFault,
    ActionReportFault,
    ActionTicketStatus,
    ActionVoiceReply,
)
from actions.plans import ActionCheckPlan, ActionListPlans, ActionRecommendPlan
from actions.reply_router import INTENT_FLOWS, ActionClarify, ActionDefaultFallback, ActionHandleReply
from actions.service import ActionHandoff, ActionShowMenu
from actions.services import Services, build_services, use_services
from actions.transactions import ActionCancelService, ActionChangePlan, ActionTopUp
from actions.value_added import ActionListServices
from core import wording
from core.tickets import tickets_of
from core.wording import VOICE_REPLIES_OFF, VOICE_REPLIES_ON
from nlu.normalize import normalize


@pytest.fixture
async def services(seeded_engine) -> Services:
    built = build_services(seeded_engine)
    use_services(asyncio.get_running_loop(), built)
    return built


def parse(text: str, ranking: list[tuple[str, float]], fallback: bool = False) -> dict[str, Any]:
    intents = [{"name": name, "confidence": confidence} for name, confidence in ranking]
    top = {"name": "nlu_fallback", "confidence": 0.5} if fallback else intents[0]
    return {"text": text, "intent": top, "intent_ranking": ([top] if fallback else []) + intents, "entities": []}


# --- pure rules ---------------------------------------------------------------------------


def test_a_vague_message_offers_the_likeliest_requests_in_order() -> None:
    vague = parse("钱的事", [("check_balance", 0.4), ("check_bill", 0.3), ("greet", 0.2), ("top_up", 0.1)], True)
    assert understanding.clarify_options(vague) == ["check_balance", "check_bill", "top_up"]


@pytest.mark.parametrize(
    "text",
    ["我充的一百块怎么才几天就少了一半", "凭什么扣我三十", "这个月咋多了二十", "我没开过这个业务怎么收钱", "给我退钱"],
)
def test_a_dispute_never_opens_a_transaction_and_is_offered_the_charges(text: str) -> None:
    disputed = parse(text, [("top_up", 0.9), ("change_plan", 0.05), ("check_balance", 0.05)])
    assert understanding.sounds_like_dispute(disputed)
    assert not understanding.clear_transaction_request(disputed, "top_up")
    options = understanding.clarify_options(disputed)
    assert options[0] == "dispute_charge" and not set(options) & understanding.TRANSACTION_INTENTS


def test_a_clear_request_opens_its_transaction() -> None:
    assert understanding.clear_transaction_request(parse("充50块话费", [("top_up", 0.93)]), "top_up")
    assert not understanding.clear_transaction_request(parse("充50块话费", [("top_up", 0.5)]), "top_up")


def test_every_offered_request_can_be_chosen() -> None:
    # A numbered choice must lead somewhere: each label has its flow (or is served by its action).
    served_by_backend_actions = {"dispute_charge", "list_services", "cancel_service", "check_points", "request_invoice"}
    assert set(understanding.REQUEST_LABELS) - set(INTENT_FLOWS) <= served_by_backend_actions


def test_second_request_is_another_known_request() -> None:
    message = parse("查下话费顺便看看流量", [("check_balance", 0.9)])
    message["entities"] = [{"entity": "second_request", "value": "check_usage"}]
    assert understanding.second_request(message) == "check_usage"
    message["entities"] = [{"entity": "second_request", "value": "check_balance"}]
    assert understanding.second_request(message) is None  # the same request twice is one
    message["entities"] = [{"entity": "second_request", "value": "greet"}]
    assert understanding.second_request(message) is None


# --- in the actions -------------------------------------------------------------------------


async def _say(chat: Conversation, action: Action, message: dict[str, Any]) -> str:
    """Run an action on a full parse (ranking and all), the way Rasa would."""
    from rasa_sdk import Tracker
    from rasa_sdk.executor import CollectingDispatcher

    chat.events.append({"event": "user", "text": message["text"], "parse_data": message})
    tracker = Tracker(chat.openid, dict(chat.slots), message, list(chat.events), False, None, {}, "action_listen")
    dispatcher = CollectingDispatcher()
    for event in await action.run(dispatcher, tracker, {}):
        if event.get("event") == "slot":
            chat.slots[event["name"]] = event["value"]
        chat.events.append(event)
    chat.payloads += [m["custom"] for m in dispatcher.messages if m.get("custom")]
    # What Rasa records for each message the action sent (the handoff payload as data.custom).
    chat.events += [
        {"event": "bot", "text": m.get("text"), "data": {"custom": m.get("custom")}} for m in dispatcher.messages
    ]
    return "\n".join(m["text"] for m in dispatcher.messages if m.get("text"))


async def test_clarifying_question_answered_with_its_number(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000001")
    vague = parse("那个钱的事情", [("check_balance", 0.35), ("check_bill", 0.3), ("thank", 0.1)], fallback=True)
    question = await _say(chat, ActionClarify(), vague)
    assert "1 查话费余额" in question and "2 查账单" in question and "0 转人工" in question
    assert chat.slots["pending"] == "clarify:check_balance,check_bill"
    answer = await chat.say(ActionHandleReply(), "1", "inform")
    assert "58.30元" in answer and not chat.payloads


async def test_a_low_confidence_top_up_asks_instead_of_proposing_an_order(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000001")
    reply = await _say(chat, ActionTopUp(), parse("钱好像不太对", [("top_up", 0.45), ("check_balance", 0.3)]))
    assert "回复1确认" not in reply and "充值" not in reply.split("\n")[0]
    assert chat.slots["pending"].startswith("clarify:")


async def test_a_disputed_charge_never_gets_a_top_up_or_plan_prompt(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000001")
    for action, intent in [(ActionTopUp(), "top_up"), (ActionChangePlan(), "change_plan")]:
        reply = await _say(chat, action, parse("我充的一百怎么就少了一半 凭什么", [(intent, 0.95)]))
        assert "回复1确认" not in reply
        assert chat.slots["pending"].startswith("clarify:dispute_charge")


async def test_a_second_request_is_offered_and_taken_with_1(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000001")
    message = parse("喂你好 查下余额 还有流量还剩多少", [("check_balance", 0.9)])
    message["entities"] = [{"entity": "second_request", "value": "check_usage"}]
    first = await _say(chat, ActionCheckBalance(), message)
    assert "58.30元" in first and "「查流量和通话」" in first and "回复1" in first
    second = await chat.say(ActionHandleReply(), "1", "affirm")
    assert "流量" in second and "剩余" in second


async def test_a_long_list_is_cut_to_three_and_more_shows_the_rest(services: Services) -> None:
    chat = Conversation(services)
    first = await chat.say(ActionListPlans(), "有哪些套餐", "list_plans")
    lines = first.split("\n")
    assert len(lines) <= replies.MAX_LINES and '回复"更多"查看全部' in first
    assert sum("/月" in line for line in lines) == 3
    # 「更多」 is an answer to the list whatever the classifier made of it.
    rest = await chat.say(ActionClarify(), "更多", "nlu_fallback")
    assert len(rest.split("\n")) <= replies.MAX_LINES and "/月" in rest
    assert not set(rest.split("\n")) & set(lines[1:4])


async def test_emoji_gets_a_friendly_reply_and_keeps_the_question(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000001")
    chat.slots["pending"] = "topup_confirm:TU123"
    reply = await chat.say(ActionEmoji(), "/::)", "emoji_only")
    assert "表情" in reply and chat.slots["pending"] == "topup_confirm:TU123" and not chat.payloads


async def test_emoji_between_misses_does_not_count_and_a_handoff_resets_the_count(services: Services) -> None:
    chat = Conversation(services)
    missed = [("nlu_fallback", 0.3)]
    await _say(chat, ActionClarify(), parse("阿巴阿巴", missed, fallback=True))
    await _say(chat, ActionEmoji(), parse("/::)", [("emoji_only", 0.99)]))
    await _say(chat, ActionClarify(), parse("啦啦啦", missed, fallback=True))
    assert chat.payloads and chat.payloads[-1]["handoff"]["reason"] == "fallback"
    # Back from the person: one miss is a miss, not the third in a row.
    reply = await _say(chat, ActionClarify(), parse("呜呜呜", missed, fallback=True))
    assert len(chat.payloads) == 1 and "没太明白" in reply
    # ... while the session still counts every miss (three: the elder desk next time)
    from rasa_sdk import Tracker

    tracker = Tracker(chat.openid, dict(chat.slots), {}, list(chat.events), False, None, {}, "action_listen")
    assert service.session_misses(tracker) == 3 and service.consecutive_fallbacks(tracker) == 1


async def test_real_name_suspension_is_guidance_not_a_repair_ticket(services: Services) -> None:
    chat = Conversation(services)
    reply = await chat.say(ActionRealNameSuspension(), "说我没实名被停机了", "real_name_suspension")
    assert "身份证" in reply and "工单" not in reply and "报修" not in reply.replace("无需报修", "")
    # her own line answers first: suspended for real name, working, or cut off for another reason
    suspended = await bound(services, "13800000007")
    reply = await suspended.say(ActionRealNameSuspension(), "说我没实名被停机了", "real_name_suspension")
    assert "身份证" in reply and "核验" in reply
    working = await bound(services)
    reply = await working.say(ActionRealNameSuspension(), "我的号码是不是实名了", "real_name_suspension")
    assert reply.startswith("您的号码正常使用") and "复机" not in reply and "身份证" in reply
    arrears = await bound(services, "13800000004")
    reply = await arrears.say(ActionRealNameSuspension(), "是不是没实名停机了", "real_name_suspension")
    assert "欠费" in reply and "实名" not in reply


async def test_low_balance_help_gives_balance_and_top_up_not_a_plan(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000001")
    reply = await chat.say(ActionLowBalanceHelp(), "钱不够了咋办", "low_balance_help")
    assert "58.30元" in reply and "回复3" in reply and "套餐" not in reply and "回复1确认" not in reply


async def test_a_relative_is_answered_only_for_a_bound_number(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000001")
    reply = await chat.say(ActionAskRelative(), "我老伴的卡还有多少钱", "ask_relative", relative="老伴")
    assert "绑定" in reply and "58.30" not in reply and chat.slots["pending"] == "bind_phone"
    await chat.bind("13800000002")
    reply = await chat.say(ActionAskRelative(), "我老伴的卡还有多少钱", "ask_relative", relative="老伴")
    options = dict(line.split(" ") for line in reply.split("\n")[1:3])
    assert set(options.values()) == {"138****0001", "138****0002"}
    chosen = next(number for number, phone in options.items() if phone == "138****0002")
    answer = await chat.say(ActionHandleReply(), chosen, "inform")
    assert "138****0002" in answer and "12.60元" in answer
    # 「帮她交一下」 is the family top-up, which asks for her number: not binding her line to look at it
    payer = await bound(services)
    reply = await payer.say(ActionAskRelative(), "我老婆的号码欠费了 帮她交一下", "ask_relative", relative="老婆")
    assert "给您老婆充话费" in reply and "验证码" not in reply


async def test_a_complaint_opens_a_ticket_and_operator_topics_go_to_a_person(services: Services) -> None:
    chat = Conversation(services)
    long_text = "你好，我上个月去营业厅办业务，工作人员态度特别差，" * 5 + "我要投诉"
    reply = await chat.say(ActionComplaint(), long_text, "complaint")
    # the complaint ticket's questions: 态度 says its category (服务) and the words what happened, so
    # only a number to reach her is asked (she has bound none)
    assert reply == wording.ASK_CONTACT and not chat.payloads
    assert '"category": "service"' in chat.slots["pending"]
    chat = Conversation(services)
    await chat.say(ActionOutOfScope(), "我想携号转网", "out_of_scope")
    assert chat.payloads[-1]["handoff"]["reason"] == "operator_topic"
    await chat.say(ActionOutOfScope(), "明天会下雨吗", "out_of_scope")
    assert len(chat.payloads) == 1
    renewal = Conversation(services)
    assert "办不了" in await renewal.say(ActionOutOfScope(), "宽带到期了怎么续费", "out_of_scope")
    assert renewal.payloads[-1]["handoff"]["reason"] == "operator_topic"


async def test_a_lost_phone_reaches_a_person_as_a_lost_phone_whatever_was_understood(services: Services) -> None:
    # urgent (whoever has it can use the line) and never called back on that number (handoff/callbacks.py)
    said_and_understood = [
        ("我手机丢了 帮我停机", ActionOutOfScope(), "out_of_scope"),
        ("手机昨天被偷了怎么办", ActionOutOfScope(), "out_of_scope"),
        ("我要挂失", ActionOutOfScope(), "out_of_scope"),
        ("丢了手机，找人工", ActionHandoff(), "request_human"),
        ("我的手机卡找不到了", ActionOutOfScope(), "out_of_scope"),
        ("手机被偷了 赶紧帮我停掉", ActionCheckBalance(), "check_balance"),  # misread: still a lost phone
    ]
    for said, action, intent in said_and_understood:
        chat = Conversation(services)
        reply = await chat.say(action, said, intent)
        assert "尽快挂失" in reply, said
        assert chat.payloads[-1]["handoff"]["reason"] == "lost_phone", said
        assert said.split("，")[0] in chat.payloads[-1]["handoff"]["summary"]
    # a phone reported before, or found again, is not one to suspend now
    back = await bound(services)
    await back.say(ActionCheckBalance(), "我手机丢了已经挂失了 现在找到了 怎么复机", "check_balance")
    assert all(p["handoff"]["reason"] != "lost_phone" for p in back.payloads if "handoff" in p)
    for said in ("银行卡丢了怎么办", "发票丢了能补吗"):
        chat = Conversation(services)
        await chat.say(ActionOutOfScope(), said, "out_of_scope")
        assert all(p["handoff"]["reason"] != "lost_phone" for p in chat.payloads if "handoff" in p), said


async def test_saying_she_cannot_quite_read_it_reaches_the_elder_desk_with_her_answer(services: Services) -> None:
    # 「看不太清」 is 「看不清」; 「我是老年人」 is the elder desk even for a line registered to someone young
    chat = await bound(services)
    reply = await chat.say(ActionCheckBalance(), "我的话费还有多少钱啊 我是老年人 看不太清", "check_balance")
    assert "58.30元" in reply
    handoff = chat.payloads[-1]["handoff"]
    assert (handoff["reason"], handoff["queue"]) == ("cannot_cope", "elder") and chat.slots["is_elder"] is True
    for said in ("这个我用不来", "我不太会用这个", "弄不明白"):
        other = await bound(services)
        await other.say(ActionCheckBalance(), said, "check_balance")
        assert other.payloads and other.payloads[-1]["handoff"]["reason"] == "cannot_cope", said
        assert other.payloads[-1]["handoff"]["queue"] == "general", said


async def test_a_plan_said_by_its_price_or_as_cheaper_is_the_plan_offered(services: Services) -> None:
    chat = await bound(services)  # 乐享39元套餐
    by_price = await chat.say(ActionChangePlan(), "我想把套餐改成59的那个", "change_plan")
    assert "换成5G畅享59元套餐" in by_price and "回复1确认" in by_price
    assert chat.slots["pending"] == "plan_confirm:5G59"

    cheaper = await bound(services)
    listed = await cheaper.say(ActionChangePlan(), "帮我换个便宜点的套餐", "change_plan")
    lines = listed.split("\n")
    assert lines[0].startswith("您现在是乐享39元套餐") and lines[-1].startswith("回复序号")
    fees = [int(line.split("：")[1].split("元")[0]) for line in lines[1:-1]]
    assert fees and all(fee < 39 for fee in fees) and fees == sorted(fees, reverse=True)
    assert "回复1确认" not in listed  # nothing is changed before she picks and confirms
    picked = await cheaper.say(ActionHandleReply(), "1", "inform")
    assert f"{fees[0]}元" in picked and "回复1确认" in picked and cheaper.slots["pending"].startswith("plan_confirm:")

    again = await bound(services)
    await again.say(ActionChangePlan(), "降一档", "change_plan")
    assert "请回复1到" in await again.say(ActionHandleReply(), "9", "inform")
    # the cheapest plan asked for one cheaper still: told so, and asked which
    cheapest = await bound(services, "13800000017")  # 8元保号套餐
    assert "没有比" in await cheapest.say(ActionChangePlan(), "换个便宜点的", "change_plan")
    assert cheapest.slots["pending"] == "plan_which"
    # a plan named without a price or a direction is asked for, as before
    plain = await bound(services)
    assert "想换成哪个套餐" in await plain.say(ActionChangePlan(), "我要换套餐", "change_plan")


async def test_asking_for_a_cheaper_plan_lists_cheaper_plans_not_a_verdict_on_hers(services: Services) -> None:
    # Before: 「现在的乐享39元套餐正合适，不用换。」 to someone who said hers is too dear.
    chat = await bound(services)  # 乐享39元套餐
    reply = await chat.say(
        ActionRecommendPlan(), "你们这个套餐太贵了 有没有便宜点的 我一个月就打打电话", "recommend_plan"
    )
    assert "不用换" not in reply and reply.startswith("您现在是乐享39元套餐")
    assert chat.slots["pending"].startswith("plan_pick:")
    fees = [int(line.split("：")[1].split("元")[0]) for line in reply.split("\n")[1:-1]]
    assert fees and all(fee < 39 for fee in fees)
    # without a price or a direction, the recommendation from her usage, as before
    for said in ("哪个套餐适合我", "哪个套餐最划算"):
        plain = await bound(services)
        assert "不用换" in await plain.say(ActionRecommendPlan(), said, "recommend_plan"), said


async def test_an_operator_errand_the_classifier_is_unsure_of_gets_a_person_not_the_menu(services: Services) -> None:
    # 「怎么改服务密码」 read as help (0.41) got the menu; 「入网多久」 as usage (0.41) got her usage.
    for action, said, guess in (
        (ActionShowMenu(), "怎么改服务密码", "help"),
        (ActionCheckUsage(), "我的号码入网多久了", "check_usage"),
        (ActionClarify(), "能不能帮我查查我这个号码用了几年了", "nlu_fallback"),
        (ActionDefaultFallback(), "营业厅地址在哪", "nlu_fallback"),
    ):
        chat = await bound(services)
        reply = await _say(chat, action, parse(normalize(said), [(guess, 0.41), ("out_of_scope", 0.14)]))
        assert "办不了" in reply and "1 查话费余额" not in reply and "流量已用" not in reply, said
        assert chat.payloads[-1]["handoff"]["reason"] == "operator_topic", said
    # sure of a request, it is served, whatever else the message names
    sure = await bound(services)
    reply = await _say(sure, ActionCheckUsage(), parse(normalize("我副卡的流量还剩多少"), [("check_usage", 0.93)]))
    assert "流量已用" in reply and not sure.payloads
    # a line that may be cut off is not taken for an errand (the menu's first choice is her balance)
    down = await bound(services)
    reply = await _say(down, ActionShowMenu(), parse(normalize("手机停机了 服务密码也忘了"), [("help", 0.41)]))
    assert "1 查话费余额" in reply and not down.payloads


async def test_a_grave_matter_or_an_errand_for_a_person_is_never_a_menu_flow(services: Services) -> None:
    for action, said, guess, confidence in (
        # however sure the classifier is: identity theft is no real-name suspension, a death no binding
        (ActionRealNameSuspension(), "我的身份证被别人冒名办了好几张卡", "real_name_suspension", 0.72),
        (ActionAskRelative(), "我老伴走了 他的号怎么处理", "ask_relative", 0.9),
        (ActionChangePlan(), "号码换个好听点的", "change_plan", 0.48),  # a 靓号, not a plan
        (ActionChangePlan(), "我的SIM卡要换成5G的 去哪换", "change_plan", 0.9),  # a card, not a plan
    ):
        chat = await bound(services)
        message = parse(normalize(said), [(guess, confidence)])
        reply = await _say(chat, action, message)
        assert "人工客服" in reply and "核验" not in reply and "验证码" not in reply and "想换成" not in reply, said
        assert chat.payloads[-1]["handoff"]["reason"] == "operator_topic", said
        assert ("请节哀" in reply) == ("走了" in said), said
    # for an old mother, the elder desk, though the one writing is young
    son = await bound(services)
    said = normalize("喂 我是帮我妈问的 她八十多了 耳朵听不见 你们能不能派人上门")
    await _say(son, ActionAskRelative(), parse(said, [("ask_relative", 0.40)]))
    assert (son.payloads[-1]["handoff"]["reason"], son.payloads[-1]["handoff"]["queue"]) == ("operator_topic", "elder")


async def test_asked_before_and_not_helped_gets_a_person_not_a_menu(services: Services) -> None:
    # Before: 「我没太确定您的意思，您是想：1 投诉 2 查扣费明细 3 手机故障报修」.
    chat = await bound(services)
    said = normalize("我前后打了五次电话都没解决，今天必须给我个答复")
    reply = await _say(chat, ActionClarify(), parse(said, [("complaint", 0.26), ("dispute_charge", 0.09)], True))
    assert "您是想" not in reply and "多次联系" in reply
    handoff = chat.payloads[-1]["handoff"]
    assert handoff["reason"] == "complaint" and "打了五次电话" in handoff["summary"]
    # understood, her question is answered as before
    sure = await bound(services)
    reply = await _say(sure, ActionCheckBalance(), parse("问了两次了 我话费还有多少", [("check_balance", 0.9)]))
    assert "58.30元" in reply and not sure.payloads


async def test_i_cannot_at_the_end_of_a_question_is_cannot_manage(services: Services) -> None:
    chat = await bound(services)
    said = parse(normalize("话费怎么充 我不会"), [("top_up", 0.44), ("low_balance_help", 0.27)], True)
    reply = await _say(chat, ActionClarify(), said)
    assert chat.payloads[-1]["handoff"]["reason"] == "cannot_cope"
    assert "您是想" not in reply and not chat.slots.get("pending")  # a person is coming: no question to answer
    calm = await bound(services)
    await _say(calm, ActionCheckUsage(), parse(normalize("这个月流量应该不会超了"), [("check_usage", 0.9)]))
    assert not calm.payloads


async def test_asking_for_the_code_again_sends_it_or_says_when(services: Services) -> None:
    chat = Conversation(services)
    await chat.say(ActionBindPhone(), "绑定13800000008", "bind_phone")
    assert chat.slots["pending"] == "bind_code:13800000008"
    again = await _say(chat, ActionDefaultFallback(), parse("没收到验证码,再发一个", [("request_invoice", 0.08)], True))
    assert "验证码刚发过" in again and chat.slots["pending"] == "bind_code:13800000008"
    # with nothing asked, 「给我发个验证码」 is binding: her number is asked, or she is told hers is bound
    fresh = Conversation(services)
    reply = await fresh.say(ActionHandleReply(), "给我发个验证码", "inform")
    assert "11位手机号" in reply and fresh.slots["pending"] == "bind_phone"
    # with nothing awaited, 「收不到短信」 is no request for a code
    fault = await bound(services)
    reply = await _say(
        fault, ActionClarify(), parse("手机收不到短信", [("report_fault", 0.3), ("check_balance", 0.2)], True)
    )
    assert "绑定" not in reply
    done = await bound(services)
    reply = await _say(
        done, ActionDefaultFallback(), parse("我刚才输错验证码了,再发一个", [("voice_reply_on", 0.27)], True)
    )
    assert reply.startswith("您已绑定138****0001")


async def test_a_vague_message_that_names_a_request_plainly_is_answered(services: Services) -> None:
    status = await bound(services)
    said = normalize("你好 我手机卡是不是被停了 发不了短信")
    options = [("report_fault", 0.46), ("check_balance", 0.42)]
    reply = await _say(status, ActionClarify(), parse(said, options, fallback=True))
    assert reply.startswith("您的号码没有欠费，也没有停机") and "请回复数字" not in reply
    assert "还是用不了" in reply and "手机报修" in reply  # 「发不了短信」 says her line does not work
    balance = await bound(services)
    said = normalize("唉 这个公众号怎么用啊 我点了半天也不知道怎么查话费")
    reply = await _say(balance, ActionClarify(), parse(said, [("dispute_charge", 0.34), ("check_balance", 0.19)], True))
    assert "58.30元" in reply and "扣费" not in reply
    usage = await bound(services)
    said = "我的套餐里面通话还剩多少分钟"
    reply = await _say(usage, ActionClarify(), parse(said, [("check_plan", 0.49), ("check_usage", 0.46)], True))
    assert "通话已用88分钟" in reply
    paid = await bound(services)
    said = normalize("我刚才充了一百 为什么显示还欠费")
    reply = await _say(paid, ActionClarify(), parse(said, [("check_balance", 0.44), ("dispute_charge", 0.40)], True))
    assert reply.startswith("您最近到账的充值：") and paid.slots["pending"].startswith("dispute_offer:")
    spam = await bound(services)
    said = normalize("最近老是收到骚扰电话 怎么办")
    reply = await _say(spam, ActionClarify(), parse(said, [("low_balance_help", 0.19), ("report_fault", 0.1)], True))
    assert "办不了" in reply and spam.payloads[-1]["handoff"]["reason"] == "operator_topic"
    # her number and her question in one message: the question answered, about that number
    named = await bound(services)
    reply = await named.say(ActionHandleReply(), "我要查一下我的话费 我的手机号是13800000001", "inform")
    assert "58.30元" in reply
    unbound = Conversation(services)
    reply = await unbound.say(ActionHandleReply(), "我要查一下我的话费 我的手机号是13800000001", "inform")
    assert "验证码已发送" in reply and "58.30" not in reply and unbound.slots["after_bind"] == "balance"
    bill = await bound(services)
    said = "帮我查上个月话费"
    reply = await _say(bill, ActionClarify(), parse(said, [("check_bill", 0.4), ("check_balance", 0.3)], True))
    assert "58.30" not in reply  # a month named: the bill (or the question), not the balance
    # the plain words must name one of the likeliest meanings: else the question, as before
    other = await bound(services)
    reply = await _say(
        other, ActionClarify(), parse("查话费的那个事", [("check_plan", 0.4), ("check_bill", 0.3)], True)
    )
    assert "请回复数字" in reply


async def test_a_plan_for_an_old_mother_is_not_recommended_from_her_childs_usage(services: Services) -> None:
    # Before: 「您近3个月平均每月用流量22.3GB…不用换」, her own usage.
    chat = await bound(services)
    said = "帮我看看有没有适合老年人的套餐 我妈用"
    reply = await chat.say(ActionRecommendPlan(), said, "recommend_plan", relative="妈")
    assert reply.startswith("适合老人的套餐：") and "22.3GB" not in reply and "回复您妈妈的11位手机号" in reply
    assert "智慧养老卡" in reply and (chat.slots["pending"], chat.slots["after_bind"]) == ("bind_phone", "recommend")
    # bound, her mother's usage gives the recommendation
    answer = await chat.say(ActionHandleReply(), "13800000002", "inform")
    assert "验证码已发送到138****0002" in answer
    code = await latest_code(services, "13800000002")
    recommended = await chat.say(ActionHandleReply(), code, "inform")
    assert "绑定成功" in recommended and "22.3GB" not in recommended and "平均每月" in recommended
    # the relative only mentioned, the plan for herself: her own usage, as before
    herself = await bound(services)
    said = "我爸说这个套餐不错 适合我吗"
    assert "22.3GB" in await herself.say(ActionRecommendPlan(), said, "recommend_plan", relative="爸")


async def test_a_relatives_number_bound_before_goes_on_to_what_was_asked(services: Services) -> None:
    # Before: 「您已绑定138****0002。」 and nothing more; the recommendation she asked for was lost.
    chat = await bound(services)
    await chat.bind("13800000002")
    await chat.say(ActionRecommendPlan(), "帮我看看有没有适合老年人的套餐 我妈用", "recommend_plan", relative="妈")
    answer = await chat.say(ActionHandleReply(), "13800000002", "inform")
    assert "已绑定138****0002" in answer and "平均每月" in answer and "22.3GB" not in answer
    assert chat.slots["after_bind"] is None and "验证码" not in answer


async def test_a_service_she_wants_added_goes_to_a_person_not_to_her_list(services: Services) -> None:
    chat = await bound(services)
    reply = await chat.say(ActionListServices(), "帮我开通来电显示", "list_services")
    assert "办不了" in reply and "视频会员" not in reply
    assert chat.payloads[-1]["handoff"]["reason"] == "operator_topic"
    listed = await bound(services)
    assert "视频会员" in await listed.say(ActionListServices(), "查一下我开通的业务", "list_services")
    assert not listed.payloads
    # buying data read as a usage question: the operator sells it, not the assistant
    pack = await bound(services)
    assert "办不了" in await pack.say(ActionCheckUsage(), "你好，我想办个流量包，每个月多加10个G", "check_usage")
    assert pack.payloads[-1]["handoff"]["reason"] == "operator_topic"
    left = await bound(services)
    assert "流量已用" in await left.say(ActionCheckUsage(), "我的流量包还剩多少", "check_usage")


async def test_a_second_request_the_clarifying_question_offers_is_not_offered_again(services: Services) -> None:
    chat = await bound(services)
    said = "我想退掉那个视频会员 我从来没开过 怎么每个月都扣我十五块"
    reply = await chat.say(ActionCancelService(), said, "cancel_service", second_request="dispute_charge")
    assert chat.slots["pending"] == "clarify:dispute_charge" and reply.count("扣费明细") == 1
    assert "您还提到" not in reply


async def test_a_relatives_balance_asked_with_her_number_is_not_offered_again_as_a_second_request(
    services: Services,
) -> None:
    chat = await bound(services)
    said = "我想问问我爸那个号码 一三八零零零零零零零二 他还有多少话费"
    reply = await chat.say(ActionAskRelative(), said, "ask_relative", second_request="check_balance")
    assert "验证码已发送到138****0002" in reply and "您还提到" not in reply
    assert chat.slots["after_bind"] == "relative_balance:13800000002"


async def test_services_named_one_by_one_are_each_confirmed_in_turn(services: Services) -> None:
    # Before: 彩铃 was offered and 视频会员 forgotten.
    phone = await subscriber_with_services(services, "CRBT5", "VRBT6", "VIDEO15")
    chat = Conversation(services)
    await chat.bind(phone)
    message = parse(normalize("嗯 那个 我想把我那个彩铃给取消了 还有那个视频会员也不要了"), [("cancel_service", 0.99)])
    message["entities"] = [{"entity": "service", "value": "彩铃"}, {"entity": "service", "value": "视频会员"}]
    reply = await _say(chat, ActionCancelService(), message)
    assert reply.startswith("您要退2项") and "退订彩铃（每月5元）？回复1确认" in reply
    assert len([m for m in chat.events if m.get("event") == "bot" and m.get("text")]) == 1  # one message
    assert chat.slots["pending"] == "service_confirm:CRBT5,VIDEO15"
    after_first = await chat.say(ActionHandleReply(), "1", "affirm")
    assert "已退订彩铃" in after_first and "退订视频会员（每月15元）？回复1确认" in after_first
    assert chat.slots["pending"] == "service_confirm:VIDEO15"
    assert "视频会员继续保留" in await chat.say(ActionHandleReply(), "2", "deny")
    left = {s.service.code for s in await services.billing.list_services(phone)}
    assert left == {"VRBT6", "VIDEO15"} and chat.slots["pending"] is None


async def test_asked_whether_the_line_works_she_is_told_before_her_balance(services: Services) -> None:
    chat = await bound(services)
    assert await chat.say(ActionCheckBalance(), "查话费", "check_balance") == "您的话费余额：58.30元。"
    arrears = await chat.say(ActionCheckBalance(), "我欠费了吗", "check_balance")
    assert arrears.startswith("您的号码没有欠费，也没有停机") and "58.30元" in arrears and "报修" not in arrears
    cut_off = await chat.say(ActionCheckBalance(), "我的号码怎么停机了 打不出去", "check_balance")
    assert "没有停机" in cut_off and "手机报修" in cut_off
    # a line that is cut off is said to be, with why and what to do
    owing = await bound(services, "13800000004")
    reply = await owing.say(ActionCheckBalance(), "我的号码怎么停机了", "check_balance")
    assert reply.startswith("您已欠费23.50元。") and "欠费停机" in reply and "没有停机" not in reply


async def test_a_long_story_is_not_an_elder_who_cannot_cope(services: Services) -> None:
    chat = Conversation(services)
    text = "你好，我手机用了好多年老了，账单上那些项目我看不懂，能不能找个人给我讲讲"
    await chat.say(ActionHandoff(), text, "dispute_charge")
    assert chat.payloads[-1]["handoff"]["queue"] == "general"
    assert chat.payloads[-1]["handoff"]["reason"] == "request_human"


async def test_an_elder_who_says_so_reaches_the_elder_queue_unbound(services: Services) -> None:
    chat = Conversation(services)
    await chat.say(ActionElderSelfDescribed(), "岁数大了，这个弄不来", "elder_self_described")
    assert chat.payloads[-1]["handoff"]["queue"] == "elder"
    other = Conversation(services)
    await other.say(ActionHandoff(), "我都八十了 你找个人跟我说", "request_human")
    assert other.payloads[-1]["handoff"]["queue"] == "elder"


async def test_asking_for_voice_replies_hands_the_choice_to_the_gateway(services: Services, monkeypatch) -> None:
    chat = Conversation(services)
    said = await chat.say(ActionVoiceReply(), "以后用语音回复我吧，字我看不清", "voice_reply_on")
    assert said == VOICE_REPLIES_ON and chat.payloads == [{"voice_replies": "voice"}]
    said = await chat.say(ActionVoiceReply(), "还是发文字给我吧", "voice_reply_off")
    assert said == VOICE_REPLIES_OFF and chat.payloads[-1] == {"voice_replies": "text"}
    monkeypatch.setenv("VOICE_REPLIES", "0")  # the operator turned voice replies off: say so, promise nothing
    other = Conversation(services)
    assert await other.say(ActionVoiceReply(), "说给我听", "voice_reply_on") == replies.voice_reply_unavailable()
    assert other.payloads == []


async def test_an_understood_turn_starts_the_miss_count_afresh(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000001")
    missed = [("nlu_fallback", 0.3)]
    await _say(chat, ActionClarify(), parse("阿巴阿巴", missed, fallback=True))
    await _say(chat, ActionCheckBalance(), parse("查下余额", [("check_balance", 0.95)]))
    reply = await _say(chat, ActionClarify(), parse("啦啦啦", missed, fallback=True))
    assert not chat.payloads and "没太明白" in reply
    # ... while two misses in a row are a person.
    await _say(chat, ActionClarify(), parse("呜呜呜", missed, fallback=True))
    assert chat.payloads and chat.payloads[-1]["handoff"]["reason"] == "fallback"


async def test_a_message_the_classifier_missed_but_the_assistant_answered_is_not_a_miss(services: Services) -> None:
    chat = await bound(services)
    missed = [("nlu_fallback", 0.3)]
    await _say(chat, ActionClarify(), parse("阿巴阿巴", missed, fallback=True))
    plain = parse("哎呀我也不知道怎么弄 我就想查一下话费还有多少", [("check_balance", 0.4), ("check_bill", 0.3)], True)
    assert "58.30" in await _say(chat, ActionClarify(), plain)
    # Answered, so the next miss is the first in a row: asked again, not handed to a person.
    reply = await _say(chat, ActionClarify(), parse("啦啦啦", missed, fallback=True))
    assert not chat.payloads and "没太明白" in reply
    from rasa_sdk import Tracker

    tracker = Tracker(chat.openid, dict(chat.slots), {}, list(chat.events), False, None, {}, "action_listen")
    assert service.consecutive_fallbacks(tracker) == 1 and service.session_misses(tracker) == 2


async def test_a_dispute_taken_to_a_complaint_keeps_everything_that_was_said(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000001")
    text = (
        "你好，我跟你说啊，我上个礼拜六在楼下营业厅交了一百块钱话费，当时那个小姑娘说到账了，"
        "结果今天我一看怎么就剩下四十几块了，我这几天也没怎么打电话，流量也没开，这钱到底扣哪去了"
    )
    assert len(text) > 60
    await _say(chat, ActionDisputeCharge(), parse(text, [("dispute_charge", 0.9)]))
    reply = await chat.say(ActionHandleReply(), "1", "inform")
    assert "已登记投诉" in reply  # bound: the contact number is known, the ticket is opened at once
    [ticket] = await tickets_of(services.engine, chat.openid)
    assert ticket.category == "billing" and text in ticket.note


async def test_an_unsure_top_up_for_a_relative_asks_her_number_not_which_meaning(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000001")
    message = parse("帮我给我妈妈的号码充五十块钱", [("top_up", 0.56), ("ask_relative", 0.28)])
    message["entities"] = [{"entity": "amount", "value": 50}, {"entity": "relative", "value": "妈妈"}]
    reply = await _say(chat, ActionTopUp(), message)
    assert "您妈妈的11位手机号" in reply and "您是想" not in reply
    assert chat.slots["pending"] == "topup_number:50"  # nothing opened: the number, then a confirmation
    # a vague top-up with no relative is still asked which was meant
    other = Conversation(services)
    await other.bind("13800000001")
    assert "您是想" in await _say(other, ActionTopUp(), parse("充那个", [("top_up", 0.5), ("check_balance", 0.3)]))


async def test_a_long_request_from_someone_not_elderly_reaches_the_general_desk_whole(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000001")  # 34 years old
    text = "你好，" + "我这个号码上个月开始信号就特别差，在家里打电话老是断，换了个手机也一样，" * 6 + "找个人帮我看看"
    assert len(text) > 200
    await chat.say(ActionHandoff(), text, "request_human")
    handoff = chat.payloads[-1]["handoff"]
    assert handoff["queue"] == "general" and text in handoff["summary"]  # as she wrote it, commas and all
    assert not chat.slots.get("is_elder")


async def test_a_bill_too_long_for_a_screen_shows_the_dearest_lines_and_more(services: Services) -> None:
    from test_actions import subscriber_with_services

    from billing.models import bill_items
    from billing.periods import month_of, shift_month

    phone = await subscriber_with_services(services)
    month = shift_month(month_of(services.today()), -1)
    names = [f"第{n}项费用" for n in range(1, 13)]
    async with services.engine.begin() as conn:
        for number, name in enumerate(names, 1):
            await conn.execute(
                bill_items.insert().values(phone=phone, month=month, line_no=number, name=name, amount_fen=100 * number)
            )
    chat = Conversation(services)
    await chat.bind(phone)
    first = await chat.say(ActionCheckBill(), "上个月的账单", "check_bill")
    assert len(first.split("\n")) <= replies.MAX_LINES and '还有9项，回复"更多"查看全部' in first
    assert "第12项费用" in first and "第1项费用 " not in first
    rest = await chat.say(ActionClarify(), "更多", "nlu_fallback")
    assert len(rest.split("\n")) <= replies.MAX_LINES and "第9项费用" in rest and "第12项费用" not in rest


async def test_a_named_relative_number_is_bound_first_and_then_answered(services: Services) -> None:
    from test_actions import latest_code

    chat = Conversation(services)
    await chat.bind("13800000001")
    reply = await chat.say(ActionAskRelative(), "我爸的号13800000002欠费了没", "ask_relative", relative="爸")
    assert "138****0002" in reply and "验证码" in reply and "12.60" not in reply and "58.30" not in reply
    assert chat.slots["pending"] == "bind_code:13800000002"
    answer = await chat.say(ActionHandleReply(), await latest_code(services, "13800000002"), "inform")
    assert "绑定成功" in answer and "12.60元" in answer and "58.30" not in answer
    # later, 「查余额」 is about her own line again, not her father's bound after it
    own = await chat.say(ActionCheckBalance(), "查余额", "check_balance")
    assert "58.30元" in own and "12.60" not in own


async def test_a_relative_number_typed_after_being_asked_is_bound_and_answered(services: Services) -> None:
    from test_actions import latest_code

    chat = Conversation(services)
    await chat.bind("13800000001")
    reply = await chat.say(ActionAskRelative(), "帮我查下我妈的话费", "ask_relative", relative="妈")
    assert chat.slots["pending"] == "bind_phone" and "58.30" not in reply
    await chat.say(ActionHandleReply(), "13800000002", "inform")
    answer = await chat.say(ActionHandleReply(), await latest_code(services, "13800000002"), "inform")
    assert "12.60元" in answer and "58.30" not in answer
    assert "58.30元" in await chat.say(ActionCheckBalance(), "查余额", "check_balance")


async def test_a_second_request_after_a_question_is_acknowledged_and_the_question_keeps_its_numbers(
    services: Services,
) -> None:
    chat = Conversation(services)
    await chat.bind("13800000001")
    message = parse("充五十块 再把视频会员给我退了", [("top_up", 0.95)])
    message["entities"] = [
        {"entity": "amount", "value": 50},
        {"entity": "second_request", "value": "cancel_service"},
    ]
    reply = await _say(chat, ActionTopUp(), message)
    assert "回复1确认" in reply and "「退订业务」" in reply and "办完后" in reply
    assert chat.slots["pending"].startswith("topup_confirm:")


async def test_a_broadband_fault_starts_a_report_that_knows_what_is_broken(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000001")
    reply = await chat.say(ActionReportBroadbandFault(), "家里宽带上不了网，光猫红灯", "report_broadband_fault")
    assert reply == wording.FAULT_ASK_WHERE and not chat.payloads  # what is broken was said: where is asked


async def test_a_fallback_after_failed_ones_in_the_same_turn_asks_for_a_retry(services: Services) -> None:
    """The action server came back in the middle of a turn whose actions failed: Rasa predicted
    fallbacks only because of the failures, so the turn is marked for a retry, not answered 「没听懂」."""
    from rasa_sdk import Tracker
    from rasa_sdk.executor import CollectingDispatcher

    from core.vocabulary import TURN_FAILED_PAYLOAD

    parse = {"text": "查余额", "intent": {"name": "check_balance", "confidence": 0.99}, "entities": []}
    user = {"event": "user", "text": "查余额", "parse_data": parse}
    fallback = {"event": "action", "name": "action_default_fallback"}
    earlier_turn = [
        {"event": "user", "text": "你好"},
        fallback,
        {"event": "bot", "text": "抱歉"},
        {"event": "action", "name": "action_listen"},
    ]

    def tracker(events: list[dict[str, Any]]) -> Tracker:
        return Tracker("test-retry", {}, parse, events, False, None, {}, "action_listen")

    broken = CollectingDispatcher()
    assert await ActionDefaultFallback().run(broken, tracker([user, fallback, fallback]), {}) == []
    assert [m.get("custom") for m in broken.messages] == [{TURN_FAILED_PAYLOAD: "action_server"}]
    assert not any(m.get("text") for m in broken.messages)

    failed_start = CollectingDispatcher()  # the session start failed: no listen before her message
    session_start = {"event": "action", "name": "action_session_start"}
    assert await ActionDefaultFallback().run(failed_start, tracker([session_start, user]), {}) == []
    assert [m.get("custom") for m in failed_start.messages] == [{TURN_FAILED_PAYLOAD: "action_server"}]

    first = CollectingDispatcher()  # the first fallback of a turn (an earlier turn's does not count)
    await ActionDefaultFallback().run(first, tracker([*earlier_turn, user]), {})
    assert any(m.get("text") for m in first.messages) and not any(m.get("custom") for m in first.messages)


async def test_a_busy_hotline_is_a_person_here_not_a_repair_ticket(services: Services) -> None:
    # Before: 「请发送您的位置…」, a repair ticket for her line.
    chat = await bound(services)
    reply = await chat.say(ActionReportFault(), "你们那个客服电话打不通啊 一直占线", "report_fault")
    assert "久等" in reply and "位置" not in reply
    assert chat.payloads and chat.payloads[-1]["handoff"]["reason"] == "request_human"
    assert "客服电话没打通" in chat.payloads[-1]["handoff"]["summary"]  # the agent knows why at once
    # her own line that does not call out is still a fault
    fault = await bound(services)
    assert "位置" in await fault.say(ActionReportFault(), "我的电话打不通了", "report_fault") and not fault.payloads


async def test_whether_a_phone_takes_a_5g_plan_is_answered_not_listed(services: Services) -> None:
    chat = await bound(services)
    for said in ("5G套餐是不是要换手机", "我这个4G手机能办5G套餐吗"):
        reply = await chat.say(ActionListPlans(), said, "list_plans")
        assert "不用换手机" in reply and "/月" not in reply, said
    assert "/月" in await chat.say(ActionListPlans(), "有什么5G套餐", "list_plans")


async def test_a_plan_change_without_knowing_which_gets_the_recommendation(services: Services) -> None:
    # Before: 「想换成哪个套餐？」 and 「您还提到「推荐套餐」，这件办完后再跟我说一声就行」.
    chat = await bound(services)
    said = "我想改个套餐 但是不知道哪个合适 我平时主要就是刷抖音"
    reply = await chat.say(ActionChangePlan(), said, "change_plan", second_request="recommend_plan")
    assert "平均每月" in reply and "想换成哪个" not in reply and "还提到" not in reply
    plain = await bound(services)
    assert "想换成哪个" in await plain.say(ActionChangePlan(), "我想换个套餐", "change_plan")


async def test_a_line_said_to_have_a_problem_is_told_whether_it_works(services: Services) -> None:
    # Before: a numbered guess (已开的业务, 我的套餐, 实名停机) or 「这个问题我还不会回答」.
    chat = await bound(services)
    vague = parse("我的号有问题", [("list_services", 0.2), ("check_plan", 0.09)], fallback=True)
    reply = await _say(chat, ActionClarify(), vague)
    assert "没有停机" in reply and "58.30" in reply and "报修" in reply
    other = await bound(services)
    reply = await other.say(ActionOutOfScope(), "我手机卡好像出问题了", "out_of_scope")
    assert "没有停机" in reply and "还不会回答" not in reply
    owing = await bound(services)
    assert "没有欠费" in await owing.say(ActionCheckBalance(), "帮我看看我还欠多少钱", "check_balance")


async def test_abroad_and_more_data_are_a_person(services: Services) -> None:
    chat = await bound(services)
    reply = await chat.say(ActionOutOfScope(), "我出国了 在国外能用吗 要开什么", "out_of_scope")
    assert "办不了" in reply and chat.payloads[-1]["handoff"]["reason"] == "operator_topic"
    data = await bound(services)
    vague = parse("流量不够用了 有没有那种临时加一点的", [("check_usage", 0.3), ("recommend_plan", 0.17)], True)
    await _say(data, ActionClarify(), vague)
    assert data.payloads and data.payloads[-1]["handoff"]["reason"] == "operator_topic"


async def test_usage_joined_to_a_bill_question_is_offered_next(services: Services) -> None:
    chat = await bound(services)
    reply = await chat.say(ActionCheckBill(), "上个月的话费和这个月的流量", "check_bill")
    assert "账单" in reply and "查流量和通话" in reply and chat.slots["pending"] == "next:check_usage"
    reply = await chat.say(ActionHandleReply(), "1", "inform")
    assert "GB" in reply


async def test_no_internet_with_data_left_is_told_whether_the_line_works(services: Services) -> None:
    chat = await bound(services)
    reply = await chat.say(ActionCheckUsage(), "喂 听得到吗 我这个手机为啥子上不了网了 流量还有的嘛", "check_usage")
    assert "剩余" in reply and "没有停机" in reply and "报修" in reply
    plain = await bound(services)
    assert "停机" not in await plain.say(ActionCheckUsage(), "这个月还有多少流量", "check_usage")


async def test_a_top_up_asked_after_and_data_said_stolen_are_answered_as_such(services: Services) -> None:
    # Before: 「您的话费余额：58.30元。」 and the plain usage.
    chat = await bound(services)
    reply = await chat.say(ActionCheckBalance(), "我儿子给我充了一百块钱 到了没有", "check_balance")
    assert "充值" in reply and "58.30" in reply and chat.slots["pending"].startswith("dispute_offer:")
    data = await bound(services)
    reply = await data.say(ActionCheckUsage(), "我的流量是不是被偷了 一晚上用了两个G", "check_usage")
    assert "核实" in reply and data.slots["pending"].startswith("dispute_offer:")


async def test_binding_a_relatives_number_comes_before_topping_it_up(services: Services) -> None:
    # Before: 「给您老公充话费：请回复您老公的11位手机号」, a top-up she did not ask for yet.
    chat = await bound(services)
    await chat.bind("13800000002")
    said = "我想把我老公的号码也绑上 以后我帮他交话费"
    reply = await chat.say(ActionAskRelative(), said, "ask_relative", relative="老公")
    assert "绑定" in reply and "充话费" not in reply and chat.slots["pending"] == "bind_phone"
    top_up = await bound(services)
    reply = await top_up.say(ActionAskRelative(), "帮我老公交一下话费", "ask_relative", relative="老公")
    assert "充话费" in reply


async def test_asked_whether_it_is_a_robot_it_says_so(services: Services) -> None:
    chat = await bound(services)
    reply = await chat.say(ActionHandoff(), "你是机器人吗", "request_human")
    assert "不是真人" in reply and "回复0" in reply and not chat.payloads
    person = await bound(services)
    await person.say(ActionHandoff(), "你是机器人吧 我要找人工", "request_human")
    assert person.payloads and person.payloads[-1]["handoff"]["reason"] == "request_human"


async def test_a_slow_network_is_her_data_and_line_not_her_charges(services: Services) -> None:
    # Before: 「您12月到目前共扣费59元…」, the charges of a dispute.
    chat = await bound(services)
    reply = await chat.say(ActionDisputeCharge(), "我的网络怎么这么慢", "dispute_charge")
    assert "剩余" in reply and "没有停机" in reply and "扣费" not in reply
    money = await bound(services)
    assert "扣费" in await money.say(ActionDisputeCharge(), "网费怎么扣这么多 网速还慢", "dispute_charge")


async def test_a_broadband_account_question_is_not_a_repair(services: Services) -> None:
    chat = await bound(services)
    reply = await chat.say(ActionReportBroadbandFault(), "我想问一下我的宽带账号是多少", "report_broadband_fault")
    assert "位置" not in reply and chat.payloads[-1]["handoff"]["reason"] == "operator_topic"
    fault = await bound(services)
    reply = await fault.say(ActionReportBroadbandFault(), "宽带断了 账号是我老公的名字", "report_broadband_fault")
    assert "位置" in reply and not fault.payloads


async def test_an_elder_who_asks_to_hear_the_answers_gets_them_spoken_and_a_person(services: Services) -> None:
    chat = Conversation(services)
    said = "你好你好 是这样的 我是老年人 眼睛不好 字太小了看不清 你能不能说话给我听"
    reply = await chat.say(ActionElderSelfDescribed(), said, "elder_self_described", second_request="voice_reply_on")
    assert VOICE_REPLIES_ON in reply and "还提到" not in reply
    assert {"voice_replies": "voice"} in chat.payloads and chat.payloads[-1]["handoff"]["queue"] == "elder"


async def test_a_relative_named_in_passing_does_not_take_her_own_question(services: Services) -> None:
    # Before: 「可以帮您查您孙女的号码，要先绑定」.
    chat = await bound(services)
    said = "我孙女帮我弄的这个微信 我也不太懂 我就想问问 我这个月电话费多少钱"
    reply = await chat.say(ActionAskRelative(), said, "ask_relative", relative="孙女")
    assert "12月" in reply and "59" in reply and "孙女" not in reply
    balance = await bound(services)
    reply = await balance.say(ActionAskRelative(), "我女儿让我问问 我的话费还剩多少", "ask_relative", relative="女儿")
    assert "58.30" in reply
    relative = await bound(services)
    reply = await relative.say(ActionAskRelative(), "帮我看看我妈的话费还有多少", "ask_relative", relative="妈")
    assert "58.30" not in reply and "绑定" in reply


async def test_a_negative_balance_question_and_whose_id_the_line_is_on(services: Services) -> None:
    chat = await bound(services)
    assert "没有欠费" in await chat.say(ActionCheckBalance(), "为什么我的余额是负数", "check_balance")
    whose = await bound(services)
    unsure = parse("我想查一下我这个号码是用谁的身份证办的", [("real_name_suspension", 0.41), ("check_plan", 0.15)])
    reply = await _say(whose, ActionRealNameSuspension(), unsure)
    assert "办不了" in reply and whose.payloads[-1]["handoff"]["reason"] == "operator_topic"


async def test_plans_for_the_old_are_listed_as_such(services: Services) -> None:
    chat = await bound(services)
    reply = await chat.say(ActionListPlans(), "你们有没有那种 就是 专门给老人用的 便宜一点的卡", "list_plans")
    assert reply.startswith("适合老人的套餐：") and "智慧养老卡" in reply and "8元保号" not in reply
    assert (await chat.say(ActionListPlans(), "有哪些套餐", "list_plans")).startswith("可办理的套餐：")


async def test_a_cheaper_plan_asked_unsurely_lists_the_cheaper_plans(services: Services) -> None:
    # Before: 「我没太确定您的意思，您是想：1 换套餐 2 推荐套餐 3 查我的套餐」.
    chat = await bound(services)
    said = "你好 我想咨询一下 我现在这个套餐能不能换成便宜一点的 我一个月也用不了多少流量 主要就是打打电话"
    unsure = parse(said, [("change_plan", 0.56), ("recommend_plan", 0.15), ("check_plan", 0.1)], fallback=True)
    reply = await _say(chat, ActionClarify(), unsure)
    assert "您是想" not in reply and "29元" in reply and chat.slots["pending"].startswith("plan_pick:")


async def test_calls_without_sound_a_relatives_spam_and_call_records(services: Services) -> None:
    chat = await bound(services)
    reply = await chat.say(ActionDisputeCharge(), "为什么我打电话总是没声音", "dispute_charge")
    assert "扣费" not in reply and "位置" in reply  # a fault report: where it happens
    spam = await bound(services)
    said = "我爸七十多了 他的手机老是收到广告短信 能不能帮他屏蔽"
    await spam.say(ActionAskRelative(), said, "ask_relative", relative="爸")
    assert spam.payloads[-1]["handoff"]["reason"] == "operator_topic"
    records = await bound(services)
    reply = await records.say(ActionCheckBill(), "我想看看我的通话记录", "check_bill")
    assert "账单" not in reply and records.payloads[-1]["handoff"]["reason"] == "operator_topic"


async def test_in_arrears_though_she_paid_gets_the_top_ups_that_arrived(services: Services) -> None:
    chat = await bound(services)
    reply = await chat.say(ActionDisputeCharge(), "喂 我的手机欠费了 但是我明明上周才交的钱", "dispute_charge")
    assert "到账" in reply and "扣费" not in reply


async def test_a_relatives_data_is_her_data_not_her_balance(services: Services) -> None:
    # Before: bound, 138****0002's balance, whatever she had asked.
    chat = await bound(services)
    await chat.say(ActionAskRelative(), "查下我老婆的流量 她的号是13800000002", "ask_relative", relative="老婆")
    assert chat.slots["after_bind"] == "relative_usage:13800000002"
    answer = await chat.say(ActionHandleReply(), await latest_code(services, "13800000002"), "inform")
    assert "号码138****0002：" in answer and "流量" in answer and "余额" not in answer
    # with two numbers bound, the one she picks is answered the same way
    assert "查哪一个" in await chat.say(ActionAskRelative(), "看看我老婆还剩多少流量", "ask_relative", relative="老婆")
    assert chat.slots["pending"] == "relative_which:relative_usage"
    picked = await chat.say(ActionHandleReply(), "2", "inform")
    assert picked.startswith("号码138****0002：") and "流量" in picked and "余额" not in picked


async def test_last_months_minutes_are_last_months(services: Services) -> None:
    # Before: 「本月用量：…」 for 「上个月打了多少分钟电话」.
    chat = await bound(services)
    reply = await chat.say(ActionCheckUsage(), "帮我查下上个月打了多少分钟电话", "check_usage")
    assert reply.startswith("11月用量") and "本月" not in reply and "分钟" in reply
    assert "本月" in await chat.say(ActionCheckUsage(), "这个月还有多少流量", "check_usage")


@pytest.mark.parametrize(
    "said",
    [
        "你好 我想问问我这个手机号能不能换个号码 号码不好记",
        "哎 你们这个怎么老给我发短信 烦死了",
        "我是残疾人 有没有优惠",
    ],
)
async def test_more_errands_for_a_person_read_unsurely(services: Services, said: str) -> None:
    # Before: binding a relative's number, the charge list, a numbered menu.
    chat = await bound(services)
    await _say(chat, ActionClarify(), parse(said, [("ask_relative", 0.35), ("dispute_charge", 0.3)], fallback=True))
    assert chat.payloads and chat.payloads[-1]["handoff"]["reason"] == "operator_topic"


async def test_what_usage_beyond_the_plan_costs_is_answered_with_the_rates(services: Services) -> None:
    # Before: a clarifying menu with 查工单进度, her usage, or this month's charges as a dispute.
    chat = await bound(services)
    reply = await _say(
        chat, ActionClarify(), parse("流量用完了会怎么样 会不会扣很多钱", [("ticket_status", 0.3)], fallback=True)
    )
    assert "5元/GB" in reply and "0.15元/分钟" in reply and "流量还剩16GB" in reply
    assert "工单" not in reply and "1 " not in reply
    calls = await bound(services)
    reply = await calls.say(ActionDisputeCharge(), "打电话超出套餐了怎么算钱", "dispute_charge")
    assert "0.15元/分钟" in reply and "登记投诉" not in reply and "彩铃" not in reply
    # the rates need no account: someone who has bound nothing is told them too, not asked to bind
    stranger = Conversation(services)
    reply = await stranger.say(ActionCheckUsage(), "要是流量超了怎么收费", "check_usage")
    assert "5元/GB" in reply and "还剩" not in reply and not stranger.slots.get("pending")
    # a charge already made is contested, not priced
    contested = await bound(services)
    reply = await contested.say(ActionDisputeCharge(), "为什么流量超了扣了我这么多钱", "dispute_charge")
    assert "登记投诉" in reply and "/GB" not in reply


async def test_how_her_line_is_charged_is_explained_not_listed_as_a_dispute(services: Services) -> None:
    # Before: this month's charges with 「有疑问吗？1 登记投诉」, as if she contested one.
    chat = await bound(services)
    reply = await chat.say(ActionDisputeCharge(), "我每个月的话费是怎么扣的", "dispute_charge")
    assert "每月1日扣套餐月费（乐享39元套餐）39元" in reply
    assert "视频会员" in reply and "彩铃5元" in reply and "按用量扣" in reply and "共扣59元" in reply
    assert "登记投诉" not in reply and chat.slots.get("pending") is None
    as_bill = await bound(services)
    assert "按用量扣" in await as_bill.say(ActionCheckBill(), "每月扣费规则是什么", "check_bill")
    # unbound: binding first, then the explanation
    for action, intent in ((ActionDisputeCharge(), "dispute_charge"), (ActionCheckBill(), "check_bill")):
        stranger = Conversation(services)
        await stranger.say(action, "话费是怎么算的", intent)
        await stranger.say(ActionHandleReply(), "13800000001", "inform")
        answer = await stranger.say(ActionHandleReply(), await latest_code(services, "13800000001"), "inform")
        assert "绑定成功" in answer and "按用量扣" in answer and "登记投诉" not in answer, intent
    contested = await bound(services)
    assert "登记投诉" in await contested.say(ActionDisputeCharge(), "怎么扣了这么多", "dispute_charge")


async def test_promotions_asked_for_are_not_answered_with_the_plan_list(services: Services) -> None:
    chat = await bound(services)
    reply = await chat.say(ActionListPlans(), "帮我看看有没有什么优惠活动", "list_plans")
    assert "查不到优惠活动" in reply and "推荐套餐" in reply and "/月" not in reply
    # the plans for the old are a list she can use; a data pack is an errand for a person
    elder_plans = await bound(services)
    assert "/月" in await elder_plans.say(ActionListPlans(), "老人有没有优惠的套餐", "list_plans")
    pack = await bound(services)
    assert "查不到优惠活动" not in await pack.say(ActionListPlans(), "有没有流量优惠包", "list_plans")


async def test_what_happens_when_the_balance_runs_out_is_answered(services: Services) -> None:
    # Before: a clarifying menu whose first option was 查工单进度.
    chat = await bound(services)
    vague = parse("余额用完了会怎么样", [("ticket_status", 0.38), ("low_balance_help", 0.37)], fallback=True)
    reply = await _say(chat, ActionClarify(), vague)
    assert "欠费停机" in reply and "58.30元" in reply and "回复3" in reply and "工单" not in reply
    stranger = Conversation(services)
    reply = await stranger.say(ActionCheckBalance(), "话费扣完了会不会停机", "check_balance")
    assert "欠费停机" in reply and not stranger.slots.get("pending")


async def test_the_day_the_fee_is_charged_is_answered_not_out_of_scope(services: Services) -> None:
    chat = await bound(services)
    reply = await chat.say(ActionOutOfScope(), "月租是几号扣啊", "out_of_scope")
    assert "每月1日扣套餐月费" in reply and "还不会回答" not in reply


async def test_a_service_she_never_used_is_offered_for_cancelling_not_clarified(services: Services) -> None:
    # Before: 「我没太确定您的意思」 with 查扣费明细 and 查已开的业务: 「没用过」 read as a dispute.
    chat = await bound(services)
    said = "我办的那个视频会员能不能退了 我没用过"
    reply = await chat.say(ActionCancelService(), said, "cancel_service", service="视频会员")
    assert "退订视频会员" in reply and "回复1确认退订" in reply and "投诉" in reply
    assert chat.slots["pending"].startswith("service_confirm:")
    # money contested beyond 「没用过」 is still asked about first, and an unnamed service too
    contested = await bound(services)
    said = "视频会员为什么扣我这么多钱 我都没用过 给我退了"
    reply = await contested.say(ActionCancelService(), said, "cancel_service", service="视频会员")
    assert "回复1确认退订" not in reply
    unnamed = await bound(services)
    assert "回复1确认退订" not in await unnamed.say(ActionCancelService(), "这个我没开过 退了", "cancel_service")


async def test_when_her_plan_ends_is_answered(services: Services) -> None:
    chat = await bound(services)
    reply = await chat.say(ActionCheckPlan(), "我这个套餐什么时候到期", "check_plan")
    assert "按月自动续用" in reply and "39元" in reply
    assert "按月自动续用" not in await chat.say(ActionCheckPlan(), "我现在是什么套餐", "check_plan")


async def test_how_many_lines_are_in_her_name_goes_to_a_person(services: Services) -> None:
    chat = await bound(services)
    vague = parse("帮我查一下我名下有几张卡", [("list_plans", 0.43), ("out_of_scope", 0.11)])
    reply = await _say(chat, ActionListPlans(), vague)
    assert "/月" not in reply and chat.payloads[-1]["handoff"]["reason"] == "operator_topic"


async def test_a_number_in_someone_elses_hands_goes_to_a_person(services: Services) -> None:
    # Before: 「您已绑定138****0001，换手机不用重新绑定」, read as a question about binding.
    chat = await bound(services)
    vague = parse("我的号码是不是被别人用了 老是收到验证码", [("ask_relative", 0.18)], fallback=True)
    reply = await _say(chat, ActionClarify(), vague)
    assert "验证码不要告诉任何人" in reply and "已绑定" not in reply
    assert chat.payloads[-1]["handoff"]["reason"] == "operator_topic"
    # a code that did not come is the binding's business, not a misused number
    assert not understanding.says_number_misused("我没收到验证码")


async def test_a_plan_for_an_old_one_at_home_lists_the_plans_for_the_old(services: Services) -> None:
    # Before: the elder desk, for a writer who copes and asked for a plan for someone at home.
    chat = await bound(services)
    said = "我家老人不会用智能手机 能不能换个老人机的套餐"
    reply = await chat.say(ActionElderSelfDescribed(), said, "elder_self_described")
    assert "智慧养老卡" in reply and not chat.payloads
    herself = await bound(services)
    await herself.say(ActionElderSelfDescribed(), "我年纪大了不会用 套餐看不懂", "elder_self_described")
    assert herself.payloads and herself.payloads[-1]["handoff"]["queue"] == "elder"


async def test_an_old_person_calling_the_assistant_her_daughter_is_asking_about_her_own_line(
    services: Services,
) -> None:
    # Before: 「可以帮您查您闺女的号码，要先绑定」: 闺女 was the one she spoke to, not about.
    chat = await bound(services)
    reply = await chat.say(ActionAskRelative(), "闺女 帮我看看我这手机还能用几天", "ask_relative", relative="闺女")
    assert "58.30元" in reply and "绑定" not in reply
    other = await bound(services)
    reply = await other.say(ActionAskRelative(), "闺女 帮我查一下她的话费", "ask_relative", relative="闺女")
    assert "58.30" not in reply


async def test_binding_refused_is_explained_not_menued(services: Services) -> None:
    # Before: 「我没太确定您的意思」 with 1 绑定手机号 2 解除绑定.
    chat = Conversation(services)
    await chat.say(ActionCheckBalance(), "查话费", "check_balance")
    assert chat.slots["pending"] == "bind_phone"
    vague = parse("怎么一直让我绑定 我不想绑", [("bind_phone", 0.46), ("unbind_phone", 0.42)], fallback=True)
    reply = await _say(chat, ActionClarify(), vague)
    assert "短信验证码确认号码是您本人的" in reply and "解除绑定" not in reply
    assert chat.slots["pending"] is None


async def test_closing_a_number_goes_to_a_person(services: Services) -> None:
    chat = await bound(services)
    await chat.say(ActionOutOfScope(), "我要销号", "out_of_scope")
    assert chat.payloads and chat.payloads[-1]["handoff"]["reason"] == "operator_topic"


async def test_a_call_back_not_kept_reaches_a_person_with_the_reason(services: Services) -> None:
    # Before: 「您还没有工单」, read as a ticket's progress.
    chat = await bound(services)
    reply = await chat.say(ActionTicketStatus(), "上次那个客服说给我回电话 到现在也没打", "ticket_status")
    assert "答应给您回电却没做到" in reply and "还没有工单" not in reply
    handoff = chat.payloads[-1]["handoff"]
    assert handoff["reason"] == "complaint" and "回电没等到" in handoff["summary"]


async def test_a_complaint_that_says_its_category_and_what_happened_is_not_asked_again(services: Services) -> None:
    # Before: the category menu (1 乱扣费 … 4 网络), after she had said 网络 and what happened.
    chat = await bound(services)
    said = "我要投诉你们的网络 信号太差了 在家里都没信号"
    reply = await chat.say(ActionComplaint(), said, "complaint")
    assert "哪方面" not in reply
    [ticket] = await tickets_of(services.engine, chat.openid)
    assert ticket.category == "network" and "在家里都没信号" in (ticket.note or "")
    short = await bound(services)
    reply = await short.say(ActionComplaint(), "我要投诉网络", "complaint")
    assert "哪方面" not in reply and "发生了什么" in reply
    plain = await bound(services)
    assert "哪方面" in await plain.say(ActionComplaint(), "我要投诉", "complaint")


async def test_a_balance_said_to_be_negative_is_answered_with_whether_she_owes(services: Services) -> None:
    # Before: this month's charges with 「有疑问吗？1 登记投诉」.
    chat = await bound(services)
    reply = await chat.say(ActionDisputeCharge(), "我的话费怎么变成负的了", "dispute_charge")
    assert "没有欠费" in reply and "58.30元" in reply and "登记投诉" not in reply


async def test_a_short_follow_up_asks_the_last_request_again(services: Services) -> None:
    # Before: 「好的。还有什么可以帮您？」 for 「10月的呢」 after a bill and 「那通话呢」 after her usage.
    chat = await bound(services)
    await chat.say(ActionCheckBill(), "查一下账单", "check_bill")
    reply = await chat.say(ActionHandleReply(), "10月的呢", "inform")
    assert "10月账单" in reply
    usage = await bound(services)
    await usage.say(ActionCheckBalance(), "查余额", "check_balance")
    assert "剩余16GB" in await usage.say(ActionHandleReply(), "那流量呢", "inform")
    # with nothing asked before, it is still 「还有什么可以帮您」
    fresh = await bound(services)
    assert "还有什么可以帮您" in await fresh.say(ActionHandleReply(), "那通话呢", "inform")


async def test_asked_which_plan_a_direction_is_the_answer_not_the_list(services: Services) -> None:
    # Before: the whole list, and then 「1」 was the main menu's 查话费余额.
    chat = await bound(services)
    assert "想换成哪个套餐" in await chat.say(ActionChangePlan(), "我要换套餐", "change_plan")
    reply = await chat.say(ActionListPlans(), "最便宜的那个", "list_plans")
    assert "可以换" in reply and "回复序号" in reply
    assert chat.slots["pending"].startswith("plan_pick:")
    assert reply.index("8元") < reply.index("18元")  # the cheapest first


async def test_whether_the_balance_lasts_is_answered_against_next_months_fees(services: Services) -> None:
    # Before: the bare balance. 138…0001: 58.30元; next month 39元 plan + 20元 services.
    chat = await bound(services)
    reply = await chat.say(ActionCheckBalance(), "帮我看下我还有多少钱 够不够用到月底", "check_balance")
    assert "58.30元" in reply and "约59元" in reply and "还差0.70元" in reply and "回复3" in reply
    plain = await bound(services)
    assert "59元" not in await plain.say(ActionCheckBalance(), "查余额", "check_balance")


async def test_which_plan_has_the_most_data_is_answered_with_those_plans(services: Services) -> None:
    # Before: 「现在的乐享39元套餐正合适，不用换」.
    chat = await bound(services)
    reply = await chat.say(ActionRecommendPlan(), "哪个套餐流量最多", "recommend_plan")
    assert reply.startswith("流量最多的套餐") and "正合适" not in reply
    sizes = [float(size) for size in re.findall(r"流量(\d+(?:\.\d+)?)GB", reply)]
    assert sizes == sorted(sizes, reverse=True) and len(sizes) == 3
    assert chat.slots["pending"] == "plan_which"


async def test_a_plan_called_a_rip_off_gets_what_her_usage_needs(services: Services) -> None:
    chat = await bound(services)
    reply = await chat.say(ActionListPlans(), "你们这个套餐太坑了", "list_plans")
    assert "平均每月" in reply and "还有10项" not in reply


async def test_an_old_person_calling_the_assistant_her_daughter_tops_up_her_own_line(services: Services) -> None:
    # Before: 「给您闺女充话费：请回复您闺女的11位手机号」.
    chat = await bound(services, "13800000002")
    reply = await chat.say(ActionAskRelative(), "闺女啊 我想充个话费 怎么弄啊", "ask_relative", relative="闺女")
    assert "您闺女" not in reply and "充值多少元" in reply
    direct = await bound(services, "13800000002")
    reply = await direct.say(ActionTopUp(), "闺女啊 我想充个话费 怎么弄啊", "top_up", relative="闺女")
    assert "您闺女" not in reply and "充值多少元" in reply


async def test_an_old_woman_who_does_not_understand_gets_her_months_spending_and_a_person(
    services: Services,
) -> None:
    # Before: 「您是想：1 查账单 2 查家人的号码？0 找人工」, and no person.
    chat = await bound(services, "13800000002")
    said = "我一个老太婆 也不懂这些 你帮我看看我这个月花了多少钱"
    reply = await _say(chat, ActionClarify(), parse(said, [("check_bill", 0.4), ("ask_relative", 0.3)], True))
    assert "本月到目前已扣费" in reply and "您是想" not in reply
    assert chat.payloads and chat.payloads[-1]["handoff"]["queue"] == "elder"


async def test_an_elder_asking_if_her_balance_lasts_is_offered_one_top_up(services: Services) -> None:
    chat = await bound(services, "13800000002")  # 12.60元, next month 15元
    chat.slots["is_elder"] = True  # as the session start sets it for her (72)
    reply = await chat.say(ActionCheckBalance(), "帮我看看我还有多少钱 够不够用到月底", "check_balance")
    assert "还差2.40元" in reply and reply.count("回复3") == 1


async def test_wechat_that_will_not_load_gets_the_data_left_and_the_lines_status(services: Services) -> None:
    # Before: the data left alone, though she has 16GB: whether the line works is the next question.
    chat = await bound(services)
    reply = await chat.say(ActionCheckUsage(), "我这个手机上不了那个微信了 是不是没流量了", "check_usage")
    assert "剩余16GB" in reply and "没有停机" in reply


async def test_a_request_taken_back_cancels_what_was_about_to_be_done(services: Services) -> None:
    # Before: 「我没太确定您的意思 … 1 充话费」.
    chat = await bound(services)
    vague = parse("我刚才说错了 不是要充值", [("top_up", 0.4)], fallback=True)
    reply = await _say(chat, ActionClarify(), vague)
    assert "刚才的不算" in reply and "充话费" not in reply and chat.slots["pending"] is None
    # a top-up waiting for its 「1」 is cancelled, not paid
    order = await bound(services)
    assert "回复1确认" in await order.say(ActionTopUp(), "充五十", "top_up", amount=50)
    reply = await order.say(ActionTopUp(), "我说错了 不充了", "top_up")
    assert "回复1确认" not in reply and "链接" not in reply and order.slots["pending"] is None
    # a corrected number is the answer, not a taking back
    binding = Conversation(services)
    await binding.say(ActionCheckBalance(), "查话费", "check_balance")
    await binding.say(ActionHandleReply(), "13800000009", "inform")
    reply = await binding.say(ActionHandleReply(), "打错了 是13800000001", "inform")
    assert "验证码" in reply and "刚才的不算" not in reply  # the binding takes it (here: wait a minute)


async def test_hours_and_her_own_number_are_answered(services: Services) -> None:
    chat = await bound(services)
    assert "24小时" in await chat.say(ActionOutOfScope(), "你们几点下班", "out_of_scope")
    reply = await chat.say(ActionCheckPlan(), "我的号码是多少来着 我忘了", "check_plan")
    assert "138****0001" in reply and "套餐" not in reply
    stranger = Conversation(services)
    await stranger.say(ActionCheckPlan(), "我的号码是多少来着 我忘了", "check_plan")
    assert stranger.slots["pending"] == "bind_phone"


async def test_a_month_said_to_cost_more_than_usual_is_set_against_the_months_before(services: Services) -> None:
    chat = await bound(services)
    reply = await chat.say(ActionDisputeCharge(), "上个月的账单怎么比平时多了十块", "dispute_charge")
    assert "11月账单共44元" in reply and "之前：10月44元、9月44元。" in reply
    assert reply.endswith("2 不用了")  # the offer stays last
    this_month = await bound(services)
    reply = await this_month.say(ActionDisputeCharge(), "这个月怎么比上个月多扣了这么多", "dispute_charge")
    assert "共扣费59元" in reply and "之前：11月44元、10月44元。" in reply


async def test_the_balance_refunded_on_leaving_goes_to_a_person(services: Services) -> None:
    chat = await bound(services)
    said = "能不能帮我把话费余额退给我 我不用这个号了"
    await _say(chat, ActionClarify(), parse(said, [("check_balance", 0.3), ("cancel_service", 0.2)], True))
    assert chat.payloads and chat.payloads[-1]["handoff"]["reason"] == "operator_topic"


async def test_whether_her_plan_is_the_best_value_is_a_verdict_from_her_usage(services: Services) -> None:
    # Before: her plan shown again.
    chat = await bound(services)
    reply = await chat.say(ActionCheckPlan(), "你好 我想咨询一下 我现在这个套餐是不是最划算的", "check_plan")
    assert "平均每月" in reply


async def test_plain_service_complaints_and_too_small_plans_are_served_not_clarified(services: Services) -> None:
    chat = await bound(services)
    reply = await _say(chat, ActionClarify(), parse("你们的服务太差了", [("complaint", 0.4)], fallback=True))
    assert "您是想" not in reply and "登记服务方面的投诉" in reply and "发生了什么" in reply
    small = await bound(services)
    vague = parse("我的流量怎么不够用啊 每个月都超", [("check_usage", 0.3), ("recommend_plan", 0.2)], True)
    assert "平均每月" in await _say(small, ActionClarify(), vague)


async def test_how_much_to_top_up_is_suggested_from_her_monthly_fees(services: Services) -> None:
    chat = await bound(services)
    reply = await chat.say(ActionTopUp(), "我要充话费 但是不知道充多少 一般充多少合适", "top_up")
    assert "每月固定扣约59元" in reply and "充值多少元" in reply


async def test_her_other_line_is_bound_then_answered(services: Services) -> None:
    # Before: a clarifying menu with 查家人的号码 in it.
    chat = await bound(services)
    said = "我有两个号 帮我查一下另一个号的话费"
    reply = await _say(chat, ActionClarify(), parse(said, [("check_balance", 0.3), ("ask_relative", 0.2)], True))
    assert "另一个号码" in reply and chat.slots["after_bind"] == "balance"
    await chat.say(ActionHandleReply(), "13800000002", "inform")
    answer = await chat.say(ActionHandleReply(), await latest_code(services, "13800000002"), "inform")
    assert "12.60元" in answer
    # with both bound, the second is answered at once
    reply = await _say(chat, ActionClarify(), parse(said, [("check_balance", 0.3), ("ask_relative", 0.2)], True))
    assert "12.60元" in reply and "58.30" not in reply


def test_promotions_and_hours_are_not_read_into_other_questions() -> None:
    assert understanding.asks_for_promotions("最近有啥活动吗 充话费有没有送的")
    assert not understanding.asks_for_promotions("我参加了充值送话费活动 但是钱没到")  # a dispute
    assert not understanding.asks_for_promotions("有什么优惠套餐")  # the plans
    assert not understanding.asks_hours("营业厅几点关门")  # a shop's hours: an errand
    assert understanding.refuses_binding("怎么一直让我绑定 我不想绑")
    assert not understanding.refuses_binding("我不想绑这个号了 帮我解绑")  # unbinding is its own request
    assert not understanding.asks_hours("充值24小时能到账吗")
    assert not understanding.says_callback_not_kept("你们打电话给我 我没接到")  # called, and she missed it


# --- a budget for a plan, plans by minutes, how a service began, a top-up not seen -----------------


def _fees(reply: str) -> list[int]:
    return [int(fee) for fee in re.findall(r"：(\d+)元/月", reply)]


def test_a_budget_is_read_with_or_without_a_unit_and_not_from_data_or_minutes() -> None:
    assert understanding.plan_budget("我要换成每个月三十块钱以下的套餐", 30) == understanding.PlanBudget(30, False)
    assert understanding.plan_budget("套餐太贵了 有没有三十左右的", None) == understanding.PlanBudget(30, True)
    assert understanding.plan_budget("不超过一百五的套餐", None) == understanding.PlanBudget(150, False)
    for text in (
        "我一个月流量用不到十个G 有没有便宜的套餐",
        "一个月打电话不到一百分钟",
        "换成59的那个",
        "流量最多的套餐",
    ):
        assert understanding.plan_budget(text, None) is None, text
    assert [understanding.small_number(w) for w in ("十", "三十五", "一百五", "两百", "九十九")] == [
        10,
        35,
        150,
        200,
        99,
    ]


async def test_a_plan_under_a_price_is_the_plans_under_it_to_pick_from(services: Services) -> None:
    # Before: 「想换成哪个套餐？请回复套餐名称」, the price she said ignored.
    chat = await bound(services)
    reply = await chat.say(ActionChangePlan(), "我要换成每个月三十块钱以下的套餐", "change_plan")
    assert reply.startswith("每月30元以内的套餐") and "1 " in reply
    fees = _fees(reply)
    assert fees and all(fee <= 30 for fee in fees) and fees == sorted(fees, reverse=True)
    assert chat.slots["pending"].startswith("plan_pick:")
    picked = await chat.say(ActionHandleReply(), "1", "inform")
    assert f"{fees[0]}元/月" in picked and "回复1确认" in picked


async def test_a_plan_around_a_price_is_the_nearest_ones(services: Services) -> None:
    # Before: the whole list, from the 8元 plan up.
    chat = await bound(services)
    reply = await chat.say(ActionListPlans(), "有没有二十块钱左右的套餐", "list_plans")
    fees = _fees(reply)
    assert reply.startswith("每月20元左右的套餐") and fees and all(14 <= fee <= 26 for fee in fees)
    assert [abs(fee - 20) for fee in fees] == sorted(abs(fee - 20) for fee in fees)
    # said without a unit, in a complaint about her plan: the same, not a verdict on hers
    unit_less = await bound(services)
    reply = await unit_less.say(ActionRecommendPlan(), "套餐太贵了 有没有三十左右的", "recommend_plan")
    assert reply.startswith("每月30元左右的套餐") and "正合适" not in reply


async def test_more_data_within_a_limit_puts_the_most_data_first(services: Services) -> None:
    chat = await bound(services)
    reply = await chat.say(ActionListPlans(), "有没有流量多一点 但是不超过五十块的套餐", "list_plans")
    sizes = [float(size) for size in re.findall(r"流量(\d+(?:\.\d+)?)GB", reply)]
    assert all(fee <= 50 for fee in _fees(reply)) and sizes == sorted(sizes, reverse=True) and len(sizes) == 3
    assert "乐享39元套餐" not in reply  # hers: a list to change to leaves it out


async def test_a_limit_no_plan_meets_gets_the_cheapest(services: Services) -> None:
    chat = await bound(services)
    reply = await chat.say(ActionChangePlan(), "我想换个五块钱以下的套餐", "change_plan")
    assert reply.startswith("没有每月5元以内的套餐") and "最便宜的是8元保号套餐" in reply


async def test_a_budget_the_classifier_was_unsure_of_still_gets_the_plans(services: Services) -> None:
    # Before: 「您是想：1 换套餐 2 查我的套餐 3 看可办的套餐」.
    chat = await bound(services)
    vague = parse("我想换个十块钱以下的套餐", [("change_plan", 0.66), ("check_plan", 0.1), ("list_plans", 0.09)], True)
    vague["entities"] = [{"entity": "amount", "value": 10}]
    reply = await _say(chat, ActionClarify(), vague)
    assert reply.startswith("每月10元以内的套餐") and all(fee <= 10 for fee in _fees(reply))


async def test_a_plan_for_calling_is_the_plans_with_the_most_minutes(services: Services) -> None:
    # Before: her usage (the classifier read it as check_usage).
    chat = await bound(services)
    reply = await chat.say(ActionCheckUsage(), "我想要一个通话时间长的套餐 我主要打电话", "check_usage")
    minutes = [int(m) for m in re.findall(r"，(\d+)分钟", reply)]
    assert reply.startswith("通话分钟最多的套餐") and minutes == sorted(minutes, reverse=True) and len(minutes) == 3
    # her own calls are still her usage
    usage = await bound(services)
    assert "通话已用" in await usage.say(ActionCheckUsage(), "我这个月打了多少分钟电话", "check_usage")


async def test_how_a_service_began_is_its_day_and_its_cancellation(services: Services) -> None:
    # Before: the list of her services (asked when), or the month's charges (disputed).
    chat = await bound(services)
    reply = await chat.say(ActionListServices(), "那个彩铃是什么时候开的 我怎么不知道", "list_services", service="彩铃")
    assert re.search(r"彩铃是\d{4}年\d+月\d+日开通的", reply) and "退订彩铃" in reply and "登记投诉" in reply
    # contested, not asked for: the offer to have it checked, never a cancellation to confirm
    assert chat.slots["pending"].startswith("dispute_offer:") and "回复1确认" not in reply
    disputed = await bound(services)
    reply = await disputed.say(ActionDisputeCharge(), "我没开通过什么彩铃 为什么每个月扣我五块钱", "dispute_charge")
    assert "彩铃是" in reply and "登记投诉" in reply and "视频会员" not in reply and "回复1确认" not in reply
    assert disputed.slots["pending"].startswith("dispute_offer:")
    asked = await bound(services)
    reply = await asked.say(ActionListServices(), "视频会员是哪天开通的", "list_services", service="视频会员")
    assert reply.startswith("视频会员是") and "登记投诉" not in reply and asked.slots["pending"] is None
    # the list, asked as a list, is still the list
    listed = await bound(services)
    assert "视频会员" in await listed.say(ActionListServices(), "我开通了哪些业务", "list_services")


async def test_paid_and_still_cut_off_is_her_top_ups_not_a_repair(services: Services) -> None:
    # Before: 「请发送您的位置」, a fault report for a line cut off for arrears.
    owing = await bound(services, "13800000004")
    reply = await owing.say(ActionReportFault(), "我交了钱怎么还是打不了电话", "report_fault")
    assert "充值到账记录" in reply and "欠费" in reply and "位置" not in reply
    # a line that works and owes nothing: a repair after all
    working = await bound(services)
    assert "位置" in await working.say(ActionReportFault(), "我交了钱怎么还是打不了电话", "report_fault")
    # 「上个月交了一百 怎么又欠费了」: her top-ups and her balance, not last month's bill
    claims = await bound(services)
    reply = await claims.say(ActionDisputeCharge(), "我上个月交了一百块钱 怎么现在又欠费了", "dispute_charge")
    assert reply.startswith("您最近到账的充值") and "余额58.30元" in reply


async def test_a_line_in_arrears_is_offered_the_top_up_once(services: Services) -> None:
    owing = await bound(services, "13800000004")
    reply = await owing.say(ActionLowBalanceHelp(), "欠了多少钱 怎么交", "low_balance_help")
    assert reply.count("回复3") == 1 and "23.50" in reply
    low = await bound(services)
    assert "钱不够用可以充话费" in await low.say(ActionLowBalanceHelp(), "话费不够了怎么办", "low_balance_help")


def test_giving_up_her_number_is_an_errand_for_a_person() -> None:
    assert understanding.names_operator_errand("我不想要这个号了 欠的钱怎么办")


async def test_plans_for_the_old_asked_for_are_those_plans(services: Services) -> None:
    # Before: 「现在的乐享39元套餐正合适，不用换」, a verdict on her own plan.
    chat = await bound(services)
    reply = await chat.say(ActionRecommendPlan(), "给我推荐一个适合老年人的套餐", "recommend_plan")
    assert reply.startswith("适合老人的套餐") and "正合适" not in reply
    # her own plan's verdict is still hers to ask
    verdict = await bound(services)
    assert "正合适" in await verdict.say(ActionRecommendPlan(), "我现在这个套餐划算吗", "recommend_plan")


async def test_a_top_up_the_balance_does_not_show_is_her_top_ups(services: Services) -> None:
    # Before: 「您是想：1 充话费 2 查扣费明细 3 查话费余额」.
    chat = await bound(services)
    vague = parse("我刚刚充值了50 怎么余额没变", [("top_up", 0.52), ("dispute_charge", 0.12), ("check_balance", 0.08)])
    reply = await _say(chat, ActionClarify(), vague)
    assert reply.startswith("您最近到账的充值") and "回复1确认" not in reply


async def test_errands_said_in_other_words_go_to_a_person(services: Services) -> None:
    # Before: 「还不会回答」, her plan, and binding her husband's number.
    for action, said, intent in (
        (ActionOutOfScope(), "我下个月要去香港 手机能用吗", "out_of_scope"),
        (ActionCheckPlan(), "帮我看看我这个号码是什么时候办的", "check_plan"),
        (ActionAskRelative(), "能不能把我的流量分给我老公用", "ask_relative"),
    ):
        chat = await bound(services)
        reply = await chat.say(action, said, intent)
        assert "办不了" in reply and chat.payloads[-1]["handoff"]["reason"] == "operator_topic", said
    plan = await bound(services)
    assert "乐享39元套餐" in await plan.say(ActionCheckPlan(), "我现在是什么套餐", "check_plan")


async def test_data_used_by_someone_else_is_the_data_dispute(services: Services) -> None:
    chat = await bound(services)
    reply = await chat.say(ActionCheckUsage(), "我的流量是不是被别人偷用了", "check_usage")
    assert "流量已用" in reply and "登记投诉" in reply and chat.slots["pending"].startswith("dispute_offer:")


async def test_a_message_without_a_word_of_voice_does_not_switch_on_spoken_answers(services: Services) -> None:
    # Before: 「好的，以后我的回答也会用语音说给您听」 for an agent who hung up on her.
    chat = await bound(services)
    reply = await chat.say(ActionVoiceReply(), "刚才那个客服把我电话挂了", "voice_reply_on")
    assert reply != VOICE_REPLIES_ON and chat.slots.get("voice_replies") is not True
    assert not any("voice_replies" in payload for payload in chat.payloads)
    assert "已登记投诉" in reply  # the category (service) and what happened are both said
    # said with the words of it, it is still switched on
    spoken = await bound(services)
    assert await spoken.say(ActionVoiceReply(), "我看不清字 你念给我听", "voice_reply_on") == VOICE_REPLIES_ON


async def test_an_elder_who_cannot_manage_gets_the_balance_she_asked_for_then_a_person(services: Services) -> None:
    # Before: only 「现在客服不在。我们会在…给您打电话」.
    chat = await bound(services, "13800000002")
    said = "你好我是一个老年人 我不太会弄这个 我就想知道我还有多少钱"
    message = parse(said, [("elder_self_described", 0.76), ("check_balance", 0.13)])
    message["entities"] = [{"entity": "second_request", "value": "check_balance"}]
    reply = await _say(chat, ActionElderSelfDescribed(), message)
    assert "12.60" in reply and chat.payloads[-1]["handoff"]["queue"] == "elder"
    # not bound: a person, and no binding asked of her
    unbound = Conversation(services)
    reply = await _say(unbound, ActionElderSelfDescribed(), message)
    assert "验证码" not in reply and "手机号" not in reply and unbound.payloads[-1]["handoff"]["queue"] == "elder"


async def test_a_top_up_someone_made_for_her_asked_after_is_her_top_ups(services: Services) -> None:
    # Before: 「给您孙子充话费：请回复您孙子的11位手机号」.
    chat = await bound(services)
    said = "那个什么 我孙子给我充了一百块钱 到了没有啊"
    message = parse(said, [("top_up", 0.39), ("dispute_charge", 0.18), ("check_balance", 0.08)], True)
    message["entities"] = [{"entity": "amount", "value": 100}, {"entity": "relative", "value": "孙子"}]
    reply = await _say(chat, ActionClarify(), message)
    assert reply.startswith("您最近到账的充值") and "孙子" not in reply


async def test_another_amount_for_a_waiting_top_up_replaces_it(services: Services) -> None:
    # Before: 「您是想：1 充话费 0 转人工」, then the amount asked again; the 50元 order left open.
    chat = await bound(services)
    assert "充值50元" in await chat.say(ActionTopUp(), "帮我充50", "top_up")
    first = chat.slots["pending"].removeprefix("topup_confirm:")
    reply = await _say(chat, ActionClarify(), {**parse("等一下 充100吧", [("top_up", 0.53), ("deny", 0.23)], True),
                                               "entities": [{"entity": "amount", "value": 100}]})  # fmt: skip
    assert "充值100元" in reply and "回复1确认" in reply
    second = chat.slots["pending"].removeprefix("topup_confirm:")
    assert second != first and (await services.payments.get(first)).state.value == "closed"
    # said clearly, the same; and a bare 「1」 still confirms
    clear = await chat.say(ActionTopUp(), "不对 充一百", "top_up")
    assert "充值100元" in clear and (await services.payments.get(second)).state.value == "closed"
    assert "支付" in await chat.say(ActionHandleReply(), "1", "affirm")


async def test_what_the_month_cost_and_what_is_left_are_answered_together(services: Services) -> None:
    # Before: only 「12月的账单下月初才出。本月到目前已扣费59元。」.
    chat = await bound(services)
    said = "喂喂 喂 我问一下啊 就是我这个手机号 这个月 扣了多少钱 然后还有多少钱 你帮我看一下"
    reply = await chat.say(ActionCheckBill(), said, "check_bill")
    assert "已扣费59元" in reply and "58.30元" in reply and "您还提到" not in reply


async def test_cannot_call_and_asks_if_in_arrears_is_told_whether_the_line_is_cut_off(services: Services) -> None:
    # Before: 「请发送您的位置」, and 「您还提到「查话费余额」，这件办完后再跟我说一声」.
    chat = await bound(services, "13800000002")
    message = {**parse("我打电话打不出去了 是不是欠费了", [("report_fault", 0.6), ("check_balance", 0.2)]),
               "entities": [{"entity": "second_request", "value": "check_balance"}]}  # fmt: skip
    reply = await _say(chat, ActionReportFault(), message)
    assert "没有欠费" in reply and "12.60" in reply and "位置" not in reply and "您还提到" not in reply
    owing = await bound(services, "13800000004")
    assert "欠费23.50元" in await owing.say(ActionReportFault(), "我打电话打不出去了 是不是欠费了", "report_fault")


async def test_a_cheaper_plan_for_the_old_is_among_the_plans_made_for_them(services: Services) -> None:
    # Before: 「把套餐从智慧养老卡换成8元保号套餐：…无通话分钟？」 for a 72-year-old.
    chat = await bound(services, "13800000002")
    reply = await chat.say(ActionChangePlan(), "我想换个便宜点的卡 老年人用的", "change_plan")
    assert "8元保号" not in reply and "没有比智慧养老卡更合适" in reply


async def test_what_a_month_costs_said_in_dialect_is_not_her_balance(services: Services) -> None:
    chat = await bound(services)
    assert (await chat.say(ActionCheckBalance(), "我每个月话费要好多钱", "check_balance")).startswith("话费这样扣")
    assert "余额" in await chat.say(ActionCheckBalance(), "话费还有多少钱", "check_balance")


async def test_money_gone_soon_after_a_top_up_is_her_top_ups(services: Services) -> None:
    chat = await bound(services, "13800000002")
    reply = await chat.say(ActionDisputeCharge(), "俺的手机咋又没钱了 上个礼拜才充的", "dispute_charge")
    assert "充值" in reply and "12.60" in reply


async def test_a_budget_no_plan_for_the_old_meets_gets_the_nearest_plan_for_the_old(services: Services) -> None:
    chat = await bound(services, "13800000002")  # 智慧养老卡 (10元), the cheapest plan for the old
    reply = await chat.say(ActionChangePlan(), "给我换个老年人用的 十块钱以下的套餐", "change_plan")
    assert reply.startswith("没有每月10元以内的套餐") and "孝心18元套餐" in reply and "8元保号" not in reply
