"""Issue 12, acceptance 2, in real headless Chromium against the real gateway and its console:
an agent finds an overdue ticket, adds a private note and labels, resolves it with a canned reply
of her desk, and the subscriber receives the resolution, with the satisfaction question, through
the stand-in WeChat API; her 「1」 is stored as the ticket's satisfaction. Rasa is the loopback
fake here (the ticket is opened from the chat in tests/test_tickets_chat.py and
test_conversations.py). Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import aiohttp
import pytest
from gateway_fixtures import (
    AES_KEY,
    APP_ID,
    TOKEN,
    WAIT_S,
    clean_gateway_tables,
    fake_rasa,
    gateway_settings,
    standin,
    with_settings,
)
from handoff_support import PASSWORD, add_agent, clean_handoff_tables, new_openid
from playwright.async_api import async_playwright, expect
from sqlalchemy import select
from test_console_browser import CHROMIUM_ARGS, Gateway, wait_for

from billing.periods import BILLING_TZ
from core.db import create_engine
from core.tickets import NewTicket, open_ticket, promise_hours
from core.vocabulary import TicketCategory, TicketKind
from handoff.models import ho_surveys
from handoff.store import HandoffStore
from wechat.simulator import PushClient

pytestmark = [pytest.mark.browser]

expect.set_options(timeout=WAIT_S * 1000)
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CANNED = "您的问题已经处理好了。"


async def test_agent_resolves_an_overdue_ticket_with_a_note_a_label_and_a_canned_reply(
    gateway_settings, standin, database_url, monkeypatch
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    monkeypatch.setenv("SERVICE_HOURS", "00:00-24:00")
    monkeypatch.setenv("AGENT_SESSION_SECRET", "browser-test-secret")
    monkeypatch.setenv("AGENT_COOKIE_SECURE", "0")
    state, _ = standin
    engine = create_engine(database_url)
    await clean_handoff_tables(engine)
    await add_agent(HandoffStore(engine), "李娜")
    openid = new_openid("ticket")

    gateway = Gateway(with_settings(gateway_settings, hooks="auto"))
    await gateway.start()
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    subscriber = PushClient(http, gateway.url, TOKEN, APP_ID, AES_KEY)
    playwright = await async_playwright().start()
    browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
    try:
        # she wrote yesterday-ish; her complaint of 30 hours ago was promised within 24 hours
        assert (await subscriber.text(openid, "你好")).status == 200
        now = dt.datetime.now(dt.timezone.utc)
        new = NewTicket(
            kind=TicketKind.COMPLAINT,
            category=TicketCategory.BILLING,
            openid=openid,
            phone="13912345678",
            reason="complaint",
            note="上个月莫名其妙多扣了20元",
            created_by="subscriber",
        )
        ticket = await open_ticket(engine, new, now - dt.timedelta(hours=30), BILLING_TZ, promise_hours())
        assert ticket.overdue(now)

        page = await browser.new_page(viewport={"width": 1360, "height": 900}, locale="zh-CN")
        await page.goto(f"{gateway.console_url}/agent/login")
        await page.fill("input[name=name]", "李娜")
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button[type=submit]")
        await expect(page.locator("#live-state")).to_have_class(re.compile(r"\bon\b"))

        # 工单 → 已超时: the ticket is there, marked overdue
        await page.click("text=工单")
        row = page.locator("#overdue-tickets tr", has_text=ticket.number)
        await expect(row).to_be_visible()
        await expect(row).to_contain_text("已超时")
        await expect(row).to_contain_text("139****5678")
        await page.screenshot(path=str(ARTIFACTS / "tickets-1-overdue-list.png"), full_page=True)
        await row.get_by_role("link", name=ticket.number).click()
        await expect(page.locator("#ticket-head")).to_contain_text("多扣了20元")

        # a private note and two labels
        await page.fill("#note-text", "已查：彩铃是10月误开通的，可以退")
        await page.click("#add-note")
        await expect(page.locator("#flash")).to_contain_text("备注已保存")
        await page.fill("#labels-text", "退费，彩铃")
        await page.click("#save-labels")
        await expect(page.locator("#ticket-labels")).to_have_text("退费、彩铃")
        history = page.locator("#ticket-history")
        await expect(history).to_contain_text("已查：彩铃是10月误开通的，可以退")
        await expect(history).to_contain_text("退费、彩铃")

        # resolved with one of the desk's canned replies
        await page.locator("#resolve-form [data-canned]", has_text=CANNED).click()
        await expect(page.locator("#resolution-text")).to_have_value(CANNED)
        await page.click("#resolve")
        await expect(page.locator("#flash")).to_contain_text("工单已解决")
        await expect(page.locator("#ticket-status")).to_have_text("已解决")
        await page.screenshot(path=str(ARTIFACTS / "tickets-2-resolved.png"), full_page=True)

        # the subscriber receives it through the stand-in WeChat API, with the satisfaction question
        told = await wait_for(
            lambda: [t for t in state.texts_to(openid) if ticket.number in t], "the resolution at the stand-in"
        )
        assert told == [
            f"您的工单{ticket.number}已处理：{CANNED}\n请给本次服务打个分，回复数字：\n1 满意\n2 一般\n3 不满意"
        ]
        assert "已查" not in told[0]  # the private note stays private

        # her 「1」 is the ticket's satisfaction, not a menu choice for the bot
        answer = await subscriber.text(openid, "1")
        assert answer.reply == "谢谢您的评价！"
        async with engine.connect() as conn:
            score = (await conn.execute(select(ho_surveys.c.score).where(ho_surveys.c.ticket_id == ticket.id))).scalar()
        assert score == 1
        await page.reload()
        await expect(history).to_contain_text("满意度：满意")
        await page.screenshot(path=str(ARTIFACTS / "tickets-3-satisfaction.png"), full_page=True)
    finally:
        await browser.close()
        await playwright.stop()
        await http.close()
        await gateway.stop()
        await engine.dispose()
