"""The gateway's aiohttp app factory: resources, hooks and background workers as cleanup contexts."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

import aiohttp
from aiohttp import web

from actions.db import create_engine
from bot import health, webhook
from bot.cs_window import CsWindow
from bot.dialogue import Dialogue
from bot.hooks import (
    AppContext,
    HandoffService,
    RecognitionTranscriber,
    SimpleVoicePolicy,
    StoredHandoffRequests,
    VoicePolicy,
    VoiceTranscriber,
)
from bot.inbox import Inbox
from bot.menu import load_menu
from bot.metrics import Metrics
from bot.outbox import Outbox, OutboxSender
from bot.processor import Arrivals, PassiveSlots, Processor
from bot.rasa_client import RasaClient
from bot.redis_store import create_redis
from bot.runtime import RUNTIME, Runtime
from bot.settings import DEV_TOKEN, WECHAT_API, Settings
from bot.wechat_api import AccessTokens, WeChatApi
from bot.wechat_protocol import WeChatProtocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HookOverrides:
    """Hook implementations given by the caller (tests, embedding) instead of discovered ones."""

    handoff: HandoffService | None = None
    transcriber: VoiceTranscriber | None = None
    voice_policy: VoicePolicy | None = None


def create_app(settings: Settings, hooks: HookOverrides | None = None) -> web.Application:
    """The gateway; with GATEWAY_HOOKS=auto and handoff/ present, also the agent console under /agent."""
    settings.validate()
    overrides = hooks or HookOverrides()
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[webhook.measure_webhook])
    app.cleanup_ctx.append(_gateway(settings, overrides))
    app.router.add_get("/wechat", webhook.verify_server)
    app.router.add_post("/wechat", webhook.receive_push)
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/metrics", health.metrics)
    console = _optional_module("handoff.console", settings)
    if overrides.handoff is None and console is not None and hasattr(console, "setup_console"):
        # Registered after the gateway's cleanup context: the console uses the same HandoffService.
        console.setup_console(app)
    return app


def _gateway(settings: Settings, overrides: HookOverrides):  # type: ignore[no-untyped-def]
    async def context(app: web.Application) -> AsyncIterator[None]:
        _warn_about_dev_settings(settings)
        engine = create_engine(settings.database_url)
        redis = create_redis(settings.redis_url or "")
        http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        closers: list[Any] = []
        tasks: list[asyncio.Task[None]] = []
        try:
            metrics = Metrics()
            cs_window = CsWindow(engine)
            outbox = Outbox(engine, cs_window)
            tokens = AccessTokens(
                redis, http, settings.api_base, settings.app_id, settings.app_secret, metrics.token_fetches
            )
            wechat = WeChatApi(http, settings.api_base, tokens)
            rasa = RasaClient(http, settings.rasa_url, settings.rasa_timeout_s, settings.actions_url)
            ctx = AppContext(settings, engine, redis, http, rasa, outbox, cs_window, wechat, tokens)

            transcriber, asr_configured = await _transcriber(settings, ctx, overrides, closers, tasks)
            ctx = replace(ctx, transcriber=transcriber)
            handoff = await _handoff_service(settings, ctx, overrides, closers)
            voice_policy = overrides.voice_policy or _voice_policy(settings, redis)

            inbox = Inbox(engine, cs_window, settings.inbox_lease_s)
            arrivals = Arrivals(redis)
            slots = PassiveSlots(redis)
            dialogue = Dialogue(engine, rasa, handoff, transcriber, voice_policy, load_menu(settings.menu_path).intents)
            processor = Processor(
                engine, redis, inbox, outbox, dialogue, arrivals, slots, metrics, settings.inbox_lease_s
            )
            sender = OutboxSender(engine, wechat, metrics, settings.outbox_lease_s, settings.outbox_poll_s)
            outbox.on_enqueue(sender.wake)

            app[RUNTIME] = Runtime(
                settings=settings,
                context=ctx,
                protocol=WeChatProtocol(settings.wechat_token, settings.app_id, settings.aes_key, settings.replay_window_s),
                inbox=inbox,
                arrivals=arrivals,
                slots=slots,
                processor=processor,
                metrics=metrics,
                handoff=handoff,
                transcriber=transcriber,
                voice_policy=voice_policy,
                asr_configured=asr_configured,
            )
            tasks.append(asyncio.create_task(sender.run(), name="outbox-sender"))
            tasks.append(asyncio.create_task(processor.run_retries(settings.retry_poll_s), name="inbox-retries"))
            yield
            sender.stop()
            await processor.close()
            await asyncio.wait(tasks, timeout=5)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for close in reversed(closers):
                try:
                    await close()
                except Exception:
                    log.exception("closing a hook failed")
            await http.close()
            await (redis.aclose() if hasattr(redis, "aclose") else redis.close())
            await engine.dispose()

    return context


async def _transcriber(
    settings: Settings, ctx: AppContext, overrides: HookOverrides, closers: list[Any], tasks: list[asyncio.Task[None]]
) -> tuple[VoiceTranscriber, bool]:
    if overrides.transcriber is not None:
        return overrides.transcriber, True
    module = _optional_module("voice.service", settings)
    if module is None or not hasattr(module, "create_transcriber"):
        log.info("voice transcription: WeChat's Recognition field only (voice/ not wired)")
        return RecognitionTranscriber(), False
    transcriber = module.create_transcriber(
        engine=ctx.engine,
        session=ctx.http,
        token_provider=ctx.tokens.get,
        token_invalidator=ctx.tokens.invalidate,
        api_base=settings.api_base,
    )
    if hasattr(transcriber, "start"):
        # Loading the model takes seconds: the webhook is up meanwhile and health() says so.
        tasks.append(asyncio.create_task(transcriber.start(), name="asr-start"))
    if hasattr(transcriber, "close"):
        closers.append(transcriber.close)
    return transcriber, True


def _voice_policy(settings: Settings, redis: Any) -> VoicePolicy:
    module = _optional_module("voice.service", settings)
    if module is not None and hasattr(module, "create_voice_policy"):
        return module.create_voice_policy(redis)  # type: ignore[no-any-return]
    return SimpleVoicePolicy()


async def _handoff_service(
    settings: Settings, ctx: AppContext, overrides: HookOverrides, closers: list[Any]
) -> HandoffService:
    if overrides.handoff is not None:
        return overrides.handoff
    module = _optional_module("handoff.service", settings)
    if module is None or not hasattr(module, "create_handoff_service"):
        log.info("handoff: requests are stored in gw_handoff_requests (handoff/ not wired)")
        return StoredHandoffRequests(ctx.engine)
    service = module.create_handoff_service(ctx)
    if inspect.isawaitable(service):
        service = await service
    if hasattr(service, "start"):
        await service.start()
    if hasattr(service, "close"):
        closers.append(service.close)
    return service  # type: ignore[no-any-return]


def _optional_module(name: str, settings: Settings) -> ModuleType | None:
    if settings.hooks != "auto":
        return None
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and name.startswith(exc.name):
            return None
        raise


def _warn_about_dev_settings(settings: Settings) -> None:
    if settings.api_base == WECHAT_API and settings.wechat_token == DEV_TOKEN:
        log.warning("WECHAT_TOKEN is the development default while WECHAT_API_BASE is WeChat's: set both")
    if settings.aes_key is None:
        log.info("WECHAT_AES_KEY not set: plain mode only")
