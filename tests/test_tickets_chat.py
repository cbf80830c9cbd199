"""Tickets from the subscriber's side (issue 12, acceptance 1), with the real actions, PostgreSQL,
Redis and the gateway's real outbox: a complaint opened, its progress asked, its resolution
announced with one numbered satisfaction question and the answer stored; a fault report with a
WeChat location and a time slot; an unbound subscriber asked for a reachable number before any
promise. The same flows through the trained model are in tests/test_conversations.py."""

from __future__ import annotations

import datetime as dt

import pytest
from handoff_support import Clock, add_agent, build_service, clean_handoff_tables, record_inbound, text_message
from sqlalchemy import select
from test_actions import Conversation, services
from test_handoff_service import outbox_texts

from actions.guidance import ActionComplaint, ActionReportFault, ActionTicketStatus
from actions.reply_router import ActionDefaultFallback, ActionHandleReply
from actions.services import Services
from actions.tickets import ActionSharedAttachment
from core.tickets import tickets_of
from handoff.models import ho_surveys
from handoff.store import HandoffStore

UNBOUND_NUMBER = "13912345678"
PROMISES = ("单号", "联系您", "小时内", "前给您")


@pytest.fixture
async def handoff(seeded_engine, redis):
    await clean_handoff_tables(seeded_engine)
    return build_service(seeded_engine, redis, Clock(dt.datetime.now(dt.timezone.utc)))


async def test_complaint_opened_progress_asked_resolution_announced_with_satisfaction(
    services: Services, handoff, seeded_engine
) -> None:
    chat = Conversation(services)
    asked = await chat.say(ActionComplaint(), "我要投诉", "complaint")
    assert "1 乱扣费" in asked and "6 其他" in asked and len(asked.split("\n")) <= 8
    assert "发生了什么" in await chat.say(ActionHandleReply(), "1", "inform")
    # whatever the classifier made of her account, it answers the question
    contact = await chat.say(ActionDefaultFallback(), "账单我看不懂，上个月莫名其妙多扣了20元彩铃费", "nlu_fallback")
    assert "手机号" in contact and not any(word in contact for word in PROMISES)
    opened = await chat.say(ActionHandleReply(), UNBOUND_NUMBER, "inform")
    [ticket] = await tickets_of(services.engine, chat.openid)
    assert f"已登记投诉，单号{ticket.number}" in opened and "139****5678" in opened
    assert (ticket.kind, ticket.category, ticket.status, ticket.phone) == (
        "complaint",
        "billing",
        "open",
        UNBOUND_NUMBER,
    )
    assert "账单我看不懂，上个月莫名其妙多扣了20元彩铃费" in (ticket.note or "") and ticket.queue == "general"
    assert not chat.payloads  # 「看不懂」 here is what happened: the form goes on, no handoff
    assert dt.timedelta(hours=23) < ticket.due_at - ticket.created_at <= dt.timedelta(hours=24)
    assert chat.slots["pending"] is None

    progress = await chat.say(ActionTicketStatus(), "我的投诉怎么样了", "ticket_status")
    assert ticket.number in progress and "投诉·乱扣费：待处理" in progress

    # an agent resolves it: the subscriber is told, with one numbered satisfaction question
    await record_inbound(seeded_engine, text_message(chat.openid, "在吗"))  # her 48-hour window is open
    agent = await add_agent(HandoffStore(seeded_engine), "李娜")
    announcement = await handoff.tickets.resolve(ticket.id, agent, "已核实，20元彩铃费已退回您的话费账户。")
    assert announcement.sent
    [told] = await outbox_texts(seeded_engine, chat.openid)
    assert f"您的工单{ticket.number}已处理" in told and "20元彩铃费已退回" in told
    assert "1 满意" in told and "3 不满意" in told and len(told.split("\n")) <= 8

    # her 「1」 answers the question (it never reaches the bot as a menu choice)
    answered, consumed = await handoff.before_bot(chat.openid, "1")
    assert consumed and answered == ["谢谢您的评价！"]
    async with seeded_engine.connect() as conn:
        score = (await conn.execute(select(ho_surveys.c.score).where(ho_surveys.c.ticket_id == ticket.id))).scalar()
    assert score == 1
    history = [(e.kind, e.text) for e in await handoff.tickets.history(ticket.id)]
    assert ("note", "满意度：满意") in history and any(kind == "message" and "已发送" in text for kind, text in history)

    done = await chat.say(ActionTicketStatus(), "工单进度", "ticket_status")
    assert "已解决" in done and "已退回" in done


async def test_fault_report_with_a_wechat_location_and_a_time_slot(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000001")
    where = await chat.say(ActionReportFault(), "家里手机没信号打不了电话", "report_fault")
    assert "位置" in where and "地址" in where
    location = {"msg_type": "location", "label": "北京市朝阳区建国路88号", "latitude": "39.9", "longitude": "116.4"}
    slot = await chat.say(ActionSharedAttachment(), "/shared_location", "shared_location", metadata=location)
    assert "1 今天下午" in slot and "2 明天上午" in slot  # bound: her number is known, not asked
    opened = await chat.say(ActionHandleReply(), "2", "deny")  # the classifier reads a bare 「2」 as deny
    [ticket] = await tickets_of(services.engine, chat.openid)
    assert f"已为您报修，单号{ticket.number}" in opened and "138****0001" in opened and "明天上午" in opened
    assert (ticket.kind, ticket.category, ticket.phone) == ("fault", "network", "13800000001")
    assert ticket.address == "北京市朝阳区建国路88号" and ticket.time_slot == "明天上午"
    assert [(a.kind, a.latitude, a.longitude) for a in ticket.attachments] == [("location", "39.9", "116.4")]
    assert "打不了电话" in (ticket.note or "")


async def test_unbound_subscriber_is_asked_for_a_number_before_any_promise(services: Services) -> None:
    chat = Conversation(services)
    said = [await chat.say(ActionReportFault(), "报修", "report_fault")]
    said.append(await chat.say(ActionDefaultFallback(), "宽带和手机都没网", "nlu_fallback"))
    said.append(await chat.say(ActionDefaultFallback(), "朝阳区建国路88号3单元", "nlu_fallback"))
    assert "手机号" in said[-1]
    assert not any(word in text for text in said for word in PROMISES), said
    assert await tickets_of(services.engine, chat.openid) == []  # nothing promised yet
    assert "不对" in await chat.say(ActionHandleReply(), "12345", "inform")
    assert "1 今天下午" in await chat.say(ActionHandleReply(), f"打我{UNBOUND_NUMBER}", "inform")
    opened = await chat.say(ActionHandleReply(), "3", "inform")
    [ticket] = await tickets_of(services.engine, chat.openid)
    assert "139****5678" in opened and ticket.number in opened
    assert (ticket.phone, ticket.address, ticket.time_slot) == (UNBOUND_NUMBER, "朝阳区建国路88号3单元", "明天下午")


async def test_an_elder_complaint_goes_to_a_person_and_is_recorded(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000002")  # 王秀英, over 65
    chat.slots["is_elder"] = True
    await chat.say(ActionComplaint(), "我要投诉你们营业员态度差", "complaint")
    [ticket] = await tickets_of(services.engine, chat.openid)
    handoff = chat.payloads[-1]["handoff"]
    assert (handoff["reason"], handoff["queue"]) == ("complaint", "elder")
    assert ticket.number in handoff["summary"] and ticket.queue == "elder" and ticket.is_elder


async def test_a_menu_click_leaves_the_form_and_cancel_ends_it(services: Services) -> None:
    chat = Conversation(services)
    await chat.say(ActionComplaint(), "我要投诉", "complaint")
    assert chat.slots["pending"].startswith("ticket_form:")
    assert "已取消" in await chat.say(ActionHandleReply(), "取消", "deny")
    assert chat.slots["pending"] is None
    await chat.say(ActionComplaint(), "我要投诉", "complaint")
    menu = await chat.say(ActionTicketStatus(), "/ticket_status", "ticket_status", metadata={"msg_type": "event"})
    assert "还没有工单" in menu


async def test_a_photo_after_a_report_is_added_to_the_ticket(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000001")
    await chat.say(ActionComplaint(), "我要投诉", "complaint")
    await chat.say(ActionHandleReply(), "3", "inform")
    await chat.say(ActionDefaultFallback(), "营业员很凶", "nlu_fallback")
    photo = {"msg_type": "image", "pic_url": "http://example.invalid/p.jpg"}
    reply = await chat.say(ActionSharedAttachment(), "/shared_image", "shared_image", metadata=photo)
    [ticket] = await tickets_of(services.engine, chat.openid)
    assert f"已加到您的工单{ticket.number}" in reply
    assert [(a.kind, a.url) for a in ticket.attachments] == [("image", "http://example.invalid/p.jpg")]
