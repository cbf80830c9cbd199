"""What the gateway asks of voice/ and handoff/, and the gateway's own minimal stand-ins for them.

The app factory wires one `HandoffService`, one `VoiceTranscriber`, one `VoicePolicy` and, for
voice replies, an optional `SpeechSynthesizer`: the real ones, built by the composition root
(bot/compose.py) from handoff/ and voice/ with GATEWAY_HOOKS=auto, else the built-ins below (no
speech synthesiser: no voice replies), which lose nothing: a request for a person becomes a
call-back promise in the one conversation record (core/conversations.py) with its ticket, and
voice notes use WeChat's own `Recognition` text when present.
The gateway imports neither handoff/ nor voice/'s services; they fit these protocols.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from core.conversations import Routing, RoutingColumns, record_callback_request
from core.tickets import promise_hours
from core.vocabulary import HandoffReason, Queue, TicketCategory
from core.wording import HANDOFF_RECORDED, VOICE_NOT_UNDERSTOOD
from voice.transcript import Transcript
from wechat.messages import InboundMessage

if TYPE_CHECKING:
    import aiohttp
    import redis.asyncio as aioredis

    from gateway.notices import NoticeService
    from gateway.outbox import Outbox
    from gateway.rasa_client import RasaClient
    from gateway.settings import Settings
    from wechat.api import AccessTokens, WeChatApi
    from wechat.window import CsWindow

HANDOFF_REASONS = frozenset(reason.value for reason in HandoffReason)
QUEUES = frozenset(queue.value for queue in Queue)


class VoiceTranscriber(Protocol):
    async def start(self) -> None: ...  # e.g. load the speech model (the webhook is up meanwhile)

    async def close(self) -> None: ...

    async def transcribe(self, msg: InboundMessage) -> Transcript: ...

    def health(self) -> dict[str, Any]: ...  # e.g. {"asr": "ready"|"no_model"|"failed", "model": path}


class SpokenReply(Protocol):
    """Audio of a reply (voice.speech.SpokenAudio has these fields)."""

    @property
    def data(self) -> bytes: ...  # AMR-NB or MP3, as WeChat takes voice media

    @property
    def seconds(self) -> float: ...

    @property
    def cached(self) -> bool: ...


class SpeechSynthesizer(Protocol):
    """Voice replies: text -> audio, off the event loop. Without one, no subscriber gets audio."""

    async def start(self) -> None: ...  # e.g. load the model in worker processes

    async def close(self) -> None: ...

    async def speak(self, text: str) -> SpokenReply: ...  # raises when no audio can be made

    def health(self) -> dict[str, Any]: ...


class HandoffService(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    # Who answers her next message, and whether `before_bot` may have something to do, in one read.
    async def routing(self, openid: str) -> Routing: ...

    # The same read as columns of the inbox claim, which returns them with each message it leases.
    def routing_columns(self) -> RoutingColumns: ...

    async def on_subscriber_message(self, msg: InboundMessage, text: str | None, audio_id: int | None) -> list[str]: ...

    async def request_handoff(
        self, openid: str, reason: str, queue: str, summary: str | None, *, direct: bool = False
    ) -> list[str]: ...

    # Before a text goes to the bot, when `routing` says a survey is open: (texts to send first,
    # whether the text was consumed), e.g. the answer to the satisfaction question after a chat.
    async def before_bot(self, openid: str, text: str | None) -> tuple[list[str], bool]: ...


class VoiceDecision(Protocol):
    """What to do with one transcript (voice.policy.VoiceReply has these fields)."""

    # Read-only attributes, so that frozen dataclasses fit.
    @property
    def echo_text(self) -> str | None: ...  # said to the subscriber first

    @property
    def dialogue_text(self) -> str | None: ...  # sent to Rasa like typed text

    @property
    def dialogue_metadata(self) -> dict[str, Any]: ...

    @property
    def handoff_reason(self) -> str | None: ...

    @property
    def handoff_queue(self) -> str | None: ...

    @property
    def handoff_summary(self) -> str | None: ...


class VoicePolicy(Protocol):
    async def decide(self, openid: str, transcript: Transcript) -> VoiceDecision: ...


@dataclass(frozen=True)
class AppContext:
    """Everything a hook implementation may need, built once per gateway process."""

    settings: Settings
    engine: AsyncEngine
    redis: aioredis.Redis
    http: aiohttp.ClientSession
    rasa: RasaClient
    outbox: Outbox
    cs_window: CsWindow
    wechat: WeChatApi
    tokens: AccessTokens
    transcriber: VoiceTranscriber | None = None
    # Notices outside a conversation: `await notices.send(openid, NoticeKind.X, fields, key)`.
    notices: NoticeService | None = None


# ---- built-ins ---------------------------------------------------------------------------------


# Ticket numbers count the operator's local day (handoff/ reads HANDOFF_TIMEZONE for the same).
OPERATOR_TZ = ZoneInfo("Asia/Shanghai")


_ASSISTANT_ANSWERS = Routing(with_human=False, survey_open=False)


class CallbackRequests:
    """HandoffService used until handoff/ provides one. Nobody can be connected, so a request for a
    person is recorded as a call-back promise: a closed conversation in the one conversation record
    with its call-back ticket, which the console lists once handoff/ runs. The assistant answers on."""

    def __init__(self, engine: AsyncEngine, tz: dt.tzinfo = OPERATOR_TZ) -> None:
        self._engine = engine
        self._tz = tz
        self._promise = dt.timedelta(hours=promise_hours()[TicketCategory.CALLBACK])

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def routing(self, openid: str) -> Routing:
        return _ASSISTANT_ANSWERS  # without handoff/ the assistant answers everyone

    def routing_columns(self) -> RoutingColumns:
        return RoutingColumns((), dict, lambda row: _ASSISTANT_ANSWERS)

    async def on_subscriber_message(self, msg: InboundMessage, text: str | None, audio_id: int | None) -> list[str]:
        return []

    async def before_bot(self, openid: str, text: str | None) -> tuple[list[str], bool]:
        return [], False

    async def request_handoff(
        self, openid: str, reason: str, queue: str, summary: str | None, *, direct: bool = False
    ) -> list[str]:
        if direct:
            return []  # an elder's first message, already answered: nobody here to connect her to
        await record_callback_request(
            self._engine,
            openid=openid,
            reason=reason,
            queue=queue,
            summary=summary,
            now=dt.datetime.now(dt.timezone.utc),
            tz=self._tz,
            promise=self._promise,
            actor="gateway",
        )
        return [HANDOFF_RECORDED]


class RecognitionTranscriber:
    """VoiceTranscriber used until voice/ provides one: WeChat's own speech recognition, when present."""

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def transcribe(self, msg: InboundMessage) -> Transcript:
        if msg.recognition:
            return Transcript(text=msg.recognition, confidence=None, source="wechat", audio_id=None, error=None)
        return Transcript(text=None, confidence=None, source="none", audio_id=None, error="no_model")

    def health(self) -> dict[str, Any]:
        return {"asr": "not_configured"}


@dataclass(frozen=True)
class SimpleVoiceDecision:
    echo_text: str | None
    dialogue_text: str | None
    dialogue_metadata: dict[str, Any] = field(default_factory=dict)
    handoff_reason: str | None = None
    handoff_queue: str | None = None
    handoff_summary: str | None = None


class SimpleVoicePolicy:
    """A transcript goes to Rasa; no transcript means a person listens to the note."""

    async def decide(self, openid: str, transcript: Transcript) -> SimpleVoiceDecision:
        if transcript.text:
            metadata = {"source": "voice", "confidence": transcript.confidence, "asr": transcript.source}
            return SimpleVoiceDecision(echo_text=None, dialogue_text=transcript.text, dialogue_metadata=metadata)
        return SimpleVoiceDecision(
            echo_text=VOICE_NOT_UNDERSTOOD,
            dialogue_text=None,
            handoff_reason=HandoffReason.VOICE_UNRECOGNISED.value,
            handoff_queue=Queue.GENERAL.value,
            handoff_summary=f"语音消息，未能识别（{transcript.error or 'no_transcript'}）",
        )
