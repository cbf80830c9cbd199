"""The gateway's parts for one process, as the request handlers see them (built by bot/app.py)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from bot.hooks import AppContext, HandoffService, VoicePolicy, VoiceTranscriber
from bot.inbox import Inbox
from bot.metrics import Metrics
from bot.processor import Arrivals, PassiveSlots, Processor
from bot.settings import Settings
from bot.wechat_protocol import WeChatProtocol


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    context: AppContext
    protocol: WeChatProtocol
    inbox: Inbox
    arrivals: Arrivals
    slots: PassiveSlots
    processor: Processor
    metrics: Metrics
    handoff: HandoffService
    transcriber: VoiceTranscriber
    voice_policy: VoicePolicy
    asr_configured: bool  # False: no transcriber from voice/, WeChat's Recognition field only


RUNTIME = web.AppKey("gateway_runtime", Runtime)
