"""Issue 11, elderly subscribers: straight to the elder desk with one true sentence, the agent's
notice riding on her first message, the closing message never dropped, the satisfaction answer
stored (never a menu choice), the supervisor's figures, the elder menu and user tag.

The handoff service runs against real PostgreSQL and Redis with the gateway's real outbox and
customer-service window; the menu against the stand-in WeChat API.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import aiohttp
import pytest
from gateway_fixtures import APP_ID, APP_SECRET, serve
from handoff_support import (
    ELDER_70,
    SHANGHAI,
    Clock,
    add_agent,
    bind,
    build_service,
    clean_handoff_tables,
    new_openid,
    record_inbound,
    text_message,
)
from sqlalchemy import delete, insert, select

from billing.binding import BindingService, load_sms_sender
from core import wording
from core.conversations import Routing
from gateway.inbox import Inbox
from gateway.store import inbox, outbox
from handoff import reports
from handoff.elder_tags import ElderTagger
from handoff.service import HandoffService
from handoff.store import HandoffStore
from wechat.api import AccessTokens, WeChatApi
from wechat.menu import ELDER_TAG, load_menu, publish_menu
from wechat.messages import InboundMessage
from wechat.standin import StandinState, create_standin_app
from wechat.window import CsWindow, utcnow

MENU_FILE = Path(__file__).resolve().parent.parent / "wechat" / "menu.yml"
DESK_HOURS = dt.datetime(2027, 1, 5, 10, 0, tzinfo=SHANGHAI)
EVENING = dt.datetime(2027, 1, 5, 21, 0, tzinfo=SHANGHAI)  # the desk (08:00-20:00) is closed
SUMMARY = "年长客户，首条消息直接转人工：「我还有多少钱」；机器人已答：「您的话费余额：12.60元。」"


async def routed(service: HandoffService, engine, openid: str) -> Routing:
    """Who answers her next message, read all ways the gateway reads it: on its own, with the inbox
    claim that leases the message (`routing_columns`), and with the statement that stores and
    leases it at once (`Inbox.take_new`). All must say the same."""
    alone = await service.routing(openid)
    now = utcnow()
    row = {"msg_key": f"{openid}:routed", "openid": openid, "msg_type": "text", "message": {}, "status": "pending",
           "attempts": 0, "next_attempt_at": now, "apologised": False, "received_at": now}  # fmt: skip
    box = Inbox(engine, CsWindow(engine), lease_s=15, routing=service.routing_columns())
    async with engine.begin() as conn:
        await conn.execute(insert(inbox).values(row))
    try:
        claimed = await box.claim_next(openid)
    finally:
        async with engine.begin() as conn:
            await conn.execute(delete(inbox).where(inbox.c.msg_key == row["msg_key"]))
    assert claimed is not None and claimed.routing == alone
    message = InboundMessage(openid=openid, msg_key=f"{openid}:taken", msg_type="text", create_time=1, content="你好")
    try:
        stored = await box.take_new(message, arrival_seq=1)
    finally:
        async with engine.begin() as conn:
            await conn.execute(delete(inbox).where(inbox.c.msg_key == message.msg_key))
    assert stored is not None and stored.taken is not None and stored.taken.routing == alone
    return alone


@pytest.fixture
async def store(seeded_engine) -> HandoffStore:
    await clean_handoff_tables(seeded_engine)
    return HandoffStore(seeded_engine)


@pytest.fixture
def clock() -> Clock:
    return Clock(DESK_HOURS)


@pytest.fixture
def service(seeded_engine, redis, store, clock) -> HandoffService:
    return build_service(seeded_engine, redis, clock)


async def outbox_texts(engine, openid: str) -> list[str]:
    query = select(outbox.c.payload).where(outbox.c.openid == openid).order_by(outbox.c.id)
    async with engine.connect() as conn:
        return [row.payload["text"]["content"] for row in (await conn.execute(query)).all()]


async def online(service: HandoffService, *agents) -> None:
    for agent in agents:
        await service.live.heartbeat(agent.id, f"test-{agent.id}")


async def elder_in_chat(service, store, seeded_engine, agent_name="王芳"):
    agent = await add_agent(store, agent_name, ("elder",))
    await online(service, agent)
    openid = new_openid("elder")
    await bind(seeded_engine, openid, ELDER_70)
    await record_inbound(seeded_engine, text_message(openid, "我还有多少钱"))
    await service.request_handoff(openid, "elder", "elder", SUMMARY, direct=True)
    chat = await store.open_chat_for(openid)
    return agent, openid, chat


# ---- 1. straight to the elder desk, one true sentence ----------------------------------------


async def test_elder_first_message_joins_the_elder_queue_with_the_expected_wait(service, store, seeded_engine):
    agent = await add_agent(store, "王芳", ("elder",))
    await online(service, agent)  # console open, not taking chats automatically yet
    openid = new_openid("elder")
    await bind(seeded_engine, openid, ELDER_70)

    texts = await service.request_handoff(openid, "elder", "elder", SUMMARY, direct=True)

    assert texts == ["已经请人工客服来帮您，客服大约3分钟后来，请稍等。"]  # one sentence, and it is true
    chat = await store.open_chat_for(openid)
    assert (chat.status, chat.queue, chat.is_elder, chat.summary) == ("waiting", "elder", True, SUMMARY)
    notes = [m.text for m in await store.transcript(chat.id) if m.msg_type == "note"]
    assert any("首条消息直接接入" in note and "12.60元" in note for note in notes)  # the agent sees the answer


async def test_a_ready_agent_means_a_person_now(service, store, seeded_engine):
    agent = await add_agent(store, "王芳", ("elder",))
    await online(service, agent)
    await service.assignment.set_ready(agent, True)
    openid = new_openid("elder")
    await bind(seeded_engine, openid, ELDER_70)
    assert await service.request_handoff(openid, "elder", "elder", SUMMARY, direct=True) == [
        "客服王芳来了，您直接说就行。"
    ]


async def test_outside_desk_hours_the_elder_keeps_her_answer_and_nothing_else_is_promised(
    service, store, seeded_engine, clock
):
    clock.now = EVENING.astimezone(dt.timezone.utc)
    agent = await add_agent(store, "王芳", ("elder",))
    await online(service, agent)
    openid = new_openid("elder")
    await bind(seeded_engine, openid, ELDER_70)

    assert await service.request_handoff(openid, "elder", "elder", SUMMARY, direct=True) == []
    assert await store.chats_of_openid(openid) == [] and await store.tasks.open_tasks() == []
    # what the bot cannot do is promised a call-back, with a time: the one true sentence
    assert await service.request_handoff(openid, "request_human", "elder", "要人工") == [
        "现在客服不在。我们会在明天10点前给您打电话。"
    ]


async def test_nobody_on_duty_is_no_direct_connection(service, store, seeded_engine):
    openid = new_openid("elder")
    await bind(seeded_engine, openid, ELDER_70)
    assert await service.request_handoff(openid, "elder", "elder", SUMMARY, direct=True) == []
    assert await store.open_chat_for(openid) is None


async def test_a_voice_note_nobody_understood_from_an_unbound_openid_goes_to_the_elder_desk(service, store):
    agent = await add_agent(store, "王芳", ("elder",))
    await online(service, agent)
    unbound = new_openid("voice")
    await service.request_handoff(unbound, "voice_unrecognised", "general", "语音消息，未能识别")
    assert (await store.open_chat_for(unbound)).queue == "elder"


# ---- 「客服小王来了」 rides on the agent's first message -------------------------------------------


async def test_the_agent_notice_is_joined_to_her_first_message(service, store, seeded_engine):
    agent, openid, chat = await elder_in_chat(service, store, seeded_engine)
    await service.take(chat.id, agent)
    before = await outbox_texts(seeded_engine, openid)

    assert (await service.reply(chat.id, agent, "王阿姨您好，话费还有12.60元。")).sent
    assert (await service.reply(chat.id, agent, "要充值吗？")).sent

    sent = (await outbox_texts(seeded_engine, openid))[len(before) :]
    assert sent == ["客服王芳来了。\n王阿姨您好，话费还有12.60元。", "要充值吗？"]  # two messages, not three
    assert (await service.window_view(openid)).messages_left == 5 - len(before) - 2


# ---- 5. closing the loop: the satisfaction question, stored ---------------------------------------


async def test_closing_asks_one_numbered_question_and_the_answer_is_stored_not_sent_to_the_bot(
    service, store, seeded_engine
):
    agent, openid, chat = await elder_in_chat(service, store, seeded_engine)
    await service.take(chat.id, agent)
    assert (await routed(service, seeded_engine, openid)) == Routing(with_human=True, survey_open=False)
    await service.close_chat(chat.id, agent)
    closing = (await outbox_texts(seeded_engine, openid))[-1]
    assert closing == wording.CLOSED_ELDER + "\n请给本次服务打个分，回复数字：\n1 满意\n2 一般\n3 不满意"
    # the gateway asks `routing` for every message, and `before_bot` only when it says so
    assert (await routed(service, seeded_engine, openid)) == Routing(with_human=False, survey_open=True)

    # 「3」 would be 充话费 to the bot: here it is her answer
    await record_inbound(seeded_engine, text_message(openid, "3"))
    first, consumed = await service.before_bot(openid, "3")
    assert consumed and first == [wording.SURVEY_THANKS[3]]
    survey = await store.latest_survey(openid)
    assert (survey.score, survey.queue, survey.is_elder) == (3, "elder", True)
    # an unhappy elder gets a next-day follow-up
    assert [t.kind for t in await store.tasks.open_tasks() if t.openid == openid] == ["follow_up"]
    # asked once: the next 「1」 is a menu choice for the bot again
    assert (await routed(service, seeded_engine, openid)) == Routing(with_human=False, survey_open=False)
    assert await service.before_bot(openid, "1") == ([], False)


async def test_a_closing_message_refused_by_the_quota_is_delivered_with_her_next_answer(service, store, seeded_engine):
    agent, openid, chat = await elder_in_chat(service, store, seeded_engine)
    await service.take(chat.id, agent)
    while (await service.reply(chat.id, agent, "好的")).sent:
        pass  # the agent spends every message WeChat allows for her last one
    await service.close_chat(chat.id, agent)
    notes = [m.text for m in await store.transcript(chat.id) if m.msg_type == "note"]
    assert any("将在用户下次发消息时补发" in note for note in notes)  # never silently dropped

    await record_inbound(seeded_engine, text_message(openid, "查话费"))
    first, consumed = await service.before_bot(openid, "查话费")
    assert not consumed  # her question still goes to the bot, after the owed message
    assert first == [wording.later_notice(wording.with_survey(wording.CLOSED_ELDER))]
    assert await service.before_bot(openid, "2") == ([wording.SURVEY_THANKS[2]], True)  # now she has seen it
    assert await service.before_bot(openid, "还有呢") == ([], False)  # owed once, delivered once


async def test_a_question_she_did_not_answer_lapses(service, store, seeded_engine):
    agent, openid, chat = await elder_in_chat(service, store, seeded_engine)
    await service.take(chat.id, agent)
    await service.hand_back(chat.id, agent)
    assert await service.before_bot(openid, "查话费") == ([], False)  # to the bot
    assert (await routed(service, seeded_engine, openid)).survey_open is False
    assert await service.before_bot(openid, "1") == ([], False)  # and 「1」 is a menu choice again
    assert (await store.latest_survey(openid)).score is None


async def test_supervisor_figures_per_queue_for_7_and_30_days(service, store, seeded_engine, clock):
    agent, openid, chat = await elder_in_chat(service, store, seeded_engine)
    await service.take(chat.id, agent)
    await service.close_chat(chat.id, agent)
    await service.before_bot(openid, "1")
    follow_up = await service.callbacks.open_task(chat, "follow_up", "system", note="次日回访")
    clock.advance(days=1, hours=3)  # the follow-up is due and done
    await service.callbacks.record_outcome(follow_up.id, agent, "reached", "会用了")

    rows = {(q.queue, q.days): q for q in await reports.quality(service, clock())}
    elder7 = rows[("elder", 7)]
    assert (elder7.asked, elder7.satisfied, elder7.satisfied_share) == (1, 1, 100.0)
    assert (elder7.follow_ups_due, elder7.follow_ups_done, elder7.follow_up_share) == (1, 1, 100.0)
    assert rows[("elder", 30)].asked == 1
    assert rows[("general", 7)].asked == 0 and rows[("general", 7)].satisfied_share is None


# ---- 4. the elder menu and the user tag ---------------------------------------------------------


async def test_both_menus_are_published_and_the_elder_tag_follows_the_binding(seeded_engine, redis, clock):
    standin = StandinState(app_id=APP_ID, app_secret=APP_SECRET)
    runner, url, _ = await serve(create_standin_app(standin))
    try:
        async with aiohttp.ClientSession() as http:
            api = WeChatApi(http, url, AccessTokens(redis, http, url, APP_ID, APP_SECRET))
            menu = load_menu(MENU_FILE)
            published = await publish_menu(api, menu)
            published_again = await publish_menu(api, menu)  # idempotent: one elder menu, one tag

            assert standin.menus == [menu.wechat_body]
            ((menuid, conditional),) = standin.conditional_menus.items()
            assert published_again == {ELDER_TAG: menuid} and published != published_again
            (tag_id,) = [tag_id for tag_id, name in standin.tags.items() if name == ELDER_TAG]
            assert conditional["matchrule"] == {"tag_id": str(tag_id)}
            assert [b["name"] for b in conditional["button"]] == ["查话费", "充话费", "找人工"]
            assert all(b["type"] == "click" for b in conditional["button"])
            assert menu.intents["HUMAN"] == "/request_human"

            service = build_service(seeded_engine, redis, clock)
            tagger = ElderTagger(seeded_engine, api, service.profiles, elder_age=65)
            elder, young = new_openid("elder"), new_openid("young")
            await bind(seeded_engine, elder, ELDER_70)
            await bind(seeded_engine, young, "13800000001")
            # Other tests' bindings in this run's database are looked at too, 50 per pass: as many
            # passes as they need (a fixed count failed once the suite bound more numbers).
            for _ in range(200):
                if await tagger.reconcile(clock()) == (0, 0):
                    break
            assert {elder, young} & standin.tagged(ELDER_TAG) == {elder}
            calls = len(standin.calls)
            assert await tagger.reconcile(clock()) == (0, 0) and len(standin.calls) == calls  # nothing new

            await BindingService(seeded_engine, load_sms_sender(seeded_engine)).unbind(elder, ELDER_70, "test")
            await tagger.reconcile(clock())
            assert elder not in standin.tagged(ELDER_TAG)  # the tag follows the profile
    finally:
        await runner.cleanup()
