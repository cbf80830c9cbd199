"""The gateway's parts for one process, as the request handlers see them (built by bot/app.py)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from core.metrics import Metrics
from gateway.inbox import Inbox
from gateway.intake import Intake
from gateway.ports import AppContext, HandoffService, SpeechSynthesizer, VoicePolicy, VoiceTranscriber
from gateway.processor import Processor
from gateway.replay import NonceLedger
from gateway.settings import Settings
from wechat.protocol import WeChatProtocol


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    context: AppContext
    protocol: WeChatProtocol
    nonces: NonceLedger  # one message per (timestamp, nonce)
    inbox: Inbox
    intake: Intake  # what the webhook calls: accept(push), passive_reply(push, is_new, deadline)
    processor: Processor
    metrics: Metrics
    handoff: HandoffService
    transcriber: VoiceTranscriber
    voice_policy: VoicePolicy
    asr_configured: bool  # False: no transcriber from voice/, WeChat's Recognition field only
    speech: SpeechSynthesizer | None = None  # None: no voice replies


RUNTIME = web.AppKey("gateway_runtime", Runtime)
