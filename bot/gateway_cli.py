"""`csbot gateway`, `csbot chat`, `csbot menu publish`, `csbot wechat-standin`.

Also runnable alone (`python -m bot.gateway_cli gateway`), which the multi-process tests use.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import uvloop
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from bot.compose import create_apps
from core.env import SettingsError
from gateway.encoded_bodies import SERVER_OPTIONS
from gateway.internal import create_internal_app
from gateway.settings import Settings
from handoff.config import ConfigError, ConsoleListener

log = logging.getLogger(__name__)

DEFAULT_STANDIN_PORT = 8081


def register(subparsers: argparse._SubParsersAction) -> None:
    gateway = subparsers.add_parser("gateway", help="run the WeChat gateway (POST /wechat) on PORT")
    gateway.set_defaults(func=run_gateway)

    chat = subparsers.add_parser("chat", help="chat with the running gateway as a WeChat subscriber would")
    chat.add_argument("--openid", required=True, help="the simulated subscriber's openid")
    chat.add_argument("--aes", action="store_true", help="safe mode: encrypt pushes with WECHAT_AES_KEY")
    chat.add_argument("--gateway", default=None, help="gateway URL (default http://127.0.0.1:$PORT)")
    chat.add_argument("--standin", default=None, help="stand-in WeChat API URL (default WECHAT_API_BASE)")
    chat.set_defaults(func=run_chat)

    menu = subparsers.add_parser("menu", help="the official account's custom menu")
    menu_commands = menu.add_subparsers(dest="menu_command", required=True)
    publish = menu_commands.add_parser(
        "publish",
        help="push wechat/menu.yml: the default menu (menu/create) and the conditional elder menu (menu/addconditional)",
    )
    publish.add_argument("--file", type=Path, default=None, help="menu file (default wechat/menu.yml)")
    publish.set_defaults(func=run_menu_publish)

    standin = subparsers.add_parser("wechat-standin", help="run the stand-in WeChat API server (local development)")
    standin.add_argument("--port", type=int, default=int(os.environ.get("WECHAT_STANDIN_PORT", DEFAULT_STANDIN_PORT)))
    standin.add_argument("--host", default="127.0.0.1")
    standin.set_defaults(func=run_standin)


class PathOnlyAccessLogger(AbstractAccessLogger):
    """Access log without query strings: they carry openids and signatures."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info("%s %s %s %.3fs", request.method, request.path, response.status, time)


@dataclass(frozen=True)
class Listener:
    app: web.Application
    host: str
    port: int
    banner: str


async def serve(app: web.Application, host: str, port: int, banner: str) -> None:
    """Run one app until SIGINT/SIGTERM; prints the bound address (PORT=0 picks a free port)."""
    await serve_all([Listener(app, host, port, banner)])


async def serve_all(listeners: list[Listener]) -> None:
    """Start the apps in order, each on its own address, run until SIGINT/SIGTERM, stop them in
    reverse order. Prints each bound address (port 0 picks a free port)."""
    runners: list[web.AppRunner] = []
    try:
        for listener in listeners:
            runner = web.AppRunner(listener.app, access_log_class=PathOnlyAccessLogger, **SERVER_OPTIONS)
            await runner.setup()
            runners.append(runner)
            await web.TCPSite(runner, listener.host, listener.port).start()
            bound = runner.addresses[0]
            print(f"{listener.banner} listening on http://{bound[0]}:{bound[1]}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        for runner in reversed(runners):
            await runner.cleanup()


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def run_gateway(args: argparse.Namespace) -> int:
    from core.redact import redact_logs
    from gateway.bad_requests import quiet_bad_requests

    redact_logs()
    quiet_bad_requests()
    settings = _settings()
    try:
        console_at = ConsoleListener.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    apps = create_apps(settings)
    listeners = [Listener(apps.gateway, settings.host, settings.port, "csbot gateway")]
    if apps.console is not None:  # its own listener, loopback unless AGENT_HOST says otherwise
        listeners.append(Listener(apps.console, console_at.host, console_at.port, "agent console (/agent)"))
    internal = create_internal_app(apps.gateway)  # metrics and health details, loopback by default
    listeners.append(Listener(internal, settings.internal_host, settings.internal_port,
                              "csbot gateway internal listener (metrics, health details)"))  # fmt: skip
    # uvloop: the gateway is bound by per-message event-loop work (HTTP in and out, PostgreSQL and
    # Redis round trips); uvloop's loop costs less CPU per callback than asyncio's own.
    asyncio.run(serve_all(listeners), loop_factory=uvloop.new_event_loop)
    return 0


def run_standin(args: argparse.Namespace) -> int:
    from wechat.notice_templates import load_notice_templates
    from wechat.pay_keys import load_pay_config
    from wechat.pay_standin import local_pay_standin
    from wechat.standin import StandinState, add_notice_templates, create_standin_app

    settings = _settings()
    state = StandinState(app_id=settings.app_id, app_secret=settings.app_secret)
    add_notice_templates(state, load_notice_templates(settings.notices_path).values())
    # Plays WeChat Pay too, for the merchant configured from var/ (no real WeChat Pay keys set).
    pay = (
        None
        if os.environ.get("WECHATPAY_PLATFORM_PUBLIC_KEY")
        else local_pay_standin(load_pay_config(appid=settings.app_id))
    )
    asyncio.run(serve(create_standin_app(state, pay), args.host, args.port, "stand-in WeChat API"))
    return 0


def run_menu_publish(args: argparse.Namespace) -> int:
    from core.redis_store import create_redis
    from wechat.api import AccessTokens, WeChatApi, WeChatApiError, WeChatUnavailable
    from wechat.menu import MenuError, load_menu, publish_menu

    settings = _settings()
    try:
        menu = load_menu(args.file or settings.menu_path)
    except (MenuError, OSError) as exc:
        print(f"menu file: {exc}", file=sys.stderr)
        return 2

    async def publish() -> dict[str, str]:
        redis = create_redis(settings.redis_url or "")
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
            tokens = AccessTokens(redis, http, settings.api_base, settings.app_id, settings.app_secret)
            return await publish_menu(WeChatApi(http, settings.api_base, tokens), menu)

    try:
        conditional = asyncio.run(publish())
    except (WeChatApiError, WeChatUnavailable) as exc:
        print(f"menu not published: {exc}", file=sys.stderr)
        return 1
    print(f"menu published to {settings.api_base} ({len(menu.intents)} click keys)")
    for tag, menuid in conditional.items():
        print(f"conditional menu for user tag {tag}: menuid {menuid}")
    return 0


def run_chat(args: argparse.Namespace) -> int:
    from bot.chat import chat

    settings = _settings()
    if args.aes and not settings.aes_key:
        print("--aes needs WECHAT_AES_KEY (the same as the gateway's)", file=sys.stderr)
        return 2
    gateway = args.gateway or f"http://127.0.0.1:{settings.port or 8080}"
    return asyncio.run(chat(settings, args.openid, gateway, args.standin or _local_standin(settings), aes=args.aes))


def _local_standin(settings: Settings) -> str | None:
    """The stand-in API the local gateway uses: WECHAT_API_BASE when it is on loopback; in the demo
    set-up of `csbot run` (no WeChat credentials, no API base) the stand-in it starts."""
    if settings.api_base.startswith(("http://127.0.0.1", "http://localhost")):
        return settings.api_base
    if not os.environ.get("WECHAT_APP_SECRET") and not os.environ.get("WECHAT_API_BASE"):
        return f"http://127.0.0.1:{os.environ.get('WECHAT_STANDIN_PORT', DEFAULT_STANDIN_PORT)}"
    return None


def main(argv: list[str] | None = None) -> Any:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    parser = argparse.ArgumentParser(prog="python -m bot.gateway_cli")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
