"""Notices outside the 48-hour window (issue 12, acceptance 4): routing by window and consent,
the outbox's retries and dedup, consent events, /metrics, the balance sweep. Real PostgreSQL and
Redis; WeChat is the stand-in API."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis
from gateway_fixtures import (
    APP_ID,
    APP_SECRET,
    TEST_REDIS_URL,
    clean_gateway_tables,
    eventually,
    fake_rasa,
    gateway,
    gateway_settings,
    http,
    openid,
    standin,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.binding import BindingService, LogSmsSender
from billing.sql import SqlBillingBackend
from core.metrics import Metrics
from core.vocabulary import NoticeChannel, NoticeKind, NoticeStatus
from gateway.balance_notices import BalanceSweep
from gateway.notices import NoticeError, NoticeService
from gateway.outbox import Outbox, OutboxSender
from wechat.api import AccessTokens, WeChatApi
from wechat.consent import NoticeConsents
from wechat.messages import InboundMessage
from wechat.notice_templates import NoticeConfigError, NoticeTemplate, load_notice_templates
from wechat.protocol import parse_xml
from wechat.simulator import PushClient, build_xml
from wechat.standin import StandinState, add_notice_templates
from wechat.window import CsWindow

TEMPLATES = load_notice_templates(env={})
PROGRESS = {"ticket_no": "TS20261204000123", "progress": "已派单给装维师傅，明天上午上门"}
PROGRESS_TEMPLATE = TEMPLATES[NoticeKind.TICKET_PROGRESS].template_id
BIZSEND = "/cgi-bin/message/subscribe/bizsend"
TEMPLATE_SEND = "/cgi-bin/message/template/send"


def new_openid() -> str:
    return "o" + uuid.uuid4().hex[:27]


def new_key() -> str:
    return f"test:{uuid.uuid4().hex}"


def text_from(openid: str) -> InboundMessage:
    return InboundMessage(openid=openid, msg_key=f"{openid}:{uuid.uuid4().int}", msg_type="text", create_time=1,
                          content="你好")  # fmt: skip


def consent_push(openid: str, decisions: dict[str, bool], event: str = "subscribe_msg_popup_event") -> InboundMessage:
    """A consent event as the gateway parses it from WeChat's XML (built by the simulator)."""
    client = PushClient(None, "http://unused", "t", APP_ID)
    fields = parse_xml(build_xml(client.consent_fields(openid, decisions, event=event)).encode())
    return InboundMessage.from_fields(fields)


@dataclass
class Parts:
    engine: AsyncEngine
    window: CsWindow
    consents: NoticeConsents
    notices: NoticeService
    sender: OutboxSender
    state: StandinState

    async def open_window(self, openid: str) -> None:
        async with self.engine.begin() as conn:
            await self.window.record_interaction(conn, text_from(openid))

    async def consent(self, openid: str, template_id: str, accepted: bool = True) -> None:
        """The subscriber answers the popup: WeChat knows it, and the gateway records the pushed event."""
        if accepted:
            self.state.grant_consent(openid, template_id)
        else:
            self.state.revoke_consent(openid, template_id)
        async with self.engine.begin() as conn:
            await self.notices.record_consent(conn, consent_push(openid, {template_id: accepted}))

    async def status(self, notice_id: int) -> NoticeStatus:
        return {r.id: r.status for r in await self.notices.list(limit=1000)}[notice_id]


def build_notices(engine: AsyncEngine, templates: dict[NoticeKind, NoticeTemplate] = TEMPLATES) -> NoticeService:
    window = CsWindow(engine)
    return NoticeService(engine, Outbox(engine, window), NoticeConsents(engine), templates)


@pytest.fixture
async def parts(engine: AsyncEngine, standin, redis, clean_gateway_tables) -> AsyncIterator[Parts]:
    state: StandinState = standin[0]
    add_notice_templates(state, TEMPLATES.values())
    client = aioredis.from_url(TEST_REDIS_URL, decode_responses=True)
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    tokens = AccessTokens(client, http, standin[1], APP_ID, APP_SECRET)
    window = CsWindow(engine)
    outbox = Outbox(engine, window)
    consents = NoticeConsents(engine)
    notices = NoticeService(engine, outbox, consents, TEMPLATES)
    sender = OutboxSender(engine, WeChatApi(http, standin[1], tokens), Metrics(), lease_s=2.0, poll_s=0.05,
                          notices=notices)  # fmt: skip
    outbox.on_enqueue(sender.wake)
    task = asyncio.create_task(sender.run())
    yield Parts(engine, window, consents, notices, sender, state)
    sender.stop()
    await task
    await http.close()
    await client.aclose()


# ---- routing: window, consent ------------------------------------------------------------------


async def test_window_closed_goes_out_as_a_subscription_notice_with_the_template_and_fields(parts: Parts) -> None:
    openid = new_openid()
    await parts.consent(openid, PROGRESS_TEMPLATE)

    result = await parts.notices.send(openid, NoticeKind.TICKET_PROGRESS, PROGRESS, new_key())

    assert result.status is NoticeStatus.QUEUED and result.channel is NoticeChannel.SUBSCRIBE
    [notice] = await eventually(lambda: parts.state.notices_to(openid))
    assert notice["kind"] == "subscribe" and notice["template_id"] == PROGRESS_TEMPLATE
    assert notice["data"] == {
        "character_string1": {"value": "TS20261204000123"},
        "thing2": {"value": "已派单给装维师傅，明天上午上门"},
    }
    assert parts.state.messages_to(openid) == []  # no customer-service message: the window is closed
    assert await eventually(lambda: _is(parts, result.notice_id, NoticeStatus.SENT))


async def test_a_one_time_consent_allows_one_notice_then_the_next_is_not_sent_and_is_reported(
    parts: Parts, caplog: pytest.LogCaptureFixture
) -> None:
    openid = new_openid()
    await parts.consent(openid, PROGRESS_TEMPLATE)
    first = await parts.notices.send(openid, NoticeKind.TICKET_PROGRESS, PROGRESS, new_key())
    await eventually(lambda: _is(parts, first.notice_id, NoticeStatus.SENT))

    with caplog.at_level(logging.WARNING, logger="gateway.notices"):
        second = await parts.notices.send(openid, NoticeKind.TICKET_PROGRESS, PROGRESS, new_key())

    assert second.status is NoticeStatus.REFUSED_NO_CONSENT and second.channel is None
    assert "未同意" in (second.reason or "")
    assert any("not sent: refused_no_consent" in r.getMessage() for r in caplog.records)
    failed = await parts.notices.list(statuses=[NoticeStatus.REFUSED_NO_CONSENT, NoticeStatus.FAILED])
    assert [r.id for r in failed if r.openid == openid] == [second.notice_id]
    assert failed[0].status_label == "未发送：用户未订阅该通知"
    await asyncio.sleep(0.3)  # nothing more reaches WeChat
    assert len(parts.state.notices_to(openid)) == 1
    assert [c for c in parts.state.calls if c["path"] == BIZSEND and c["body"]["touser"] == openid].__len__() == 1


async def test_without_consent_nothing_is_sent_and_the_count_shows(parts: Parts) -> None:
    openid = new_openid()
    result = await parts.notices.send(openid, NoticeKind.SUSPENSION_WARNING,
                                      {"phone": "138****0001", "time": "2026-12-05 00:00", "reason": "已欠费23.50元"},
                                      new_key())  # fmt: skip

    assert result.status is NoticeStatus.REFUSED_NO_CONSENT
    await asyncio.sleep(0.3)
    assert parts.state.notices_to(openid) == [] and not any(c["path"] == BIZSEND for c in parts.state.calls)
    assert (await parts.notices.counts())[("suspension_warning", "refused_no_consent")] == 1


async def test_window_open_uses_a_customer_service_text_and_spends_no_consent(parts: Parts) -> None:
    openid = new_openid()
    await parts.open_window(openid)
    await parts.consent(openid, PROGRESS_TEMPLATE)

    result = await parts.notices.send(openid, NoticeKind.TICKET_PROGRESS, PROGRESS, new_key())

    assert result.channel is NoticeChannel.CUSTOM
    [text] = await eventually(lambda: parts.state.texts_to(openid))
    assert text == "【工单进度】您的工单TS20261204000123：已派单给装维师傅，明天上午上门。"
    assert parts.state.notices_to(openid) == []
    assert await eventually(lambda: _is(parts, result.notice_id, NoticeStatus.SENT))
    assert [s.remaining for s in await parts.consents.states(openid)] == [1]  # kept for when the window closes


async def test_window_open_but_allowance_used_up_falls_back_to_the_subscription_notice(parts: Parts) -> None:
    openid = new_openid()
    await parts.open_window(openid)
    async with parts.engine.begin() as conn:
        for _ in range(5):
            await parts.window.take(conn, openid)  # five answers already used the allowance
    await parts.consent(openid, PROGRESS_TEMPLATE)

    result = await parts.notices.send(openid, NoticeKind.TICKET_PROGRESS, PROGRESS, new_key())

    assert result.channel is NoticeChannel.SUBSCRIBE
    await eventually(lambda: parts.state.notices_to(openid))


async def test_when_wechat_says_the_window_closed_the_notice_goes_as_a_subscription_notice(parts: Parts) -> None:
    openid = new_openid()
    await parts.open_window(openid)
    await parts.consent(openid, PROGRESS_TEMPLATE)
    parts.state.inject("/cgi-bin/message/custom/send", errcode=45015)  # WeChat's window ended before ours

    result = await parts.notices.send(openid, NoticeKind.TICKET_PROGRESS, PROGRESS, new_key())

    assert result.channel is NoticeChannel.CUSTOM
    [notice] = await eventually(lambda: parts.state.notices_to(openid))
    assert notice["template_id"] == PROGRESS_TEMPLATE and parts.state.messages_to(openid) == []
    assert await eventually(lambda: _is(parts, result.notice_id, NoticeStatus.SENT))
    [record] = await parts.notices.list(openid=openid)
    assert record.channel is NoticeChannel.SUBSCRIBE


# ---- the outbox: retries, dedup ----------------------------------------------------------------


async def test_a_5xx_is_retried_and_the_notice_is_delivered_once(parts: Parts) -> None:
    openid = new_openid()
    await parts.consent(openid, PROGRESS_TEMPLATE)
    parts.state.inject(BIZSEND, status=502)

    result = await parts.notices.send(openid, NoticeKind.TICKET_PROGRESS, PROGRESS, new_key())

    await eventually(lambda: _is(parts, result.notice_id, NoticeStatus.SENT))
    assert len(parts.state.notices_to(openid)) == 1
    assert len([c for c in parts.state.calls if c["path"] == BIZSEND and c["body"]["touser"] == openid]) == 2


async def test_the_same_key_sends_once(parts: Parts) -> None:
    openid = new_openid()
    await parts.consent(openid, PROGRESS_TEMPLATE)
    parts.state.grant_consent(openid, PROGRESS_TEMPLATE)  # WeChat would even allow a second one
    key = new_key()

    first, again = await asyncio.gather(
        parts.notices.send(openid, NoticeKind.TICKET_PROGRESS, PROGRESS, key),
        parts.notices.send(openid, NoticeKind.TICKET_PROGRESS, PROGRESS, key),
    )
    later = await parts.notices.send(openid, NoticeKind.TICKET_PROGRESS, PROGRESS, key)

    assert first.notice_id == again.notice_id == later.notice_id
    assert sorted([first.duplicate, again.duplicate]) == [False, True] and later.duplicate
    await eventually(lambda: _is(parts, first.notice_id, NoticeStatus.SENT))
    await asyncio.sleep(0.3)
    assert len(parts.state.notices_to(openid)) == 1


async def test_wechat_refusing_for_lack_of_consent_is_recorded_and_the_consent_forgotten(parts: Parts) -> None:
    """She turned the notice off in her settings and we missed the event: WeChat answers 43101."""
    openid = new_openid()
    await parts.consent(openid, PROGRESS_TEMPLATE)
    parts.state.revoke_consent(openid, PROGRESS_TEMPLATE)

    result = await parts.notices.send(openid, NoticeKind.TICKET_PROGRESS, PROGRESS, new_key())

    assert result.status is NoticeStatus.QUEUED
    assert await eventually(lambda: _is(parts, result.notice_id, NoticeStatus.REFUSED_NO_CONSENT))
    assert await parts.consents.states(openid) == []


async def test_a_notice_wechat_refuses_for_another_reason_gives_the_one_time_consent_back(parts: Parts) -> None:
    openid = new_openid()
    await parts.consent(openid, PROGRESS_TEMPLATE)
    parts.state.inject(BIZSEND, errcode=47003)  # e.g. a value WeChat does not take

    result = await parts.notices.send(openid, NoticeKind.TICKET_PROGRESS, PROGRESS, new_key())

    assert await eventually(lambda: _is(parts, result.notice_id, NoticeStatus.FAILED))
    assert [s.remaining for s in await parts.consents.states(openid)] == [1]


async def test_template_messages_need_no_consent_and_a_lost_answer_does_not_send_twice(
    engine: AsyncEngine, parts: Parts
) -> None:
    template = NoticeTemplate(NoticeKind.TICKET_RESOLVED, NoticeChannel.TEMPLATE, "tmpl-resolved", TEMPLATES[
        NoticeKind.TICKET_RESOLVED].consent, {"character_string1": "ticket_no", "thing2": "result"})  # fmt: skip
    parts.state.add_message_template("tmpl-resolved", ["character_string1", "thing2"])
    service = build_notices(engine, {**TEMPLATES, NoticeKind.TICKET_RESOLVED: template})
    openid = new_openid()
    # WeChat takes the first call but its answer is lost (502): the retry carries the same client_msg_id.
    parts.state.inject(TEMPLATE_SEND, status=502, after=True)

    result = await service.send(openid, NoticeKind.TICKET_RESOLVED,
                                {"ticket_no": "TS1", "result": "已为您退回误扣的12元流量包费用，3个工作日内到账"},
                                new_key())  # fmt: skip
    parts.sender.wake()

    assert result.channel is NoticeChannel.TEMPLATE
    assert await eventually(lambda: _is(parts, result.notice_id, NoticeStatus.SENT))
    [message] = parts.state.notices_to(openid)
    assert message["kind"] == "template" and message["template_id"] == "tmpl-resolved"
    cut = message["data"]["thing2"]["value"]
    assert cut == "已为您退回误扣的12元流量包费用，3个…" and len(cut) == 20  # cut to what WeChat takes
    assert len([c for c in parts.state.calls if c["path"] == TEMPLATE_SEND]) == 2


# ---- consent events ----------------------------------------------------------------------------


def test_consent_events_are_parsed_from_the_push() -> None:
    popup = consent_push("o" + "a" * 27, {"T1": True, "T2": False})
    assert [(c.template_id, c.accepted, c.scene) for c in popup.consents] == [("T1", True, "1"), ("T2", False, "1")]
    single = consent_push("o" + "a" * 27, {"T3": False}, event="subscribe_msg_change_event")
    assert [(c.template_id, c.accepted) for c in single.consents] == [("T3", False)]
    assert InboundMessage.from_dict(popup.to_dict()) == popup  # survives the inbox's JSON
    sent = InboundMessage.from_fields(parse_xml(build_xml({
        "ToUserName": "gh_x", "FromUserName": "o" + "b" * 27, "CreateTime": 1, "MsgType": "event",
        "Event": "subscribe_msg_sent_event",
        "SubscribeMsgSentEvent": {"List": [{"TemplateId": "T1", "MsgID": "1700827132819554304", "ErrorCode": 43101,
                                            "ErrorStatus": "failed:user refuse to accept the msg"}]},
    }).encode()))  # fmt: skip
    assert [(d.template_id, d.msg_id, d.error_code) for d in sent.deliveries] == [("T1", "1700827132819554304", 43101)]


async def test_a_late_failure_report_marks_the_sent_notice(parts: Parts) -> None:
    openid = new_openid()
    await parts.consent(openid, PROGRESS_TEMPLATE)
    result = await parts.notices.send(openid, NoticeKind.TICKET_PROGRESS, PROGRESS, new_key())
    await eventually(lambda: _is(parts, result.notice_id, NoticeStatus.SENT))
    [notice] = parts.state.notices_to(openid)
    report = InboundMessage.from_fields(parse_xml(build_xml({
        "ToUserName": "gh_x", "FromUserName": openid, "CreateTime": 1, "MsgType": "event",
        "Event": "subscribe_msg_sent_event",
        "SubscribeMsgSentEvent": {"List": {"TemplateId": PROGRESS_TEMPLATE, "MsgID": str(notice["msgid"]),
                                           "ErrorCode": 43101, "ErrorStatus": "failed:user refuse to accept the msg"}},
    }).encode()))  # fmt: skip

    async with parts.engine.begin() as conn:
        await parts.notices.record_consent(conn, report)

    assert await parts.status(result.notice_id) is NoticeStatus.REFUSED_NO_CONSENT


async def test_a_rejection_in_the_settings_withdraws_the_consent(parts: Parts) -> None:
    openid = new_openid()
    await parts.consent(openid, PROGRESS_TEMPLATE)
    await parts.consent(openid, PROGRESS_TEMPLATE)
    assert [s.remaining for s in await parts.consents.states(openid)] == [2]
    async with parts.engine.begin() as conn:
        await parts.notices.record_consent(
            conn, consent_push(openid, {PROGRESS_TEMPLATE: False}, event="subscribe_msg_change_event")
        )

    result = await parts.notices.send(openid, NoticeKind.TICKET_PROGRESS, PROGRESS, new_key())
    assert result.status is NoticeStatus.REFUSED_NO_CONSENT


async def test_through_the_gateway_a_pushed_consent_lets_the_notice_out_and_metrics_count_it(
    gateway, standin, openid: str, http: aiohttp.ClientSession
) -> None:
    state: StandinState = standin[0]
    add_notice_templates(state, TEMPLATES.values())
    notices = gateway.runtime.context.notices
    refused = await notices.send(openid, NoticeKind.TICKET_PROGRESS, PROGRESS, new_key())
    assert refused.status is NoticeStatus.REFUSED_NO_CONSENT

    state.grant_consent(openid, PROGRESS_TEMPLATE)
    pushed = await gateway.aes.push(gateway.aes.consent_fields(openid, {PROGRESS_TEMPLATE: True}))
    assert pushed.status == 200
    sent = await notices.send(openid, NoticeKind.TICKET_PROGRESS, PROGRESS, new_key())

    assert sent.channel is NoticeChannel.SUBSCRIBE
    [notice] = await eventually(lambda: state.notices_to(openid))
    assert notice["template_id"] == PROGRESS_TEMPLATE
    assert state.messages_to(openid) == []  # a consent event opens no customer-service window

    async def metrics() -> str:
        async with http.get(f"{gateway.internal_url}/metrics") as response:
            body = await response.text()
        return body if 'kind="ticket_progress",status="sent"} 1' in body else ""

    body = await eventually(metrics)
    assert 'csbot_gateway_notices_total{kind="ticket_progress",status="refused_no_consent"} 1' in body


# ---- the balance sweep -------------------------------------------------------------------------


async def test_the_low_balance_sweep_tells_a_bound_subscriber_once_per_period(seeded_engine: AsyncEngine,
                                                                             parts: Parts) -> None:  # fmt: skip
    billing = SqlBillingBackend(seeded_engine)
    phone = "13800000020"  # 宋佳, 0.80 yuan in the demo data
    assert (await billing.get_balance(phone)).balance_fen <= 1000
    bindings = BindingService(seeded_engine, LogSmsSender(seeded_engine), billing=billing)
    openid = new_openid()
    await bindings.bind_directly(openid, phone, actor="test")
    low_balance = TEMPLATES[NoticeKind.LOW_BALANCE].template_id
    await parts.consent(openid, low_balance)
    sweep = BalanceSweep(billing, bindings, parts.notices, threshold_fen=1000)
    try:
        first = await sweep.run(period="2026-12")
        again = await sweep.run(period="2026-12")
    finally:
        await bindings.unbind(openid, phone, actor="test")

    [(kind, _, result)] = [r for r in first.results if r[1] == openid]
    assert kind is NoticeKind.LOW_BALANCE and result.channel is NoticeChannel.SUBSCRIBE and not result.duplicate
    assert [r[2].duplicate for r in again.results if r[1] == openid] == [True]
    [notice] = await eventually(lambda: parts.state.notices_to(openid))
    assert notice["template_id"] == low_balance
    assert notice["data"]["character_string1"]["value"] == "138****0020"
    assert notice["data"]["amount2"]["value"] == "0.80元"
    await asyncio.sleep(0.3)
    assert len(parts.state.notices_to(openid)) == 1


# ---- configuration -----------------------------------------------------------------------------


def test_template_ids_come_from_the_environment_and_bad_files_are_refused(tmp_path: Path) -> None:
    templates = load_notice_templates(env={"NOTICE_TEMPLATE_LOW_BALANCE": "real-id-123",
                                           "NOTICE_MECHANISM_TICKET_RESOLVED": "template"})  # fmt: skip
    assert templates[NoticeKind.LOW_BALANCE].template_id == "real-id-123"
    assert templates[NoticeKind.TICKET_RESOLVED].channel is NoticeChannel.TEMPLATE
    bad = tmp_path / "notices.yml"
    bad.write_text("low_balance:\n  mechanism: subscribe\n  template_id: x\n  data: {thing1: nickname}\n")
    with pytest.raises(NoticeConfigError, match="nickname"):
        load_notice_templates(bad, env={})


async def test_a_notice_missing_a_field_of_its_kind_is_refused(parts: Parts) -> None:
    with pytest.raises(NoticeError, match="progress"):
        await parts.notices.send(new_openid(), NoticeKind.TICKET_PROGRESS, {"ticket_no": "TS1"}, new_key())


async def _is(parts: Parts, notice_id: int, status: NoticeStatus) -> bool:
    return await parts.status(notice_id) is status


def test_csbot_notices_send_and_list_failed(database_url: str, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from bot.cli import main

    monkeypatch.setenv("DATABASE_URL", database_url)
    openid = new_openid()
    fields = ["--field", "ticket_no=TS9", "--field", "subject=宽带上门维修", "--field", "time=12月5日 9:00-12:00"]
    assert (
        main(["notices", "send", "--openid", openid, "--kind", "callback_reminder", *fields, "--key", new_key()]) == 1
    )
    assert "未发送：用户未订阅该通知" in capsys.readouterr().out

    assert main(["notices", "list", "--failed", "--openid", openid]) == 0
    [line] = capsys.readouterr().out.strip().splitlines()
    assert "回访/上门提醒" in line and "未发送：用户未订阅该通知" in line and openid not in line  # openid masked


# ---- tickets: progress and resolution after the window closed ----------------------------------


async def test_a_ticket_resolved_after_the_window_closed_reaches_her_as_a_notice(parts: Parts, redis) -> None:
    from core.tickets import NewTicket, open_ticket, promise_hours
    from core.vocabulary import TicketCategory, TicketKind
    from handoff.agent_store import Agent
    from handoff.live import LiveState
    from handoff.tickets import ticket_services

    client = aioredis.from_url(TEST_REDIS_URL, decode_responses=True)
    now = dt.datetime.now(dt.timezone.utc)
    agent = Agent(1, "李娜", "agent", ("general",), 3, True, False, "")
    with_consent, without = new_openid(), new_openid()
    await parts.consent(with_consent, TEMPLATES[NoticeKind.TICKET_RESOLVED].template_id)
    tickets, _ = ticket_services(parts.engine, Outbox(parts.engine, parts.window), LiveState(client), lambda: now,
                                 parts.notices)  # fmt: skip
    try:
        for openid in (with_consent, without):  # neither wrote within 48 hours: no customer-service message
            new = NewTicket(TicketKind.FAULT, TicketCategory.BROADBAND, openid, "13912345678", "fault", "宽带断了",
                            "subscriber")  # fmt: skip
            ticket = await open_ticket(parts.engine, new, now, dt.timezone(dt.timedelta(hours=8)), promise_hours())
            announcement = await tickets.resolve(ticket.id, agent, "光猫已更换，宽带恢复正常，感谢您的耐心等待")
            if openid == with_consent:
                assert announcement.sent
                [notice] = await eventually(lambda: parts.state.notices_to(with_consent))
                values = [field["value"] for field in notice["data"].values()]
                assert ticket.number in values and any(v.startswith("光猫已更换") for v in values)
            else:
                assert not announcement.sent and "通知也未发出" in (announcement.reason or "")
        assert parts.state.notices_to(without) == [] and parts.state.messages_to(without) == []
    finally:
        await client.aclose()
