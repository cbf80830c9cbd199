"""Tickets on the agents' side, against real PostgreSQL and Redis: who sees which ticket, take and
assign, overdue escalation (once), canned replies per desk, the reports, and the console's
HTTP routes (CSRF, 404 for a ticket of another desk)."""

from __future__ import annotations

import datetime as dt

import pytest
from aiohttp import web
from handoff_support import (
    Clock,
    add_agent,
    build_service,
    clean_handoff_tables,
    new_openid,
    record_inbound,
    text_message,
)
from test_handoff_console import login, post

from core.tickets import NewTicket, Ticket, open_ticket, promise_hours
from core.vocabulary import TicketCategory, TicketKind
from handoff import desk, reports, ticket_views
from handoff.console import setup_console
from handoff.service import HandoffService
from handoff.store import HandoffStore
from handoff.tickets import TicketError

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


@pytest.fixture
async def service(seeded_engine, redis) -> HandoffService:
    await clean_handoff_tables(seeded_engine)
    return build_service(seeded_engine, redis, Clock(NOW))


async def opened(
    service: HandoffService,
    hours_ago: float,
    *,
    queue: str = "general",
    category: TicketCategory = TicketCategory.NETWORK,
    note: str = "家里没信号",
) -> Ticket:
    new = NewTicket(
        kind=TicketKind.FAULT
        if category in (TicketCategory.NETWORK, TicketCategory.BROADBAND)
        else TicketKind.COMPLAINT,
        category=category,
        openid=new_openid("t"),
        phone="13912345678",
        reason="fault",
        note=note,
        created_by="subscriber",
        queue=queue,
        is_elder=queue == "elder",
    )
    return await open_ticket(service.store.engine, new, NOW - dt.timedelta(hours=hours_ago), SHANGHAI, promise_hours())


async def test_an_agent_sees_her_desk_and_her_own_tickets_only(service: HandoffService) -> None:
    store = HandoffStore(service.store.engine)
    general = await add_agent(store, "李娜")
    elder_agent = await add_agent(store, "王芳", ("elder",))
    elder_ticket = await opened(service, 1, queue="elder")
    general_ticket = await opened(service, 1)
    assert await ticket_views.ticket_page(service, elder_ticket.id, general) is None
    assert await ticket_views.ticket_page(service, elder_ticket.id, elder_agent) is not None
    lists = await ticket_views.ticket_lists(service, general)
    assert [t.id for t in lists.desk] == [general_ticket.id] and lists.mine == []

    taken = await service.tickets.take(general_ticket.id, general)
    assert (taken.agent_id, taken.status) == (general.id, "in_progress")
    lists = await ticket_views.ticket_lists(service, general)
    assert [t.id for t in lists.mine] == [general_ticket.id] and lists.desk == []
    assigned = await service.tickets.assign(general_ticket.id, general, elder_agent)
    assert assigned.agent_id == elder_agent.id
    history = [(e.kind, e.text) for e in await service.tickets.history(general_ticket.id)]
    assert ("assigned", "李娜接手") in history and ("assigned", "李娜指派给王芳") in history


async def test_search_by_ticket_number_phone_or_words(service: HandoffService) -> None:
    agent = await add_agent(HandoffStore(service.store.engine), "李娜")
    first = await opened(service, 2, note="宽带三天没网")
    await opened(service, 1, note="信号差")
    by_number = await ticket_views.ticket_lists(service, agent, first.number)
    by_words = await ticket_views.ticket_lists(service, agent, "三天没网")
    by_phone = await ticket_views.ticket_lists(service, agent, "5678")
    assert [t.id for t in by_number.results] == [first.id] == [t.id for t in by_words.results]
    assert len(by_phone.results) == 2


async def test_overdue_tickets_escalate_once(service: HandoffService) -> None:
    late = await opened(service, 30)  # promised within 24 hours
    await opened(service, 2)
    assert await service.tickets.escalate_overdue() == 1
    assert await service.tickets.escalate_overdue() == 0
    assert [t.id for t in (await reports.supervisor_report(service)).escalated] == [late.id]
    assert [e.kind for e in await service.tickets.history(late.id)].count("escalated") == 1


async def test_resolving_needs_a_text_and_happens_once(service: HandoffService) -> None:
    agent = await add_agent(HandoffStore(service.store.engine), "李娜")
    ticket = await opened(service, 1)
    with pytest.raises(TicketError):
        await service.tickets.resolve(ticket.id, agent, "   ")
    await record_inbound(service.store.engine, text_message(ticket.openid, "在吗"))
    assert (await service.tickets.resolve(ticket.id, agent, "已修好")).sent
    entries = await service.store.audit_entries(action="ticket_resolve")
    mine = [(e.actor, e.detail) for e in entries if e.openid == ticket.openid]
    assert mine == [("李娜", f"{ticket.number}：已修好")]  # listed in 操作记录
    with pytest.raises(TicketError):
        await service.tickets.resolve(ticket.id, agent, "再次")


async def test_a_resolution_outside_the_window_is_recorded_as_not_sent(service: HandoffService) -> None:
    agent = await add_agent(HandoffStore(service.store.engine), "李娜")
    ticket = await opened(service, 1)  # she never wrote: WeChat allows no customer-service message
    announcement = await service.tickets.resolve(ticket.id, agent, "已修好")
    assert not announcement.sent and "48小时" in (announcement.reason or "")
    messages = [e.text or "" for e in await service.tickets.history(ticket.id) if e.kind == "message"]
    assert len(messages) == 1 and "未发送" in messages[0]


async def test_canned_replies_are_edited_per_desk(service: HandoffService) -> None:
    agent = await add_agent(HandoffStore(service.store.engine), "李娜")
    assert len(await service.canned.of_desk("general")) == 6
    await service.canned.replace("general", agent, "您好！\n\n师傅今天下午到。\n")
    assert [c.text for c in await service.canned.of_desk("general")] == ["您好！", "师傅今天下午到。"]
    assert len(await service.canned.of_desk("elder")) == 6  # the other desk keeps its own


async def test_reports_count_by_desk_category_promise_response_and_satisfaction(service: HandoffService) -> None:
    agent = await add_agent(HandoffStore(service.store.engine), "李娜")
    in_time = await opened(service, 2, queue="elder", category=TicketCategory.BILLING)
    late = await opened(service, 30 * 24 - 1, category=TicketCategory.BROADBAND)  # 29 days and 23 hours ago
    await opened(service, 1)
    for ticket in (in_time, late):
        await record_inbound(service.store.engine, text_message(ticket.openid, "在吗"))
        await service.tickets.resolve(ticket.id, agent, "已处理")
    answered, consumed = await service.before_bot(in_time.openid, "1")
    assert consumed
    rows = {(r.queue, r.days): r for r in (await reports.supervisor_report(service)).tickets}
    elder7, general7, general30 = rows[("elder", 7)], rows[("general", 7)], rows[("general", 30)]
    assert elder7.opened == {"billing": 1} and elder7.closed == {"billing": 1}
    assert elder7.in_time_share == 100 and elder7.satisfied_share == 100
    assert elder7.first_response_s == pytest.approx(2 * 3600, abs=5)
    assert general7.opened == {"network": 1} and general7.closed == {"broadband": 1}  # closed now, opened long ago
    assert general7.in_time_share == 0 and general7.surveyed == 0
    assert general30.opened == {"network": 1, "broadband": 1}


# ---- the console's routes ---------------------------------------------------------------------


async def test_ticket_routes_check_csrf_and_desk(seeded_engine, redis, aiohttp_client) -> None:
    await clean_handoff_tables(seeded_engine)
    service = build_service(seeded_engine, redis, Clock(NOW))
    app = web.Application()
    setup_console(app, lambda _parent: service, background=False)
    client = await aiohttp_client(app)
    await add_agent(HandoffStore(seeded_engine), "李娜")
    elder_ticket = await opened(service, 1, queue="elder")
    ticket = await opened(service, 30, note="宽带三天没网")
    csrf = await login(client, "李娜")

    listing = await (await client.get("/agent/tickets")).text()
    assert ticket.number in listing and elder_ticket.number not in listing
    assert (await client.get(f"/agent/tickets/{elder_ticket.id}")).status == 404
    assert (await post(client, f"/agent/tickets/{elder_ticket.id}/note", csrf, text="x")).status == 404
    refused = await client.post(f"/agent/tickets/{ticket.id}/note", data={"csrf": "forged", "text": "x"})
    assert refused.status == 403
    page = await post(client, f"/agent/tickets/{ticket.id}/note", csrf, text="先电话联系")
    assert page.status == 200 and "先电话联系" in await page.text()
    assert (await post(client, "/agent/canned", csrf, queue="elder", texts="x")).status == 403
    found = await (await client.get("/agent/tickets", params={"q": "三天没网"})).text()
    assert 'id="search-results"' in found and ticket.number in found


async def test_a_chat_that_answered_her_keeps_the_call_back_and_a_follow_up_goes_back_to_its_agent(
    seeded_engine, redis
) -> None:
    await clean_handoff_tables(seeded_engine)
    clock = Clock(NOW)
    service = build_service(seeded_engine, redis, clock, SERVICE_HOURS="00:00-24:00")
    engine = service.store.engine
    agent = await add_agent(HandoffStore(engine), "李娜")
    openid = new_openid("loop")
    await record_inbound(engine, text_message(openid, "人工"))
    # nobody on duty: a call-back is promised
    await service.request_handoff(openid, "request_human", "general", "用户要求人工")
    promised = await service.store.tasks.open_task_of(openid, "callback")
    assert promised is not None
    # later she writes again and a person answers her in the chat
    await service.live.heartbeat(agent.id, "test")
    clock.advance(minutes=30)
    await record_inbound(engine, text_message(openid, "还在吗"))
    await service.request_handoff(openid, "request_human", "general", "用户要求人工")
    chat = await service.store.open_chat_for(openid)
    assert chat is not None
    if chat.status == "waiting":
        await service.take(chat.id, agent)
    assert (await service.reply(chat.id, agent, "您好，我来帮您")).sent
    await service.close_chat(chat.id, agent)
    done = await service.store.tasks.task(promised.id)
    assert done is not None and done.outcome == "resolved_online" and not done.is_open
    # she is not satisfied: the next-day follow-up goes back to the agent who served her (on duty)
    await service.before_bot(openid, "3")
    follow_up = await service.store.tasks.open_task_of(openid, "follow_up")
    assert follow_up is not None
    ticket = await service.tickets.store.ticket(follow_up.id)
    assert ticket is not None and ticket.agent_id == agent.id


async def test_my_chats_show_a_preview_and_how_long_she_has_waited(seeded_engine, redis) -> None:
    await clean_handoff_tables(seeded_engine)
    service = build_service(seeded_engine, redis, Clock(NOW), SERVICE_HOURS="00:00-24:00")
    agent = await add_agent(HandoffStore(seeded_engine), "李娜")
    await service.live.heartbeat(agent.id, "test")
    openid = new_openid("mine")
    await record_inbound(seeded_engine, text_message(openid, "人工"))
    await service.request_handoff(openid, "request_human", "general", "用户要求人工")
    chat = await service.store.open_chat_for(openid)
    assert chat is not None
    if chat.status == "waiting":
        await service.take(chat.id, agent)
    await service.on_subscriber_message(text_message(openid, "我的宽带到底什么时候能修好"), None, None)
    view = await desk.mine(service, agent)
    assert view.previews[chat.id].text == "我的宽带到底什么时候能修好" and chat.id not in view.replied
    await service.reply(chat.id, agent, "马上帮您查")
    assert chat.id in (await desk.mine(service, agent)).replied


async def test_the_profile_panel_has_this_months_usage_and_the_latest_top_ups(service: HandoffService) -> None:
    profile = await service.profiles.lookup(new_openid("p"), "13800000001")
    assert profile.usage is not None and profile.usage.data_total_mb > 0
    payments = await service.profiles.billing.list_payments("13800000001")
    assert [p.order_no for p in profile.payments] == [p.order_no for p in payments]


def test_agents_online_but_not_ready_are_not_counted_as_online_agents() -> None:
    from handoff.routing import AgentState

    def agent(n: int, online: bool, ready: bool) -> AgentState:
        return AgentState(n, f"客服{n}", ("general",), 3, 0, online, ready)

    report = reports.SupervisorReport({}, {}, [agent(1, True, True), agent(2, True, False), agent(3, False, True)],
                                      0, 0, 0, 0, [])  # fmt: skip
    assert (report.online_agents, report.not_ready_agents) == (1, 1)
