"""The 5-second window and exactly-once: slow Rasa, WeChat's retries, Rasa down, order across workers."""

from __future__ import annotations

import asyncio
import time

from gateway_fixtures import (
    clean_gateway_tables,
    eventually,
    fake_rasa,
    gateway,
    gateway_settings,
    http,
    openid,
    standin,
    start_gateway,
)
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from gateway.processor import APOLOGY
from gateway.rasa_client import RasaClient, answer_in_tracker
from gateway.store import inbox


async def test_slow_rasa_gets_success_in_time_and_the_reply_later_exactly_once(
    gateway, fake_rasa, standin, openid: str
) -> None:
    state, _ = standin
    fake_rasa.delay_s = 6.0
    result = await gateway.aes.text(openid, "查余额")
    assert result.status == 200
    assert result.body == "success"
    assert result.elapsed_s < 4.5
    texts = await eventually(lambda: state.texts_to(openid))
    assert texts == ["收到：查余额"]
    await asyncio.sleep(1.5)  # nothing else turns up
    assert state.texts_to(openid) == ["收到：查余额"]
    assert fake_rasa.turns_for(openid) == ["查余额"]
    assert gateway.runtime.metrics.replies.value("api") == 1
    assert gateway.runtime.metrics.replies.value("passive") == 0


async def test_wechat_retries_of_one_msgid_run_one_turn_and_give_one_answer(
    gateway, fake_rasa, standin, openid: str
) -> None:
    """WeChat pushes again when it had no answer after 5 s; one retry lands while the first still runs."""
    state, _ = standin
    fake_rasa.delay_s = 6.0
    fields = gateway.aes.text_fields(openid, "我的套餐")

    async def delivery(after_s: float):
        await asyncio.sleep(after_s)
        return await gateway.aes.push(fields)

    results = await asyncio.gather(delivery(0), delivery(1.0), delivery(5.0))
    assert [r.status for r in results] == [200, 200, 200]
    assert all(r.body == "success" for r in results), [r.body for r in results]
    assert all(r.elapsed_s < 4.5 for r in results)
    await eventually(lambda: state.texts_to(openid))
    await asyncio.sleep(1.5)
    assert state.texts_to(openid) == ["收到：我的套餐"]
    assert fake_rasa.turns_for(openid) == ["我的套餐"]
    assert gateway.runtime.metrics.dedup_hits.value() == 2


async def test_retry_after_a_passive_answer_gets_the_same_answer_and_no_new_turn(
    gateway, fake_rasa, standin, openid: str
) -> None:
    fields = gateway.aes.text_fields(openid, "流量")
    first = await gateway.aes.push(fields)
    again = await gateway.aes.push(fields)
    assert first.reply == again.reply == "收到：流量"
    assert fake_rasa.turns_for(openid) == ["流量"]
    await asyncio.sleep(0.5)
    assert standin[0].messages_to(openid) == []


async def test_rasa_down_gives_an_apology_and_the_answer_when_it_is_back(
    gateway, fake_rasa, standin, openid: str
) -> None:
    state, _ = standin
    await fake_rasa.stop()
    result = await gateway.aes.text(openid, "话费多少")
    assert result.reply == APOLOGY
    second = await gateway.aes.text(openid, "还有流量吗")
    assert second.reply == APOLOGY
    async with gateway.runtime.context.engine.connect() as conn:
        statuses = (await conn.execute(select(inbox.c.status).where(inbox.c.openid == openid))).scalars().all()
    assert statuses == ["pending", "pending"]  # kept, not lost

    await fake_rasa.start()  # same port
    texts = await eventually(lambda: state.texts_to(openid) if len(state.texts_to(openid)) >= 2 else None)
    assert texts == ["收到：话费多少", "收到：还有流量吗"]  # in the order they were sent
    assert fake_rasa.turns_for(openid) == ["话费多少", "还有流量吗"]
    await asyncio.sleep(0.5)
    assert len(state.texts_to(openid)) == 2  # one apology each (passive), one answer each


async def test_a_failed_first_turn_restarts_the_conversation_for_its_retry(
    gateway, fake_rasa, standin, openid: str
) -> None:
    """The session's start itself failed (a custom action): nothing to keep, a restart starts it afresh."""
    fake_rasa.actions_up = False
    fake_rasa.session_started = False
    assert (await gateway.aes.text(openid, "查余额")).reply == APOLOGY
    assert fake_rasa.tracker_events and all(events == (openid, [{"event": "restart"}])
                                            for events in fake_rasa.tracker_events)  # fmt: skip
    fake_rasa.actions_up = True
    assert await eventually(lambda: standin[0].texts_to(openid)) == ["收到：查余额"]


async def test_action_server_down_is_treated_like_rasa_down(gateway, fake_rasa, standin, openid: str) -> None:
    fake_rasa.actions_up = False
    result = await gateway.aes.text(openid, "查余额")
    assert result.reply == APOLOGY
    # The failed turn is taken back in Rasa's tracker, so the retry is its only turn (and Rasa's
    # circuit breaker does not count the failed turn's fallbacks against the next ones).
    take_back = (openid, [{"event": "rewind"}, {"event": "action", "name": "action_listen"}])
    assert fake_rasa.tracker_events and all(events == take_back for events in fake_rasa.tracker_events)
    fake_rasa.actions_up = True
    texts = await eventually(lambda: standin[0].texts_to(openid))
    assert texts == ["收到：查余额"]


async def test_one_subscribers_messages_keep_their_order_across_two_workers(
    gateway_settings, fake_rasa, http, openid: str
) -> None:
    """Two gateway instances (own engines, Redis clients, drains) share PostgreSQL and Redis."""
    first = await start_gateway(gateway_settings, http)
    second = await start_gateway(gateway_settings, http)
    try:
        # Warm both up (connection pools), so that the order pushes are sent is the order they arrive.
        await asyncio.gather(first.aes.text(openid + "w1", "热身"), second.aes.text(openid + "w2", "热身"))
        fake_rasa.delay_s = 0.3

        async def stored(count: int) -> bool:
            async with first.runtime.context.engine.connect() as conn:
                return len((await conn.execute(select(inbox.c.id).where(inbox.c.openid == openid))).all()) == count

        pushes = []
        for number in range(6):
            worker = first if number % 2 == 0 else second
            pushes.append(asyncio.create_task(worker.aes.text(openid, f"消息{number}")))
            # WeChat sends a subscriber's next message after the previous one arrived: wait until this
            # one is stored (its arrival number taken) rather than guessing with a sleep.
            await eventually(lambda count=number + 1: stored(count))
        results = await asyncio.gather(*pushes)
        assert all(result.status == 200 for result in results)
        await eventually(lambda: len(fake_rasa.turns_for(openid)) == 6)
        assert fake_rasa.turns_for(openid) == [f"消息{n}" for n in range(6)]
    finally:
        await first.stop()
        await second.stop()


async def test_same_push_to_two_workers_at_once_is_processed_once(
    gateway_settings, fake_rasa, standin, http, openid: str
) -> None:
    first = await start_gateway(gateway_settings, http)
    second = await start_gateway(gateway_settings, http)
    try:
        fake_rasa.delay_s = 0.5
        fields = first.aes.text_fields(openid, "充话费")
        results = await asyncio.gather(first.aes.push(fields), second.aes.push(fields))
        assert fake_rasa.turns_for(openid) == ["充话费"]
        replies = {result.reply for result in results}
        assert replies == {"收到：充话费"}  # both connections carry the one answer; WeChat shows one
        await asyncio.sleep(1.0)
        assert standin[0].messages_to(openid) == []
    finally:
        await first.stop()
        await second.stop()


async def test_healthz_reports_dependencies_and_503_when_rasa_is_down(gateway, fake_rasa, http) -> None:
    async with http.get(f"{gateway.internal_url}/healthz") as response:
        assert response.status == 200
        report = await response.json()
    tts = report.pop("tts")  # voice replies: the synthesis worker's own state (gateway/voice_replies.py)
    assert tts in ("starting", "ready", "not_configured")
    assert report == {
        "rasa": "ok",
        "actions": "ok",
        "database": "ok",
        "redis": "ok",
        "asr": "not_configured",
        "status": "ok",
    }
    await fake_rasa.stop()
    async with http.get(f"{gateway.internal_url}/healthz") as response:
        assert response.status == 503
        assert (await response.json())["rasa"] == "down"
    async with http.get(f"{gateway.url}/healthz") as response:  # the public one says no more than that
        assert (response.status, await response.text()) == (503, "not ok")


async def test_metrics_count_messages_latency_replies_and_dedup(gateway, fake_rasa, http, openid: str) -> None:
    fields = gateway.aes.text_fields(openid, "你好")
    results = [await gateway.aes.push(fields)]
    await gateway.aes.push(fields)  # a retry
    results.append(await gateway.aes.push(gateway.aes.event_fields(openid, "subscribe")))
    passive = sum(result.reply is not None for result in results)  # 2 unless the machine is very slow
    runtime = gateway.runtime
    await eventually(lambda: runtime.metrics.replies.value("passive") + runtime.metrics.replies.value("api") == 2)
    started = time.monotonic()
    async with http.get(f"{gateway.internal_url}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        body = await response.text()
    assert time.monotonic() - started < 2
    assert 'csbot_gateway_messages_total{type="text"} 2' in body
    assert 'csbot_gateway_messages_total{type="event"} 1' in body
    assert "csbot_gateway_dedup_hits_total 1" in body
    assert f'csbot_gateway_replies_total{{channel="passive"}} {passive}' in body
    assert "csbot_gateway_webhook_latency_seconds_count 3" in body
    assert 'csbot_gateway_webhook_requests_total{status="200"} 3' in body
    assert "csbot_gateway_outbox_backlog 0" in body
    assert "csbot_gateway_inbox_unfinished 0" in body


async def test_a_push_the_database_refuses_is_spooled_acknowledged_and_processed_once(
    gateway, fake_rasa, standin, openid: str, monkeypatch
) -> None:
    """The database refuses the write once: the push waits in the spool (gateway/spool.py), WeChat
    gets `success`, and the answer comes through the API; WeChat's retry is a duplicate. (When the
    spool cannot take it either, the answer is 503: tests/test_security_storage.py.)"""
    inbox = gateway.runtime.inbox
    failures = []

    def down_once(store):  # both ways a push is stored: `record`, and `take_new` when she is alone
        async def database_down_once(message, arrival_seq):
            if not failures:
                failures.append(message.msg_key)
                raise OperationalError("INSERT INTO gw_inbox", {}, ConnectionError("database unavailable"))
            return await store(message, arrival_seq)

        return database_down_once

    monkeypatch.setattr(inbox, "record", down_once(inbox.record))
    monkeypatch.setattr(inbox, "take_new", down_once(inbox.take_new))
    fields = gateway.aes.text_fields(openid, "在吗")
    first = await gateway.aes.push(fields)
    assert first.status == 200 and first.body == "success"
    retry = await gateway.aes.push(fields)
    assert retry.status == 200
    assert await eventually(lambda: standin[0].texts_to(openid)) == ["收到：在吗"]
    assert fake_rasa.turns_for(openid) == ["在吗"]


async def test_a_retried_message_that_rasa_already_answered_gets_that_answer_without_a_second_turn(
    fake_rasa, http, openid: str
) -> None:
    """The worker died (or the database went away) after Rasa's turn and before the answer was stored."""
    rasa = RasaClient(http, fake_rasa.url)
    first = await rasa.send(openid, "查余额", {"msg_key": "k-1"})
    again = await rasa.send(openid, "查余额", {"msg_key": "k-1"}, retry=True)
    assert again == [{"text": "收到：查余额"}] and first[0]["text"] == again[0]["text"]
    assert fake_rasa.turns_for(openid) == ["查余额"]
    # A retry of a message Rasa never saw (it was down) is a turn like any other.
    await rasa.send(openid, "流量", {"msg_key": "k-2"}, retry=True)
    assert fake_rasa.turns_for(openid) == ["查余额", "流量"]


def test_a_turn_taken_back_or_unfinished_is_not_an_answer() -> None:
    user = {"event": "user", "metadata": {"msg_key": "k"}}
    bot = {"event": "bot", "text": "您的余额是58.30元"}
    listen = {"event": "action", "name": "action_listen"}
    assert answer_in_tracker([user, bot, listen], "k") == [{"text": "您的余额是58.30元"}]
    assert answer_in_tracker([user, bot, listen, {"event": "rewind"}], "k") is None
    assert answer_in_tracker([user, bot], "k") is None
    assert answer_in_tracker([user, bot, listen], "other") is None


async def test_an_answer_ready_after_the_webhook_gave_up_goes_out_even_when_redis_forgot_that(
    gateway, fake_rasa, standin, redis, openid: str
) -> None:
    """Redis restarted (nothing kept) between the webhook's `success` and the answer: the record
    that nobody waits for a passive reply any more is gone; the answer must still be sent."""
    state, _ = standin
    fake_rasa.delay_s = 6.0
    result = await gateway.aes.text(openid, "查余额")
    assert result.body == "success"
    await redis.flushdb()
    assert await eventually(lambda: state.texts_to(openid)) == ["收到：查余额"]


async def test_a_turn_that_repeats_its_fallback_says_it_once(gateway, fake_rasa, standin, openid: str) -> None:
    """The action server came back in the middle of a turn: its fallback ran (and spoke) until Rasa's breaker."""
    fake_rasa.answer = lambda sender, message, metadata: [{"recipient_id": sender, "text": "抱歉，我没太明白。"}] * 4
    result = await gateway.aes.text(openid, "查余额")
    assert result.reply == "抱歉，我没太明白。"
    await asyncio.sleep(1.5)  # nothing else turns up
    assert standin[0].texts_to(openid) == []


async def test_an_answer_that_could_not_be_stored_is_taken_up_again_soon_without_a_second_passive_part(
    gateway, fake_rasa, standin, openid: str, monkeypatch
) -> None:
    """The first part went passively, then storing the second failed (the database went away for a
    moment): the message is retried within seconds, not when its lease ends, with no second turn,
    and the subscriber gets the second part once and the first part only once (the passive one)."""
    fake_rasa.answer = lambda sender, message, metadata: [
        {"recipient_id": sender, "text": "第一句"},
        {"recipient_id": sender, "text": "第二句"},
    ]
    outbox = gateway.runtime.processor._outbox
    real_enqueue_in = outbox.enqueue_in
    failures: list[str] = []

    async def database_away_once(conn, openid_, message, **kwargs):
        if not failures:
            failures.append(openid_)
            raise OperationalError("INSERT INTO gw_outbox", {}, ConnectionError("database unavailable"))
        return await real_enqueue_in(conn, openid_, message, **kwargs)

    monkeypatch.setattr(outbox, "enqueue_in", database_away_once)
    started = time.monotonic()
    result = await gateway.aes.push(gateway.aes.text_fields(openid, "你好"))
    assert result.reply == "第一句"
    assert await eventually(lambda: standin[0].texts_to(openid), timeout_s=12) == ["第二句"]
    assert time.monotonic() - started < 12  # the inbox lease is 15 s here
    assert failures and fake_rasa.turns_for(openid) == ["你好"]
    await asyncio.sleep(1.5)  # nothing more follows (the reply due later leaves 1 s after the first)
    assert standin[0].texts_to(openid) == ["第二句"]


async def test_a_message_whose_deferral_met_the_database_away_is_retried_soon_after_it_is_back(
    gateway, fake_rasa, standin, openid: str, monkeypatch
) -> None:
    """Rasa could not answer, and the database went away before the message could be deferred or
    given back: it is given back once the database answers, and answered within seconds of that,
    not when its lease (15 s here) runs out; its turn runs once."""
    box = gateway.runtime.processor._inbox
    real_release = box.release
    away: list[str] = []

    async def defer_while_away(row, retry_at, error):
        away.append("defer")
        raise OperationalError("UPDATE gw_inbox", {}, ConnectionError("database unavailable"))

    async def release_away_once(row_id, lease_until=None):
        if "release" not in away:
            away.append("release")
            raise OperationalError("UPDATE gw_inbox", {}, ConnectionError("database unavailable"))
        return await real_release(row_id, lease_until)

    monkeypatch.setattr(box, "defer", defer_while_away)
    monkeypatch.setattr(box, "release", release_away_once)
    fake_rasa.actions_up = False  # the turn fails inside Rasa
    started = time.monotonic()
    await gateway.aes.text(openid, "查余额")
    fake_rasa.actions_up = True
    assert await eventually(lambda: standin[0].texts_to(openid), timeout_s=12) == ["收到：查余额"]
    assert time.monotonic() - started < 12
    assert away == ["defer", "release"] and fake_rasa.turns_for(openid) == ["查余额"]
