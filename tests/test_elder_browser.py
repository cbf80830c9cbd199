"""Issue 11 end to end in real headless Chromium, through the real gateway (AES pushes), Rasa and
action server: a bound 72-year-old's first message 「我还有多少钱」 reaches the elder queue with no
key press while she already has her balance; an agent takes it, answers (the 「客服…来了」 notice
rides on that message), ends the chat; her 「1」 is stored as satisfaction, not sent to the bot;
the supervisor view shows satisfaction and follow-up completion per queue. Screenshots go to the
test's tmp dir.
"""

from __future__ import annotations

import datetime as dt
import re

import aiohttp
import pytest
from gateway_fixtures import AES_KEY, APP_ID, APP_SECRET, TEST_REDIS_URL, TOKEN, serve
from handoff_support import PASSWORD, add_agent, bind, clean_handoff_tables, new_openid
from playwright.async_api import async_playwright, expect
from test_console_browser import CHROMIUM_ARGS, Gateway, wait_for

from core.db import create_engine
from gateway.settings import Settings
from handoff.store import HandoffStore
from wechat.simulator import PushClient
from wechat.standin import StandinState, create_standin_app

pytestmark = [pytest.mark.browser, pytest.mark.rasa]

ELDER_PHONE = "13800000002"  # 王秀英, born 1954: 72


async def login(page, url: str, name: str) -> None:
    await page.goto(f"{url}/agent/login")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page.locator("#live-state")).to_have_class(re.compile(r"\bon\b"))


async def test_elder_goes_straight_to_the_elder_desk_and_the_loop_is_closed(rasa_stack, redis, monkeypatch, tmp_path):
    monkeypatch.setenv("SERVICE_HOURS", "00:00-24:00")  # the desk is open whatever the hour of the run
    monkeypatch.setenv("AGENT_SESSION_SECRET", "browser-test-secret")
    monkeypatch.setenv("AGENT_COOKIE_SECURE", "0")  # the console is reached over plain HTTP on loopback
    monkeypatch.setenv("HANDOFF_SWEEP_SECONDS", "1")

    engine = create_engine(rasa_stack.database_url)
    await clean_handoff_tables(engine)
    store = HandoffStore(engine)
    agent = await add_agent(store, "王芳", ("elder",), capacity=3)
    await add_agent(store, "李主管", role="supervisor")
    openid = new_openid("elder")
    await bind(engine, openid, ELDER_PHONE)

    standin = StandinState(app_id=APP_ID, app_secret=APP_SECRET)
    standin_runner, standin_url, _ = await serve(create_standin_app(standin))
    settings = Settings(
        wechat_token=TOKEN, app_id=APP_ID, app_secret=APP_SECRET, aes_key=AES_KEY, api_base=standin_url,
        database_url=rasa_stack.database_url, redis_url=TEST_REDIS_URL, rasa_url=rasa_stack.rasa_url,
        rasa_token=rasa_stack.rasa_token, actions_url=rasa_stack.action_url, host="127.0.0.1", port=0, rasa_timeout_s=20.0, inbox_lease_s=40.0,
        outbox_lease_s=5.0, outbox_poll_s=0.2, retry_poll_s=0.5, hooks="auto",
    )  # fmt: skip
    gateway = Gateway(settings)
    await gateway.start()
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    subscriber = PushClient(http, gateway.url, TOKEN, APP_ID, AES_KEY)

    def heard() -> list[str]:
        return standin.texts_to(openid)

    playwright = await async_playwright().start()
    browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
    try:
        page = await browser.new_page(viewport={"width": 1360, "height": 900}, locale="zh-CN")
        page.on("dialog", lambda dialog: dialog.accept())
        await login(page, gateway.console_url, "王芳")  # online, not taking chats automatically

        # (a) her first message: her balance at once, and the elder desk, with no key press
        first = await subscriber.text(openid, "我还有多少钱")
        assert first.status == 200
        answers = [first.reply] if first.reply else []
        await wait_for(lambda: any("分钟后来" in t for t in heard()), "the one sentence about the person")
        answers += heard()
        assert any("话费余额" in a and "元" in a for a in answers), answers
        assert not any("回复0" in a or "马上为您转人工" in a or "客服不在" in a for a in answers), answers
        row = page.locator("#queue tr.elder", has_text="138****0002")
        await expect(row).to_be_visible()
        await expect(row).to_contain_text("年长客户专席")
        await page.screenshot(path=str(tmp_path / "elder-1-waiting.png"), full_page=True)

        # the agent takes it and sees the question and the bot's answer
        await row.get_by_role("button", name="接入").click()
        await expect(page.locator("#flash")).to_contain_text("已接入")
        transcript = page.locator("#transcript")
        await expect(transcript.locator(".msg.subscriber", has_text="我还有多少钱")).to_be_visible()
        await expect(transcript.locator(".msg.bot", has_text="话费余额")).to_be_visible()
        await expect(transcript).to_contain_text("首条消息直接接入")

        before = len(heard())
        await page.fill("#reply-text", "王阿姨您好，我是王芳，要帮您充话费吗？")
        await page.click("#send")
        await wait_for(lambda: len(heard()) > before, "the agent's first message")
        assert heard()[before] == "客服王芳来了。\n王阿姨您好，我是王芳，要帮您充话费吗？"  # one message, not two
        await page.screenshot(path=str(tmp_path / "elder-2-taken.png"), full_page=True)

        # (5) the chat ends with one numbered question; her 「1」 is stored, not a menu choice
        await page.get_by_role("button", name="结束会话", exact=True).click()
        await expect(page.locator("#flash")).to_contain_text("会话已结束")
        await wait_for(lambda: any("1 满意" in t for t in heard()), "the satisfaction question")
        answer = await subscriber.text(openid, "1")
        assert answer.reply == "谢谢您的评价！", answer.reply
        survey = await store.latest_survey(openid)
        assert survey is not None and survey.score == 1 and survey.queue == "elder"

        # a next-day follow-up of the elder desk, due and done
        now = dt.datetime.now(dt.timezone.utc)
        chat = (await store.chats_of_openid(openid))[0]
        task = await store.tasks.create_task(
            {"kind": "follow_up", "openid": openid, "phone": ELDER_PHONE, "chat_id": chat.id, "reason": "elder",
             "note": "次日回访", "is_elder": True, "due_at": now - dt.timedelta(hours=1), "created_by": "system"},
            now - dt.timedelta(days=1),
        )  # fmt: skip
        assert await store.tasks.finish_task(task.id, "reached", "会用了", agent.name, now)

        # (d) the supervisor view: satisfaction and follow-up completion, elder desk separately
        supervisor = await browser.new_page(viewport={"width": 1360, "height": 1100}, locale="zh-CN")
        await login(supervisor, gateway.console_url, "李主管")
        await supervisor.goto(f"{gateway.console_url}/agent/supervisor")
        quality = supervisor.locator("#quality")
        elder_week = quality.locator('tr[data-queue="elder"][data-days="7"]')
        await expect(elder_week).to_contain_text("年长客户专席")
        await expect(elder_week.locator(".satisfied")).to_have_text("100%")
        await expect(elder_week.locator(".follow-up")).to_contain_text("100%（1/1）")
        await expect(quality.locator('tr[data-queue="elder"][data-days="30"] .satisfied')).to_have_text("100%")
        await expect(quality.locator('tr[data-queue="general"][data-days="7"] .satisfied')).to_have_text("—")
        shot = tmp_path / "supervisor-quality.png"
        await supervisor.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 0
    finally:
        await browser.close()
        await playwright.stop()
        await http.close()
        await gateway.stop()
        await standin_runner.cleanup()
        await engine.dispose()
