"""Acceptance 4 of issue 13 in real headless Chromium: scripted conversations go through the real
gateway (AES pushes) to the real Rasa, whose pika event broker publishes every event to the real
RabbitMQ (an exchange and a queue of this test's own); the analytics consumer (`csbot analytics
consume`, its own process, started as `csbot run` starts it) keeps them in PostgreSQL; a supervisor
logs in to the console and reads containment, handoff reasons, the messages not understood and the
elder share, which must equal what Rasa's own trackers say. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter

import aiohttp
import pytest
from conftest import ARTIFACTS, start_rasa_stack
from gateway_fixtures import AES_KEY, APP_ID, APP_SECRET, TEST_REDIS_URL, TOKEN, serve
from handoff_support import add_agent, bind, clean_handoff_tables, new_openid
from playwright.async_api import async_playwright, expect
from sqlalchemy import delete, func, select
from test_console_browser import CHROMIUM_ARGS, Gateway, wait_for
from test_elder_browser import login

from analytics.facts import UNRECOGNISED_ACTIONS
from analytics.store import analytics_facts
from core.db import create_engine
from gateway.settings import Settings
from handoff.routing import REASON_LABELS
from handoff.store import HandoffStore
from wechat.simulator import PushClient
from wechat.standin import StandinState, create_standin_app

pytestmark = [pytest.mark.browser, pytest.mark.rasa]

AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
NOT_UNDERSTOOD = "叽里咕噜呜啦啦"

# (label, bound phone or None, what the subscriber writes)
SCRIPT = [
    ("plain", "13800000001", "查询话费余额"),  # answered by the bot: contained
    ("elder", "13800000002", "我不会用这个"),  # 72 years old: an elder session, handed to a person
    ("human", None, "帮我转人工"),  # asks for a person
    ("lost", None, NOT_UNDERSTOOD),  # not understood
]


@pytest.fixture
def broker_stack(trained_model, seeded_database_url):
    name = f"csbot-test-{uuid.uuid4().hex[:10]}"
    env = {"EVENT_BROKER_URL": AMQP_URL, "EVENT_BROKER_EXCHANGE": name, "EVENT_BROKER_QUEUE": name}
    with start_rasa_stack(trained_model, seeded_database_url, env, log_prefix="analytics-") as stack:
        yield stack
    # the test's own exchange and queue go with it
    import asyncio

    import aio_pika

    async def drop() -> None:
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(name)
            await channel.exchange_delete(name)

    asyncio.run(drop())


async def tracker_truth(http: aiohttp.ClientSession, stack, openid: str) -> tuple[int, list[str], bool, list[str]]:
    """From Rasa's own tracker: sessions, handoff reasons, whether is_elder was set, and the user
    texts the assistant fell back on or asked to clarify (what the model made of them varies
    from one training to the next, so the expectation is read, not assumed)."""
    url = f"{stack.rasa_url}/conversations/{openid}/tracker"
    async with http.get(url, params={"token": stack.rasa_token}) as response:
        events = (await response.json())["events"]
    sessions = sum(1 for e in events if e["event"] == "session_started")
    reasons = [
        e["data"]["custom"]["handoff"]["reason"]
        for e in events
        if e["event"] == "bot" and "handoff" in ((e.get("data") or {}).get("custom") or {})
    ]
    elder = any(e["event"] == "slot" and e["name"] == "is_elder" and e["value"] is True for e in events)
    missed: list[str] = []
    text = None
    for e in events:
        if e["event"] == "user":
            text = e.get("text")
        elif e["event"] == "action" and e.get("name") in UNRECOGNISED_ACTIONS and text and text not in missed:
            missed.append(text)
    return sessions, reasons, elder, missed


async def test_operator_figures_from_the_event_stream_in_the_supervisor_view(broker_stack, redis, monkeypatch):
    ARTIFACTS.mkdir(exist_ok=True)
    monkeypatch.setenv("SERVICE_HOURS", "00:00-24:00")
    monkeypatch.setenv("AGENT_SESSION_SECRET", "browser-test-secret")
    monkeypatch.setenv("AGENT_COOKIE_SECURE", "0")
    stack = broker_stack

    engine = create_engine(stack.database_url)
    await clean_handoff_tables(engine)
    async with engine.begin() as conn:
        await conn.execute(delete(analytics_facts))
    await add_agent(HandoffStore(engine), "李主管", role="supervisor")
    openids = {}
    for label, phone, _ in SCRIPT:
        openids[label] = new_openid(label)
        if phone:
            await bind(engine, openids[label], phone)

    standin = StandinState(app_id=APP_ID, app_secret=APP_SECRET)
    standin_runner, standin_url, _ = await serve(create_standin_app(standin))
    settings = Settings(
        wechat_token=TOKEN, app_id=APP_ID, app_secret=APP_SECRET, aes_key=AES_KEY, api_base=standin_url,
        database_url=stack.database_url, redis_url=TEST_REDIS_URL, rasa_url=stack.rasa_url,
        rasa_token=stack.rasa_token, actions_url=stack.action_url, host="127.0.0.1", port=0, rasa_timeout_s=20.0,
        inbox_lease_s=40.0, outbox_lease_s=5.0, outbox_poll_s=0.2, retry_poll_s=0.5, hooks="auto",
    )  # fmt: skip
    gateway = Gateway(settings)
    await gateway.start()
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    subscriber = PushClient(http, gateway.url, TOKEN, APP_ID, AES_KEY)
    playwright = await async_playwright().start()
    browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
    try:
        # the scripted conversations, through the gateway as WeChat pushes them
        for label, _, text in SCRIPT:
            result = await subscriber.text(openids[label], text)
            assert result.status == 200, (label, result)
            # the turn has run when Rasa's tracker holds an answer to it
            await wait_for(
                lambda label=label, text=text: _answered(http, stack, openids[label], text), f"Rasa's turn for {label}"
            )

        # what Rasa's trackers say happened: the figures must show exactly this
        truth = {label: await tracker_truth(http, stack, openids[label]) for label, _, _ in SCRIPT}
        assert not truth["plain"][1] and truth["human"][1] and truth["elder"][1] and truth["elder"][2], truth
        sessions = sum(t[0] for t in truth.values())
        handed_off = sum(1 for t in truth.values() if t[1])
        elder = sum(1 for t in truth.values() if t[2])
        reasons = Counter(reason for t in truth.values() for reason in t[1])
        missed = [text for t in truth.values() for text in t[3]]
        assert sessions == len(SCRIPT)

        # the consumer has caught up once every handoff fact is in the database
        async def consumed() -> bool:
            async with engine.connect() as conn:
                query = select(func.count()).where(analytics_facts.c.kind.in_(["session", "handoff", "unrecognised"]))
                return (await conn.execute(query.select_from(analytics_facts))).scalar_one() >= sessions + sum(
                    reasons.values()
                ) + len(missed)

        await wait_for(consumed, "the analytics consumer's facts")

        page = await browser.new_page(viewport={"width": 1360, "height": 1400}, locale="zh-CN")
        await login(page, gateway.console_url, "李主管")
        await page.goto(f"{gateway.console_url}/agent/supervisor")
        figures = page.locator("#analytics")
        await expect(figures.locator("#sessions")).to_contain_text(f"{sessions}会话")
        contained = sessions - handed_off
        await expect(figures.locator("#containment")).to_contain_text(
            f"{round(100 * contained / sessions)}%机器人独立解决（{contained}/{sessions}"
        )
        await expect(figures.locator("#elder-share")).to_contain_text(
            f"{round(100 * elder / sessions)}%65岁以上客户会话（{elder}/{sessions}）"
        )
        for reason, count in reasons.items():
            row = figures.locator(f"#handoff-reasons tr[data-reason='{reason}']")
            await expect(row).to_contain_text(REASON_LABELS[reason])
            await expect(row.locator(".count")).to_have_text(str(count))
        for text in missed:  # 「叽里咕噜呜啦啦」 as a rule; whatever the model fell back on
            await expect(figures.locator("#unrecognised")).to_contain_text(text)
        if NOT_UNDERSTOOD not in missed:
            await expect(figures.locator("#unrecognised")).not_to_contain_text(NOT_UNDERSTOOD)
        await page.screenshot(path=str(ARTIFACTS / "analytics-supervisor.png"), full_page=True)
    finally:
        await browser.close()
        await playwright.stop()
        await http.close()
        await gateway.stop()
        await standin_runner.cleanup()
        await engine.dispose()


async def _answered(http: aiohttp.ClientSession, stack, openid: str, text: str) -> bool:
    url = f"{stack.rasa_url}/conversations/{openid}/tracker"
    async with http.get(url, params={"token": stack.rasa_token}) as response:
        if response.status != 200:
            return False
        events = (await response.json())["events"]
    users = [i for i, e in enumerate(events) if e["event"] == "user" and text in (e.get("text") or "")]
    return bool(users) and any(e["event"] == "action" and e["name"] == "action_listen" for e in events[users[-1] :])
