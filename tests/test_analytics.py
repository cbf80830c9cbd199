"""The analytics area: Rasa's events become facts once each (RabbitMQ redelivers), the figures
follow from them, and Rasa reads the broker configuration that `csbot run` gives it.

Real PostgreSQL and a real RabbitMQ (127.0.0.1:5672, guest/guest, or TEST_AMQP_URL) with an
exchange and a queue of each test's own. The whole stream (Rasa → RabbitMQ → consumer → the
supervisor view) is tests/test_analytics_browser.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import aio_pika
import pytest
import yaml
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.config import BrokerSettings
from analytics.consumer import consume, handle_body
from analytics.facts import BadEvent, FactKind, fact_from_message
from analytics.figures import operator_figures
from analytics.store import AnalyticsStore, analytics_facts
from bot.assistant_files import ENDPOINTS, EVENT_BROKER, endpoints_path, rasa_env

PROJECT_ROOT = Path(__file__).resolve().parent.parent
AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
WAIT_S = float(os.environ.get("TEST_WAIT_S", "60"))


def event(sender: str, ts: float, kind: str, **fields) -> bytes:
    return json.dumps({"sender_id": sender, "timestamp": ts, "event": kind, **fields}).encode()


def handoff(sender: str, ts: float, reason: str) -> bytes:
    data = {"custom": {"handoff": {"reason": reason, "queue": "general", "summary": "…"}}}
    return event(sender, ts, "bot", text=None, data=data)


async def clean(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(delete(analytics_facts))


async def count_facts(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(analytics_facts))).scalar_one())


def test_only_the_events_that_make_figures_become_facts() -> None:
    assert fact_from_message(event("o1", 1.0, "session_started")).kind is FactKind.SESSION
    user = fact_from_message(event("o1", 2.0, "user", text="我的号码是13800000001"))
    assert user.kind is FactKind.USER and user.detail == "我的号码是138****0001"  # masked as in transcripts
    assert fact_from_message(event("o1", 3.0, "action", name="action_clarify")).kind is FactKind.UNRECOGNISED
    assert fact_from_message(event("o1", 3.0, "action", name="action_check_balance")) is None
    assert fact_from_message(event("o1", 4.0, "slot", name="is_elder", value=True)).kind is FactKind.ELDER
    assert fact_from_message(event("o1", 4.0, "slot", name="is_elder", value=False)) is None
    assert fact_from_message(handoff("o1", 5.0, "complaint")).detail == "complaint"
    assert fact_from_message(event("o1", 6.0, "bot", text="您好", data={})) is None
    with pytest.raises(BadEvent):
        fact_from_message(b"not json")
    with pytest.raises(BadEvent):
        fact_from_message(json.dumps({"event": "user"}).encode())


async def test_figures_from_a_scripted_stream_and_a_redelivery_counts_once(engine: AsyncEngine) -> None:
    await clean(engine)
    store = AnalyticsStore(engine)
    now = time.time()
    stream = [
        # a contained session, then a later session of the same subscriber that is handed off
        event("a", now - 100, "session_started"),
        event("a", now - 99, "user", text="查话费"),
        event("a", now - 50, "session_started"),
        event("a", now - 49, "user", text="阿巴阿巴"),
        event("a", now - 48, "action", name="action_default_fallback"),
        event("a", now - 47, "user", text="叽里咕噜"),
        event("a", now - 46, "action", name="action_default_fallback"),
        handoff("a", now - 45, "fallback"),
        # an elderly subscriber who asks for a person
        event("b", now - 40, "session_started"),
        event("b", now - 40, "slot", name="is_elder", value=True),
        event("b", now - 39, "user", text="阿巴阿巴"),
        event("b", now - 38, "action", name="action_clarify"),
        handoff("b", now - 37, "request_human"),
        # a contained session
        event("c", now - 30, "session_started"),
        event("c", now - 29, "user", text="流量还剩多少"),
    ]
    for body in stream:
        await handle_body(store, body)
    for body in stream[3:9]:  # RabbitMQ delivers part of it again (a consumer died before its acks)
        await handle_body(store, body)
    assert await count_facts(engine) == len(stream)  # every event once

    figures = await operator_figures(engine)
    assert (figures.sessions, figures.handed_off, figures.elder_sessions) == (4, 2, 1)
    assert figures.containment_share == 50.0 and figures.elder_share == 25.0
    assert {(c.label, c.count) for c in figures.handoff_reasons} == {("fallback", 1), ("request_human", 1)}
    assert [(c.label, c.count) for c in figures.unrecognised] == [("阿巴阿巴", 2), ("叽里咕噜", 1)]
    # a session older than the window is not counted
    assert (await operator_figures(engine, days=1, now=now + 86400 - 60)).sessions == 3


def test_rasa_reads_the_broker_configuration_csbot_gives_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """endpoints.yml plus event-broker.yml as Rasa 3.6 reads them, with the variables `csbot run` derives."""
    monkeypatch.setenv("CSBOT_VAR_DIR", str(tmp_path))
    assert endpoints_path({}) == ENDPOINTS  # a first run without RabbitMQ: no broker at all
    monkeypatch.setenv("EVENT_BROKER_URL", "amqp://csbot:s3cret@127.0.0.1:5673/")
    monkeypatch.setenv("EVENT_BROKER_QUEUE", "q-test")
    env = rasa_env(5055)
    combined = endpoints_path(env)
    assert combined.parent == tmp_path
    plain, with_broker = (yaml.safe_load(p.read_text()) for p in (ENDPOINTS, combined))
    assert with_broker == {**plain, "event_broker": yaml.safe_load(EVENT_BROKER.read_text())["event_broker"]}
    rasa_python = os.environ.get("RASA_PYTHON") or str(PROJECT_ROOT / ".venv-rasa" / "bin" / "python")
    code = (
        "import sys; from rasa.utils.endpoints import read_endpoint_config;"
        "c = read_endpoint_config(sys.argv[1], 'event_broker');"
        "print(c.type, c.url, c.kwargs['username'], c.kwargs['password'], c.kwargs['port'],"
        " c.kwargs['exchange_name'], c.kwargs['queues'][0])"
    )
    out = subprocess.run([rasa_python, "-c", code, str(combined)], cwd=PROJECT_ROOT, env=env, capture_output=True,
                         text=True, timeout=300, check=True)  # fmt: skip
    assert out.stdout.split()[-7:] == [
        "pika", "amqp://csbot:s3cret@127.0.0.1:5673/", "csbot", "s3cret", "5673", "csbot-events", "q-test"
    ]  # fmt: skip


async def test_the_consumer_reads_rabbitmq_and_records_a_duplicate_once(engine: AsyncEngine) -> None:
    await clean(engine)
    name = f"csbot-test-{uuid.uuid4().hex[:10]}"
    settings = BrokerSettings(url=AMQP_URL, exchange=name, queue=name)
    stop = asyncio.Event()
    task = asyncio.create_task(consume(settings, engine, stop))
    connection = await aio_pika.connect_robust(AMQP_URL)
    try:
        channel = await connection.channel()
        # declared as Rasa declares it; the consumer may not have declared it yet
        exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.FANOUT)
        queue = await channel.declare_queue(name, durable=True)
        await queue.bind(exchange, "")
        now = time.time()
        bodies = [event("d", now, "session_started"), event("d", now + 1, "user", text="你好"), b"garbage"]
        for body in [*bodies, bodies[1]]:  # the same message twice
            await exchange.publish(aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT), "")
        deadline = time.monotonic() + WAIT_S
        while await count_facts(engine) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.5)  # nothing more arrives: the duplicate and the garbage are not recorded
        assert await count_facts(engine) == 2
        stop.set()
        await asyncio.wait_for(task, WAIT_S)
        assert (await queue.declare()).message_count == 0  # all acknowledged (or rejected)
    finally:
        stop.set()
        if not task.done():
            task.cancel()
        channel = await connection.channel()
        await channel.exchange_delete(name)
        await channel.queue_delete(name)
        await connection.close()


def test_csbot_run_starts_the_consumer_only_with_a_broker(tmp_path: Path) -> None:
    from bot.assistant_cli import process_specs

    base = {"RASA_AUTH_TOKEN": "t", "ACTION_SERVER_TOKEN": "a", "CSBOT_VAR_DIR": str(tmp_path)}
    without = process_specs(5005, 5055, tmp_path / "m.tar.gz", with_gateway=False, env=base)
    assert [spec.name for spec in without] == ["actions", "rasa"]
    assert str(ENDPOINTS) in without[1].argv
    with_broker = process_specs(
        5005, 5055, tmp_path / "m.tar.gz", with_gateway=False, env={**base, "EVENT_BROKER_URL": AMQP_URL}
    )
    assert [spec.name for spec in with_broker] == ["actions", "rasa", "analytics"]
    assert with_broker[2].argv[-3:] == ["bot", "analytics", "consume"]
    assert str(ENDPOINTS) not in with_broker[1].argv
