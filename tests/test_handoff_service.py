"""The handoff service against real PostgreSQL and Redis, with the gateway's real outbox and
customer-service window: routing, assignment, who answers, call-backs, quota accounting,
restart safety."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from handoff_support import (
    ELDER_70,
    MORNING,
    SHANGHAI,
    Clock,
    add_agent,
    bind,
    build_service,
    clean_handoff_tables,
    new_openid,
    next_published,
    record_inbound,
    text_message,
    wait_for_event_subscribers,
)
from sqlalchemy import select

from billing import load_backend
from billing.backend import LineStatus
from core.audit import audit_log
from core.vocabulary import Answerer
from gateway.store import outbox
from handoff import live as handoff_live
from handoff.errors import ConsoleError
from handoff.rasa_history import turns_from_events
from handoff.service import HandoffService
from handoff.store import HandoffStore
from wechat.messages import InboundMessage


@pytest.fixture
async def store(seeded_engine) -> HandoffStore:
    await clean_handoff_tables(seeded_engine)
    return HandoffStore(seeded_engine)


@pytest.fixture
def clock() -> Clock:
    return Clock(MORNING)


@pytest.fixture
def service(seeded_engine, redis, store, clock) -> HandoffService:
    return build_service(seeded_engine, redis, clock)


async def outbox_texts(engine, openid: str, origin: str | None = None) -> list[str]:
    query = select(outbox.c.payload, outbox.c.origin).where(outbox.c.openid == openid).order_by(outbox.c.id)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [row.payload["text"]["content"] for row in rows if origin is None or row.origin == origin]


async def online(service: HandoffService, *agents) -> None:
    for agent in agents:
        await service.live.heartbeat(agent.id, f"test-{agent.id}")


# ---- acceptance 2: the 70-year-old who says 我不会用 -------------------------------------------


async def test_elder_who_cannot_cope_is_served_by_elder_desk_before_earlier_general_chats(
    service, store, seeded_engine, clock
):
    elder_agent = await add_agent(store, "王芳", ("elder", "sichuanese"), capacity=1)
    general_agent = await add_agent(store, "张强", (), capacity=2)
    await online(service, elder_agent, general_agent)  # consoles open, nobody ready yet

    general = [new_openid("young") for _ in range(2)]
    for openid in general:
        # nobody ready: the subscriber is told about how long it will take (two agents online)
        assert "分钟后来" in (await service.request_handoff(openid, "request_human", "general", "要人工"))[0]
        clock.advance(minutes=1)
    elder = new_openid("elder")
    await bind(seeded_engine, elder, ELDER_70)
    texts = await service.request_handoff(elder, "cannot_cope", "general", "用户说：我不会用")

    chat = await store.open_chat_for(elder)
    assert chat is not None and chat.queue == "elder" and chat.is_elder and chat.age == 70
    assert texts == ["已经请人工客服来帮您，客服大约3分钟后来，请稍等。"]  # first in the elder queue; plain
    assert await service.is_with_human(elder) and (await store.who_answers(elder)) is Answerer.QUEUE
    follow_ups = [t for t in await store.tasks.open_tasks() if t.kind == "follow_up"]
    assert [(t.openid, t.due_at.astimezone(SHANGHAI)) for t in follow_ups] == [
        (elder, dt.datetime(2027, 1, 6, 10, 0, tzinfo=SHANGHAI))  # 次日回访
    ]

    # the elder-care agent becomes ready: she gets the elder chat although two general chats waited longer
    await service.assignment.set_ready(elder_agent, True)
    assigned = await store.chats_of_agent(elder_agent.id)
    assert [c.openid for c in assigned] == [elder]
    assert {q.chat.openid for q in await store.waiting()} == set(general)

    # the general agent takes the general chats, never the elder one (it is gone anyway)
    await service.assignment.set_ready(general_agent, True)
    assert sorted(c.openid for c in await store.chats_of_agent(general_agent.id)) == sorted(general)
    assert await store.waiting() == []


async def test_no_agent_online_means_a_callback_promise_and_a_task(service, store, seeded_engine):
    await add_agent(store, "王芳", ("elder",))  # exists, but no console is open
    elder = new_openid("elder")
    await bind(seeded_engine, elder, ELDER_70)

    texts = await service.request_handoff(elder, "cannot_cope", "elder", None)

    assert texts == ["现在客服不在。我们会在今天12点前给您打电话。"]  # 10:00 + 2 h, plain words
    assert not await service.is_with_human(elder)  # the bot keeps answering meanwhile
    tasks = {t.kind: t for t in await store.tasks.open_tasks() if t.openid == elder}
    assert set(tasks) == {"callback", "follow_up"}
    assert tasks["callback"].phone == ELDER_70 and tasks["callback"].is_elder
    assert tasks["callback"].due_at.astimezone(SHANGHAI) == dt.datetime(2027, 1, 5, 12, 0, tzinfo=SHANGHAI)

    # asking again before the call keeps the one promise (same time, no second task)
    assert await service.request_handoff(elder, "cannot_cope", "elder", None) == texts
    assert len([t for t in await store.tasks.open_tasks() if t.openid == elder]) == 2


async def test_a_lost_phone_is_answered_here_and_its_number_is_never_called(service, store, seeded_engine):
    # whoever has the phone now would answer a call-back to it
    for phone, said_here in (("13800000001", "不会拨打丢失的号码"), (ELDER_70, "不会打您丢的那个号码")):
        openid = new_openid("lost")
        await bind(seeded_engine, openid, phone)
        texts = await service.request_handoff(openid, "lost_phone", "general", "手机丢失/被盗：「我手机丢了」")
        assert len(texts) == 1 and "在这里回复您" in texts[0] and said_here in texts[0]
        assert "给您打电话" not in texts[0] and "回电" not in texts[0]
        (task,) = [t for t in await store.tasks.open_tasks() if t.openid == openid]  # no next-day call either
        assert (
            task.kind == "callback" and task.note is not None and task.note.startswith("手机已丢失/被盗，勿拨打原号码")
        )
        assert "我手机丢了" in task.note


async def test_voice_note_behind_a_call_back_promise_is_kept_for_the_caller(service, store, clock):
    openid = new_openid()
    voice = InboundMessage(
        openid=openid, msg_key=f"{openid}:v", msg_type="voice", create_time=1, media_id="m", audio_format="amr"
    )
    await service.request_handoff(openid, "voice_unrecognised", "general", None)  # nobody online
    assert await service.on_subscriber_message(voice, None, 7) == []  # what the gateway does next
    (chat,) = await store.chats_of_openid(openid)
    assert [(m.sender, m.audio_id) for m in await store.transcript(chat.id) if m.sender == "subscriber"] == [
        ("subscriber", 7)
    ]
    clock.advance(minutes=5)  # much later, with no chat open, the bot has the subscriber again
    assert await service.on_subscriber_message(voice, None, 8) == ["已为您转回智能助手，请再说一次您的问题。"]


async def test_outside_service_hours_promises_a_call_back_tomorrow(service, store, seeded_engine, clock):
    agent = await add_agent(store, "夜班", ("elder",))
    await online(service, agent)
    clock.now = dt.datetime(2027, 1, 5, 21, 30, tzinfo=SHANGHAI).astimezone(dt.timezone.utc)
    openid = new_openid()
    await bind(seeded_engine, openid, "13800000001")  # 张伟, 34
    texts = await service.request_handoff(openid, "request_human", "general", None)
    assert texts[0].startswith("现在不是人工服务时间。我们会在明天10点前给您回电")
    assert not await service.is_with_human(openid)


async def test_unbound_subscriber_is_promised_an_answer_here(service, store):
    openid = new_openid()
    texts = await service.request_handoff(openid, "fallback", "general", None)
    assert texts == ["您还没有绑定手机号，客服会在今天12点前在这里回复您。"]
    (task,) = await store.tasks.open_tasks()
    assert task.phone is None and task.kind == "callback"


# ---- while with a human -----------------------------------------------------------------


async def test_messages_reach_the_transcript_and_the_subscriber_hears_where_they_stand(service, store, redis):
    agent = await add_agent(store, "张强")
    await online(service, agent)
    first, second = new_openid(), new_openid()
    await service.request_handoff(first, "request_human", "general", None)
    assert await service.request_handoff(second, "request_human", "general", None) == [
        "正在为您转接人工客服，您前面还有1位，客服大约6分钟后来。"
    ]

    pubsub = redis.pubsub()
    await pubsub.subscribe(handoff_live.EVENTS_CHANNEL)
    await wait_for_event_subscribers(redis, 1)
    voice = InboundMessage(
        openid=second, msg_key=f"{second}:v1", msg_type="voice", create_time=1, media_id="m1", audio_format="amr"
    )
    image = InboundMessage(
        openid=second, msg_key=f"{second}:i1", msg_type="image", create_time=2, pic_url="https://example.invalid/p.jpg"
    )
    replies = await service.on_subscriber_message(text_message(second, "还要等多久"), "还要等多久", None)
    assert replies == ["您的消息已转给人工客服。您前面还有1位，请稍等。"]
    await service.on_subscriber_message(voice, "查一下 话费", 42)
    await service.on_subscriber_message(image, None, None)

    event = await next_published(pubsub)
    assert '"kind": "message"' in event["data"]
    await pubsub.aclose() if hasattr(pubsub, "aclose") else await pubsub.close()

    chat = await store.open_chat_for(second)
    transcript = [
        (m.sender, m.msg_type, m.text, m.audio_id, m.media_url)
        for m in await store.transcript(chat.id)
        if m.sender == "subscriber"
    ]
    told = [m.text for m in await store.transcript(chat.id) if m.sender == "system" and m.msg_type == "text"]
    assert (
        told
        == [
            "正在为您转接人工客服，您前面还有1位，客服大约6分钟后来。",
            "您的消息已转给人工客服。您前面还有1位，请稍等。",
        ]
        + ["您的消息已转给人工客服。您前面还有1位，请稍等。"] * 2
    )  # what the subscriber was told is part of the record
    assert transcript == [
        ("subscriber", "text", "还要等多久", None, None),
        ("subscriber", "voice", "查一下 话费", 42, None),
        ("subscriber", "image", None, None, "https://example.invalid/p.jpg"),
    ]

    # once an agent has the chat, the subscriber's messages get no automatic answer
    await service.take(chat.id, agent)
    assert await service.on_subscriber_message(text_message(second, "你好"), "你好", None) == []


async def test_hand_back_gives_her_to_the_bot_and_says_so(service, store, seeded_engine):
    agent = await add_agent(store, "张强")
    await online(service, agent)
    openid = new_openid()
    await service.request_handoff(openid, "request_human", "general", None)
    chat = await store.open_chat_for(openid)
    await service.take(chat.id, agent)
    assert (await store.who_answers(openid)) is Answerer.AGENT
    await record_inbound(seeded_engine, text_message(openid, "谢谢"))

    await service.hand_back(chat.id, agent)

    assert not await service.is_with_human(openid) and (await store.who_answers(openid)) is Answerer.BOT
    # the closing message carries the one satisfaction question (one message, not two)
    assert await outbox_texts(seeded_engine, openid, "system") == [
        "已为您转回智能助手。\n请给本次服务打个分，回复数字：\n1 满意\n2 一般\n3 不满意"
    ]
    closed = await store.chat(chat.id)
    assert (closed.status, closed.close_reason, closed.answerer) == ("closed", "handed_back", Answerer.BOT)
    with pytest.raises(ConsoleError):
        await service.hand_back(chat.id, agent)


async def test_taking_replying_to_and_closing_a_chat_are_in_the_audit_log(service, store, seeded_engine):
    agent = await add_agent(store, "周敏")
    await online(service, agent)
    openid = new_openid()
    await record_inbound(seeded_engine, text_message(openid, "找人工"))
    await service.request_handoff(openid, "request_human", "general", None)
    chat = await store.open_chat_for(openid)
    await service.take(chat.id, agent)
    await service.reply(chat.id, agent, "您好，我来帮您看看")
    await service.close_chat(chat.id, agent)
    mine = [(e.action, e.detail) for e in await store.audit_entries(limit=200) if e.chat_id == chat.id]
    assert ("chat_take", None) in mine and ("chat_close", None) in mine
    assert any(action == "chat_reply" and detail and "已发出" in detail for action, detail in mine)
    assert all("帮您看看" not in (detail or "") for _, detail in mine)  # the words stay in the transcript


# ---- acceptance 3: WeChat's limits --------------------------------------------------------


async def test_sixth_reply_to_one_subscriber_message_is_refused_with_a_reason(service, store, seeded_engine):
    agent = await add_agent(store, "张强")
    await online(service, agent)
    openid = new_openid()
    await service.request_handoff(openid, "request_human", "general", None)
    chat = await store.open_chat_for(openid)
    await service.take(chat.id, agent)
    message = text_message(openid, "我的话费怎么扣这么多")
    await record_inbound(seeded_engine, message)
    await service.on_subscriber_message(message, message.content, None)

    for n in range(1, 6):
        assert (await service.reply(chat.id, agent, f"第{n}条回复")).sent
        assert (await service.window_view(openid)).messages_left == 5 - n
    refused = await service.reply(chat.id, agent, "第6条回复")

    assert not refused.sent and "5条" in refused.reason and not refused.offer_callback
    # the agent's first message carries 「人工客服张强为您服务」 (no message of its own)
    assert await outbox_texts(seeded_engine, openid, "agent") == ["人工客服张强为您服务。\n第1条回复"] + [
        f"第{n}条回复" for n in range(2, 6)
    ]
    last = (await store.transcript(chat.id))[-1]
    assert (last.text, last.delivery, last.delivery_note) == ("第6条回复", "refused", refused.reason)

    # the subscriber writes again: five more are allowed
    again = text_message(openid, "好的")
    await record_inbound(seeded_engine, again)
    assert (await service.reply(chat.id, agent, "第6条回复")).sent


async def test_closed_window_refuses_and_offers_a_callback(service, store, seeded_engine):
    agent = await add_agent(store, "张强")
    await online(service, agent)
    openid = new_openid()  # never wrote through the gateway: no window at all
    await service.request_handoff(openid, "request_human", "general", None)
    chat = await store.open_chat_for(openid)
    await service.take(chat.id, agent)
    view = await service.window_view(openid)
    assert not view.open and view.messages_left == 0
    refused = await service.reply(chat.id, agent, "您好")
    assert not refused.sent and refused.offer_callback and "48小时" in refused.reason
    task = await service.callbacks.create(chat.id, agent, "窗口关闭，电话联系")
    assert task.kind == "callback" and task.created_by == "张强"
    assert (await service.callbacks.create(chat.id, agent, None)).id == task.id  # one per chat


# ---- waiting too long, transfers, races ----------------------------------------------------


async def test_waiting_past_the_limit_turns_into_a_callback_promise(service, store, seeded_engine, clock):
    agent = await add_agent(store, "张强")
    await online(service, agent)  # online but not ready: the chat waits
    openid = new_openid()
    await bind(seeded_engine, openid, "13800000001")
    message = text_message(openid, "人工")
    await record_inbound(seeded_engine, message)
    await service.request_handoff(openid, "request_human", "general", None)

    clock.advance(minutes=9)
    await service.sweep()
    assert await service.is_with_human(openid)
    clock.advance(minutes=2)  # 11 minutes > MAX_WAIT_MINUTES (10)
    await service.sweep()
    await service.sweep()  # a second sweep (or worker) promises nothing twice

    assert not await service.is_with_human(openid)
    promised = await outbox_texts(seeded_engine, openid, "system")
    assert len(promised) == 1 and promised[0].startswith("让您久等了，客服都在忙。我们会在今天13点前给您回电")
    assert [t.kind for t in await store.tasks.open_tasks() if t.openid == openid] == ["callback"]


async def test_transfer_to_another_agent_or_queue(service, store):
    first = await add_agent(store, "张强")
    second = await add_agent(store, "王芳", ("elder",))
    offline = await add_agent(store, "下班了")
    full = await add_agent(store, "忙碌", capacity=1)
    await online(service, first, second, full)
    busy_chat = new_openid()
    await service.request_handoff(busy_chat, "request_human", "general", None)
    await service.take((await store.open_chat_for(busy_chat)).id, full)
    openid = new_openid()
    await service.request_handoff(openid, "request_human", "general", None)
    chat = await store.open_chat_for(openid)
    await service.take(chat.id, first)
    with pytest.raises(ConsoleError, match="不在线"):
        await service.transfer_to_agent(chat.id, first, offline.id)
    with pytest.raises(ConsoleError, match="已满"):
        await service.transfer_to_agent(chat.id, first, full.id)
    with pytest.raises(ConsoleError, match="其他客服"):
        await service.reply(chat.id, second, "抢答")
    await service.transfer_to_agent(chat.id, first, second.id)
    assert (await store.chat(chat.id)).agent_id == second.id
    await service.transfer_to_queue(chat.id, second, "elder")
    moved = await store.chat(chat.id)
    assert (moved.status, moved.queue, moved.agent_id) == ("waiting", "elder", None)
    assert [q.chat.id for q in await store.waiting()] == [chat.id]


async def test_two_agents_taking_the_same_chat_only_one_wins(service, store):
    agents = [await add_agent(store, f"客服{n}") for n in range(2)]
    await online(service, *agents)
    openid = new_openid()
    await service.request_handoff(openid, "request_human", "general", None)
    chat = await store.open_chat_for(openid)
    results = await asyncio.gather(*(service.take(chat.id, a) for a in agents), return_exceptions=True)
    assert sum(isinstance(r, ConsoleError) for r in results) == 1
    assert (await store.chat(chat.id)).agent_id in {a.id for a in agents}


async def test_concurrent_dispatches_never_exceed_capacity(seeded_engine, redis, store, clock):
    # three gateway workers; a long MAX_WAIT so that all five wait (one agent, none ready: 15 minutes)
    workers = [build_service(seeded_engine, redis, clock, MAX_WAIT_MINUTES="60") for _ in range(3)]
    agent = await add_agent(store, "张强", capacity=2)
    await workers[0].live.heartbeat(agent.id, "c1")
    for _ in range(5):
        await workers[0].request_handoff(new_openid(), "request_human", "general", None)
    await store.agents.set_ready(agent.id, True)
    await asyncio.gather(*(w.assignment.dispatch() for w in workers for _ in range(3)))
    assert len(await store.chats_of_agent(agent.id)) == 2
    assert len(await store.waiting()) == 3


async def test_offline_agent_never_gets_a_chat(service, store):
    agent = await add_agent(store, "张强")
    await store.agents.set_ready(agent.id, True)  # ready flag left over, but the console is closed
    other = await add_agent(store, "李四")
    await online(service, other)  # someone is online, so the chat waits
    openid = new_openid()
    await service.request_handoff(openid, "request_human", "general", None)
    await service.assignment.dispatch()
    assert await store.chats_of_agent(agent.id) == []
    assert [q.chat.openid for q in await store.waiting()] == [openid]


async def test_chats_of_an_agent_whose_console_is_gone_go_back_to_the_queue(service, store, clock):
    agent = await add_agent(store, "张强")
    colleague = await add_agent(store, "李四")
    await online(service, agent, colleague)
    first, second = new_openid(), new_openid()
    for openid in (first, second):
        await service.request_handoff(openid, "request_human", "general", None)
        clock.advance(minutes=1)
    chat = await store.open_chat_for(first)
    await service.take(chat.id, agent)
    await service.live.leave(agent.id, f"test-{agent.id}")  # the console closed

    await service.sweep()
    assert (await store.chat(chat.id)).agent_id == agent.id  # a grace period for reconnects
    service.assignment.offline_grace_s = 0.0
    await service.sweep()

    back = await store.chat(chat.id)
    assert (back.status, back.agent_id) == ("waiting", None)
    # it keeps its place: ahead of the chat that was requested after it
    assert [q.chat.openid for q in await store.waiting()] == [first, second]


async def test_dialect_speaker_gets_the_sichuanese_elder(service, store, seeded_engine):
    plain = await add_agent(store, "王芳", ("elder",))
    speaker = await add_agent(store, "李川", ("elder", "sichuanese"))
    await online(service, plain, speaker)
    for agent in (plain, speaker):
        await service.assignment.set_ready(agent, True)
    openid = new_openid()
    await bind(seeded_engine, openid, "13800000003")  # 李桂兰, 78, 四川话, line suspended (挂失)
    await service.request_handoff(openid, "request_human", "general", None)
    chat = await store.open_chat_for(openid)
    assert (chat.queue, chat.dialect, chat.agent_id) == ("elder", "sichuanese", speaker.id)


# ---- green channel --------------------------------------------------------------------------


async def test_green_channel_lifts_a_voluntary_suspension_and_is_audited(service, store, seeded_engine):
    from billing.demo import seed_demo_data

    await seed_demo_data(seeded_engine, reset=True)  # other tests may have touched the line
    agent = await add_agent(store, "王芳", ("elder",))
    await online(service, agent)
    openid = new_openid()
    await bind(seeded_engine, openid, "13800000022")
    await service.request_handoff(openid, "request_human", "elder", None)
    chat = await store.open_chat_for(openid)
    await service.take(chat.id, agent)
    assert (await service.profile_of(chat)).green_channel_allowed(65)

    outcome = await service.green_channel(chat.id, agent)

    assert outcome == "已复机"
    assert (await load_backend(seeded_engine).get_subscriber("13800000022")).status == LineStatus.ACTIVE
    async with seeded_engine.connect() as conn:
        rows = (await conn.execute(select(audit_log).where(audit_log.c.chat_id == chat.id))).mappings().all()
    assert [(r["actor"], r["action"], r["phone"]) for r in rows if r["action"].startswith("green")] == [
        ("王芳", "green_channel_reactivate", "13800000022")
    ]
    with pytest.raises(ConsoleError, match="绿色通道"):
        await service.green_channel(chat.id, agent)  # active now: nothing to clear
    await seed_demo_data(seeded_engine, reset=True)


async def test_green_channel_is_refused_for_younger_or_unclearable_lines(service, store, seeded_engine):
    agent = await add_agent(store, "王芳", ("elder",))
    await online(service, agent)
    openid = new_openid()
    await bind(seeded_engine, openid, "13800000007")  # 赵磊, 27, 实名未核验
    await service.request_handoff(openid, "request_human", "general", None)
    chat = await store.open_chat_for(openid)
    await service.take(chat.id, agent)
    with pytest.raises(ConsoleError, match="65岁以上"):
        await service.green_channel(chat.id, agent)


# ---- acceptance 4 (service level): a restart loses nothing ---------------------------------


async def test_a_new_process_sees_queue_chat_and_transcript_and_the_agent_continues(seeded_database_url, redis, clock):
    from core.db import create_engine

    first_engine = create_engine(seeded_database_url)
    await clean_handoff_tables(first_engine)
    first = build_service(first_engine, redis, clock)
    agent = await add_agent(first.store, "张强")
    await first.live.heartbeat(agent.id, "console")
    talking, waiting = new_openid(), new_openid()
    for openid in (talking, waiting):
        await first.request_handoff(openid, "request_human", "general", None)
    chat = await first.store.open_chat_for(talking)
    await first.take(chat.id, agent)
    message = text_message(talking, "我的流量不够用")
    await record_inbound(first_engine, message)
    await first.on_subscriber_message(message, message.content, None)
    await first.reply(chat.id, agent, "我帮您看看")
    before = [(m.sender, m.text) for m in await first.store.transcript(chat.id)]
    await first_engine.dispose()  # the process is gone

    second_engine = create_engine(seeded_database_url)
    try:
        second = build_service(second_engine, redis, clock)
        assert await second.is_with_human(talking) and await second.is_with_human(waiting)
        assert [q.chat.openid for q in await second.store.waiting()] == [waiting]
        resumed = await second.store.chat(chat.id)
        assert (resumed.status, resumed.agent_id) == ("assigned", agent.id)
        assert [(m.sender, m.text) for m in await second.store.transcript(chat.id)] == before
        assert ("subscriber", "我的流量不够用") in before and ("agent", "人工客服张强为您服务。\n我帮您看看") in before
        assert (await second.reply(chat.id, agent, "给您推荐一个流量包")).sent
    finally:
        await second_engine.dispose()


def test_bot_turns_are_read_from_rasa_tracker_events():
    events = [
        {"event": "action", "name": "action_listen", "timestamp": 1.0},
        {"event": "user", "text": "查 话费", "timestamp": 2.0, "metadata": {"source": "voice"}},
        {"event": "bot", "text": "您的余额是50元", "timestamp": 3.0},
        {"event": "bot", "text": None, "data": {"custom": {}}, "timestamp": 3.5},
        {"event": "user", "text": "我不会用", "timestamp": 4.0},
        {"event": "user", "text": "/request_human", "timestamp": 5.0},
    ]
    turns = turns_from_events(events)
    assert [(t.sender, t.text, t.source) for t in turns] == [
        ("subscriber", "查 话费", "voice"),
        ("bot", "您的余额是50元", None),
        ("subscriber", "我不会用", None),
        ("subscriber", "（点击菜单：request_human）", None),
    ]
    assert turns[0].at == dt.datetime.fromtimestamp(2.0, tz=dt.timezone.utc)
    assert len(turns_from_events(events * 20, limit=5)) == 5


async def test_the_composition_root_builds_the_service_from_the_gateway_resources(seeded_engine, redis):
    from types import SimpleNamespace

    import aiohttp

    from bot.compose import build_handoff_service
    from gateway.outbox import Outbox
    from gateway.rasa_client import RasaClient
    from wechat.window import CsWindow

    async with aiohttp.ClientSession() as http:
        window = CsWindow(seeded_engine)
        context = SimpleNamespace(
            settings=object(), engine=seeded_engine, redis=redis, http=http,
            rasa=RasaClient(http, "http://127.0.0.1:9"), outbox=Outbox(seeded_engine, window), cs_window=window,
            wechat=None, notices=object(),
        )  # fmt: skip
        service = build_handoff_service(context)
        try:
            assert service.outbox is context.outbox and service.window is window
            assert service.tickets.notices is context.notices  # resolutions after the 48 hours go as notices
            assert service.history.session is http and service.history.base_url == "http://127.0.0.1:9"
            assert service.voice_store is not None and service.profiles.billing is not None
            await service.start()
            await service.start()  # idempotent: one sweeper
            assert service._sweeper is not None and not service._sweeper.done()
        finally:
            await service.close()
        assert service._sweeper is None


def test_migration_matches_the_table_definitions(database_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine as create_sync_engine

    from core.db import sync_url
    from core.tickets import metadata as tickets_metadata
    from handoff.models import metadata

    engine = create_sync_engine(sync_url(database_url), future=True)
    try:
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), [metadata, tickets_metadata])
    finally:
        engine.dispose()
    # the foreign keys from core's tables (tickets, the conversation record) to the handoff tables
    # exist in the database only: core's metadata does not see the handoff area's tables
    across = {"fk_ho_surveys_ticket", "ho_tasks_chat_id_fkey", "fk_tickets_agent", "conversations_agent_id_fkey"}
    ours = [
        d
        for d in differences
        if any(name in repr(d) for name in ("ho_", "ticket", "conversations"))
        and not (d[0] == "remove_fk" and d[1].name in across)
    ]
    assert ours == []


async def test_the_one_machine_setup_sqlite_and_in_process_redis(tmp_path):
    """The default set-up (SQLite file, fakeredis): a whole handoff, one open chat per subscriber."""
    import fakeredis

    from billing.demo import seed_demo_data
    from core.db import create_engine, upgrade_database

    url = f"sqlite:///{tmp_path / 'csbot.sqlite3'}"
    await asyncio.to_thread(upgrade_database, url)
    engine = create_engine(url)
    redis = fakeredis.aioredis.FakeRedis(decode_responses=True)
    try:
        await seed_demo_data(engine)
        clock = Clock(MORNING)
        service = build_service(engine, redis, clock)
        agent = await add_agent(service.store, "王芳", ("elder",))
        await online(service, agent)
        openid = new_openid("elder")
        await bind(engine, openid, ELDER_70)

        texts, again = await asyncio.gather(
            service.request_handoff(openid, "cannot_cope", "general", None),
            service.request_handoff(openid, "cannot_cope", "general", None),
        )
        assert "已经请人工客服来帮您，客服大约3分钟后来，请稍等。" in texts + again
        chat = await service.store.open_chat_for(openid)
        assert chat.queue == "elder" and len(await service.store.chats_of_openid(openid)) == 1

        await service.take(chat.id, agent)
        message = text_message(openid, "帮我看看")
        await record_inbound(engine, message)
        assert await service.on_subscriber_message(message, message.content, None) == []
        assert (await service.reply(chat.id, agent, "好的")).sent
        await service.hand_back(chat.id, agent)
        assert not await service.is_with_human(openid)
        senders = [m.sender for m in await service.store.transcript(chat.id)]
        assert senders.count("subscriber") == 1 and senders.count("agent") == 1
    finally:
        await engine.dispose()
        await redis.aclose() if hasattr(redis, "aclose") else await redis.close()
