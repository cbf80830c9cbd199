"""The gateway's aiohttp app factory: resources, hooks and background workers as cleanup contexts.

The gateway knows its collaborators from other areas (handoff, voice) only through the ports in
gateway/ports.py; the composition root (bot/compose.py) passes their factories in as `Hooks`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace

import aiohttp
from aiohttp import web

from core.db import create_engine
from core.metrics import Metrics
from core.redis_store import create_redis
from gateway import health, webhook
from gateway.dialogue import Dialogue
from gateway.encoded_bodies import refuse_encoded_bodies
from gateway.inbox import Inbox
from gateway.intake import Intake
from gateway.notices import NoticeService
from gateway.outbox import Outbox, OutboxSender
from gateway.payments import PAY_DESK, add_payment_routes, create_payment_desk
from gateway.ports import (
    AppContext,
    CallbackRequests,
    HandoffService,
    RecognitionTranscriber,
    SimpleVoicePolicy,
    SpeechSynthesizer,
    VoicePolicy,
    VoiceTranscriber,
)
from gateway.processor import Arrivals, PassiveSlots, Processor
from gateway.rasa_client import RasaClient
from gateway.replay import NonceLedger
from gateway.runtime import RUNTIME, Runtime
from gateway.settings import DEV_TOKEN, WECHAT_API, Settings
from gateway.spool import Spool
from gateway.voice_replies import VoicePreferences, VoiceReplyMaker
from wechat.api import AccessTokens, WeChatApi
from wechat.consent import NoticeConsents
from wechat.menu import load_menu
from wechat.notice_templates import load_notice_templates
from wechat.protocol import WeChatProtocol
from wechat.window import CsWindow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hooks:
    """Factories of the gateway's collaborators, called once its resources exist. A missing one
    means the gateway's built-in stand-in (gateway/ports.py), which loses nothing."""

    handoff: Callable[[AppContext], HandoffService] | None = None
    transcriber: Callable[[AppContext], VoiceTranscriber] | None = None
    voice_policy: Callable[[AppContext], VoicePolicy] | None = None
    speech: Callable[[AppContext], SpeechSynthesizer] | None = None  # None: no voice replies


def create_app(settings: Settings, hooks: Hooks | None = None) -> web.Application:
    """The gateway: /wechat, a bare /healthz and payment (/pay, /wechatpay/notify), with its workers
    started by a cleanup context. Metrics and health details are on the internal listener (gateway.internal)."""
    settings.validate()
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[refuse_encoded_bodies, webhook.measure_webhook],
    )
    app.cleanup_ctx.append(_gateway(settings, hooks or Hooks()))
    app.router.add_get("/wechat", webhook.verify_server)
    app.router.add_post("/wechat", webhook.receive_push)
    app.router.add_get("/healthz", health.healthz)
    add_payment_routes(app)
    return app


def _gateway(settings: Settings, hooks: Hooks) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        _warn_about_dev_settings(settings)
        engine = create_engine(settings.database_url)
        redis = create_redis(settings.redis_url or "")
        http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        closers: list[Callable[[], Awaitable[None]]] = []
        tasks: list[asyncio.Task[None]] = []
        try:
            metrics = Metrics()
            cs_window = CsWindow(engine)
            outbox = Outbox(engine, cs_window)
            tokens = AccessTokens(
                redis, http, settings.api_base, settings.app_id, settings.app_secret, metrics.token_fetches
            )
            wechat = WeChatApi(http, settings.api_base, tokens)
            rasa = RasaClient(
                http, settings.rasa_url, settings.rasa_timeout_s, settings.actions_url, token=settings.rasa_token
            )
            notices = NoticeService(
                engine, outbox, NoticeConsents(engine), load_notice_templates(settings.notices_path)
            )
            ctx = AppContext(settings, engine, redis, http, rasa, outbox, cs_window, wechat, tokens, notices=notices)

            asr_configured = hooks.transcriber is not None
            transcriber = hooks.transcriber(ctx) if hooks.transcriber else RecognitionTranscriber()
            # Loading a speech model takes seconds: the webhook is up meanwhile and health() says so.
            tasks.append(asyncio.create_task(transcriber.start(), name="asr-start"))
            closers.append(transcriber.close)
            ctx = replace(ctx, transcriber=transcriber)
            handoff = hooks.handoff(ctx) if hooks.handoff else CallbackRequests(engine)
            await handoff.start()
            closers.append(handoff.close)
            voice_policy = hooks.voice_policy(ctx) if hooks.voice_policy else SimpleVoicePolicy()
            speech = hooks.speech(ctx) if hooks.speech else None
            if speech is not None:
                tasks.append(asyncio.create_task(speech.start(), name="tts-start"))  # seconds, off the loop
                closers.append(speech.close)

            inbox = Inbox(
                engine, cs_window, settings.inbox_lease_s, consents=notices, routing=handoff.routing_columns()
            )
            arrivals = Arrivals(redis)
            slots = PassiveSlots(redis)
            voice_prefs = VoicePreferences(engine) if speech is not None else None
            dialogue = Dialogue(
                engine, rasa, handoff, transcriber, voice_policy, load_menu(settings.menu_path).intents, voice_prefs
            )
            processor = Processor(
                engine, redis, inbox, outbox, dialogue, arrivals, slots, metrics, settings.inbox_lease_s,
                settings.passive_budget_s,
            )  # fmt: skip
            intake = Intake(arrivals, inbox, processor, slots, metrics, Spool(redis))
            sender = OutboxSender(
                engine, wechat, metrics, settings.outbox_lease_s, settings.outbox_poll_s, notices=notices
            )
            outbox.on_enqueue(sender.wake)
            maker = VoiceReplyMaker(outbox, speech, wechat, metrics) if speech is not None else None
            if maker is not None:
                outbox.on_preparing(maker.wake)
            app[PAY_DESK] = await create_payment_desk(settings, engine, http, outbox, metrics)

            app[RUNTIME] = Runtime(
                settings=settings,
                context=ctx,
                protocol=WeChatProtocol(
                    settings.wechat_token,
                    settings.app_id,
                    settings.aes_key,
                    settings.replay_window_s,
                    require_aes=settings.require_aes,
                ),
                nonces=NonceLedger(settings.replay_window_s),
                inbox=inbox,
                intake=intake,
                processor=processor,
                metrics=metrics,
                handoff=handoff,
                transcriber=transcriber,
                voice_policy=voice_policy,
                asr_configured=asr_configured,
                speech=speech,
            )
            tasks.append(asyncio.create_task(sender.run(), name="outbox-sender"))
            if maker is not None:
                tasks.append(asyncio.create_task(maker.run(), name="voice-replies"))
            tasks.append(asyncio.create_task(processor.run_retries(settings.retry_poll_s), name="inbox-retries"))
            tasks.append(
                asyncio.create_task(
                    Spool(redis).run(intake.store_spooled, processor.schedule, settings.retry_poll_s),
                    name="spool-replay",
                )
            )
            yield
            sender.stop()
            if maker is not None:
                maker.stop()
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


def _warn_about_dev_settings(settings: Settings) -> None:
    if settings.api_base == WECHAT_API and settings.wechat_token == DEV_TOKEN:
        log.warning("WECHAT_TOKEN is the development default while WECHAT_API_BASE is WeChat's: set both")
    if settings.aes_key is None:
        log.info("WECHAT_AES_KEY not set: plain mode only")
    elif not settings.require_aes:
        log.warning("WECHAT_REQUIRE_AES=0: plain pushes are accepted too (compatible mode); their body is unsigned")
