"""`csbot notices list|send|low-balance`: what became of notices, sending one by hand, the balance sweep.

The commands queue notices in the database; a running gateway sends them (its outbox sender
polls the outbox), so they work from cron on any machine that reaches the database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from sqlalchemy.ext.asyncio import AsyncEngine

from billing import load_backend
from billing.binding import BindingService, load_sms_sender
from billing.money import yuan_to_fen
from core.db import create_engine
from core.env import SettingsError, env_number
from core.redact import mask_openid
from core.vocabulary import NoticeKind, NoticeStatus
from core.wording import NOTICE_STATUS_LABELS
from gateway.balance_notices import DEFAULT_THRESHOLD_FEN, BalanceSweep
from gateway.notices import NoticeError, NoticeService
from gateway.outbox import Outbox
from gateway.settings import Settings
from wechat.consent import NoticeConsents
from wechat.notice_templates import NOTICE_FIELDS, NoticeConfigError, load_notice_templates
from wechat.window import CsWindow

KIND_LABELS = {
    NoticeKind.CALLBACK_REMINDER: "回访/上门提醒",
    NoticeKind.TICKET_PROGRESS: "工单进度",
    NoticeKind.TICKET_RESOLVED: "工单办结",
    NoticeKind.LOW_BALANCE: "余额不足",
    NoticeKind.SUSPENSION_WARNING: "停机提醒",
}
CHANNEL_LABELS = {"custom": "客服消息", "subscribe": "订阅通知", "template": "模板消息"}


def register(subparsers: argparse._SubParsersAction) -> None:
    notices = subparsers.add_parser("notices", help="notices outside a conversation (reminders, tickets, balance)")
    commands = notices.add_subparsers(dest="notices_command", required=True, metavar="ACTION")

    listing = commands.add_parser("list", help="recent notices with their status (newest first)")
    listing.add_argument("--failed", action="store_true", help="only notices not delivered (no consent, failed)")
    listing.add_argument("--openid", default=None)
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(func=cmd_list)

    send = commands.add_parser("send", help="queue one notice by hand (the same path tickets and the sweep use)")
    send.add_argument("--openid", required=True)
    send.add_argument("--kind", required=True, choices=[kind.value for kind in NoticeKind])
    send.add_argument("--field", action="append", default=[], metavar="NAME=VALUE",
                      help="a field of the notice (repeat); see README for each kind's fields")  # fmt: skip
    send.add_argument("--key", required=True, help="idempotency key: the same key never sends twice")
    send.set_defaults(func=cmd_send)

    sweep = commands.add_parser(
        "low-balance", help="low-balance notices and suspension warnings to bound subscribers, once per period"
    )
    sweep.add_argument("--period", default=None, help="dedup period (default: this month in China, e.g. 2026-12)")
    sweep.add_argument("--threshold-yuan", type=int, default=None,
                       help="a balance at or below this is low (default NOTICE_LOW_BALANCE_YUAN, 10)")  # fmt: skip
    sweep.set_defaults(func=cmd_low_balance)


def _service(settings: Settings, engine: AsyncEngine) -> NoticeService:
    templates = load_notice_templates(settings.notices_path)
    return NoticeService(engine, Outbox(engine, CsWindow(engine)), NoticeConsents(engine), templates)


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except (SettingsError, NoticeConfigError) as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_list(args: argparse.Namespace) -> int:
    settings = _settings()

    async def run() -> int:
        engine = create_engine(settings.database_url)
        try:
            return await show(_service(settings, engine))
        finally:
            await engine.dispose()

    async def show(service: NoticeService) -> int:
        statuses = (NoticeStatus.REFUSED_NO_CONSENT, NoticeStatus.FAILED) if args.failed else None
        records = await service.list(statuses=statuses, openid=args.openid, limit=args.limit)
        for record in records:
            channel = CHANNEL_LABELS.get(record.channel.value, "") if record.channel else "-"
            when = record.created_at.strftime("%Y-%m-%d %H:%M")
            print(f"{record.id}\t{when}\t{mask_openid(record.openid)}\t{KIND_LABELS[record.kind]}\t{channel}\t"
                  f"{NOTICE_STATUS_LABELS[record.status.value]}\t{record.reason or ''}")  # fmt: skip
        if not records:
            print("（没有通知）")
        return 0

    return asyncio.run(run())


def cmd_send(args: argparse.Namespace) -> int:
    kind = NoticeKind(args.kind)
    fields = dict(item.split("=", 1) for item in args.field if "=" in item)

    settings = _settings()

    async def run() -> int:
        engine = create_engine(settings.database_url)
        try:
            result = await _service(settings, engine).send(args.openid, kind, fields, args.key)
        except NoticeError as exc:
            print(f"{exc} (fields of {kind.value}: {', '.join(NOTICE_FIELDS[kind])})", file=sys.stderr)
            return 2
        finally:
            await engine.dispose()
        channel = CHANNEL_LABELS.get(result.channel.value, "") if result.channel else "-"
        again = "（重复，未再次发送）" if result.duplicate else ""
        print(f"notice {result.notice_id}: {NOTICE_STATUS_LABELS[result.status.value]} {channel} "
              f"{result.reason or ''}{again}")  # fmt: skip
        return 0 if result.status in (NoticeStatus.QUEUED, NoticeStatus.SENT) else 1

    return asyncio.run(run())


def cmd_low_balance(args: argparse.Namespace) -> int:
    settings = _settings()
    try:
        threshold_yuan = args.threshold_yuan
        if threshold_yuan is None:
            threshold_yuan = env_number(os.environ, "NOTICE_LOW_BALANCE_YUAN", DEFAULT_THRESHOLD_FEN // 100, int)
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2

    async def run() -> int:
        engine = create_engine(settings.database_url)
        try:
            billing = load_backend(engine)
            bindings = BindingService(engine, load_sms_sender(engine), billing=billing)
            sweep = BalanceSweep(billing, bindings, _service(settings, engine), yuan_to_fen(threshold_yuan))
            report = await sweep.run(period=args.period)
        finally:
            await engine.dispose()
        new = [r for _, _, r in report.results if not r.duplicate]
        refused = [r for r in new if r.status is NoticeStatus.REFUSED_NO_CONSENT]
        print(f"checked {report.checked} bound lines: {len(new)} notices queued or recorded "
              f"({len(refused)} without consent), {len(report.results) - len(new)} already handled this period (same key)")  # fmt: skip
        return 0

    return asyncio.run(run())
