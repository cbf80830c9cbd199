"""`csbot analytics consume` and `csbot analytics figures`."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from analytics.config import BrokerSettings
from analytics.consumer import consume
from analytics.figures import operator_figures
from core.db import create_engine
from core.env import SettingsError


def register(subparsers: argparse._SubParsersAction) -> None:
    analytics = subparsers.add_parser("analytics", help="operator figures from Rasa's event stream (RabbitMQ)")
    commands = analytics.add_subparsers(dest="analytics_command", required=True, metavar="ACTION")
    consumer = commands.add_parser("consume", help="read the event stream into the database (EVENT_BROKER_URL)")
    consumer.set_defaults(func=cmd_consume)
    figures = commands.add_parser("figures", help="print the figures the supervisor view shows")
    figures.set_defaults(func=cmd_figures)


def cmd_consume(args: argparse.Namespace) -> int:
    try:
        settings = BrokerSettings.from_env()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if settings is None:
        print("configuration error: EVENT_BROKER_URL is not set", file=sys.stderr)
        return 2

    async def run() -> None:
        from core.redact import redact_logs

        redact_logs()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        engine = create_engine()
        try:
            await consume(settings, engine, stop)
        finally:
            await engine.dispose()

    asyncio.run(run())
    return 0


def cmd_figures(args: argparse.Namespace) -> int:
    async def run() -> None:
        engine = create_engine()
        try:
            figures = await operator_figures(engine)
        finally:
            await engine.dispose()
        share = figures.containment_share
        print(f"sessions (last {figures.days} days): {figures.sessions}")
        print(f"contained: {figures.sessions - figures.handed_off}" + (f" ({share:.0f}%)" if share is not None else ""))
        print(f"elder sessions: {figures.elder_sessions}")
        for count in figures.handoff_reasons:
            print(f"handoff {count.label}: {count.count}")
        for count in figures.unrecognised:
            print(f"not understood ×{count.count}: {count.label}")

    asyncio.run(run())
    return 0
