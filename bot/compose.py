"""The composition root: the one place that builds the running assistant's web apps from its parts.

The gateway (gateway/) knows handoff/ and voice/ only through its ports; this module passes it
their factories, and builds the agent console as an app of its own (served on its own listener,
AGENT_HOST:AGENT_PORT, apart from the public /wechat) that shares the gateway's HandoffService.
`GATEWAY_HOOKS=builtin` leaves all three out: the gateway then runs on its own stand-ins.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from gateway.app import Hooks
from gateway.app import create_app as create_gateway_app
from gateway.ports import AppContext
from gateway.settings import Settings
from handoff.console import setup_console
from handoff.service import HandoffService, create_handoff_service
from voice.config import TtsSettings
from voice.policy import VoicePolicy
from voice.service import Transcriber, create_transcriber, create_voice_policy
from voice.speech import SpeechService, create_speech_service


@dataclass(frozen=True)
class Apps:
    """The gateway (/wechat, /healthz, /metrics) and the console (/agent), served apart.
    Start the gateway first (its start-up builds the service the console uses), stop it last."""

    gateway: web.Application
    console: web.Application | None  # None with GATEWAY_HOOKS=builtin


@dataclass
class _Built:
    """The HandoffService the gateway built at start-up, for the console mounted beside it."""

    handoff: HandoffService | None = None

    def service(self, _app: web.Application) -> HandoffService:
        if self.handoff is None:
            raise RuntimeError("the gateway's cleanup context must run before the console's")
        return self.handoff


def create_app(settings: Settings) -> web.Application:
    """The gateway alone with, unless GATEWAY_HOOKS=builtin, handoff and voice (no console)."""
    return create_apps(settings).gateway


def create_apps(settings: Settings) -> Apps:
    """The gateway with, unless GATEWAY_HOOKS=builtin, handoff and voice, and the console app."""
    if settings.hooks == "builtin":
        return Apps(gateway=create_gateway_app(settings), console=None)
    built = _Built()

    def handoff(ctx: AppContext) -> HandoffService:
        built.handoff = build_handoff_service(ctx)
        return built.handoff

    speech = build_speech if TtsSettings.from_env().enabled else None
    gateway = create_gateway_app(
        settings,
        Hooks(handoff=handoff, transcriber=build_transcriber, voice_policy=build_voice_policy, speech=speech),
    )
    console = web.Application()
    setup_console(console, built.service, owned=False)  # the gateway's start-up builds the service
    return Apps(gateway=gateway, console=console)


def build_handoff_service(ctx: AppContext) -> HandoffService:
    return create_handoff_service(
        engine=ctx.engine,
        redis=ctx.redis,
        http=ctx.http,
        rasa_url=ctx.rasa.base_url,
        rasa_token=ctx.rasa.token,
        outbox=ctx.outbox,
        window=ctx.cs_window,
        wechat=ctx.wechat,
        notices=ctx.notices,
    )


def build_transcriber(ctx: AppContext) -> Transcriber:
    return create_transcriber(
        engine=ctx.engine,
        session=ctx.http,
        token_provider=ctx.tokens.get,
        token_invalidator=ctx.tokens.invalidate,
        api_base=ctx.settings.api_base,
    )


def build_voice_policy(ctx: AppContext) -> VoicePolicy:
    return create_voice_policy(ctx.redis)


def build_speech(ctx: AppContext) -> SpeechService:
    return create_speech_service()
