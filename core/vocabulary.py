"""Closed vocabularies shared across processes (actions -> gateway -> handoff): one definition each.

The values travel as plain strings (Rasa payloads, database columns), so each member is a `str`.
"""

from __future__ import annotations

from enum import Enum


class HandoffReason(str, Enum):
    """Why a subscriber is handed to a person."""

    REQUEST_HUMAN = "request_human"  # asked for a person
    FALLBACK = "fallback"  # the assistant failed to understand twice
    ELDER = "elder"  # 65 or older
    VOICE_UNRECOGNISED = "voice_unrecognised"  # a voice note nobody could transcribe
    NEEDS_IN_PERSON = "needs_in_person"  # e.g. a real-name check at a service hall
    CANNOT_COPE = "cannot_cope"  # 「不会用」「看不懂」
    COMPLAINT = "complaint"  # 「我要投诉」
    DISPUTE = "dispute"  # a charge the subscriber contests
    OPERATOR_TOPIC = "operator_topic"  # something the operator does but the assistant cannot
    LOST_PHONE = "lost_phone"  # her phone is lost or stolen: never call that number back


class Queue(str, Enum):
    """Which desk a handed-off subscriber waits for."""

    ELDER = "elder"  # 年长客户服务专席
    GENERAL = "general"


# The custom payload of a turn that broke off inside Rasa although Rasa answered (actions -> gateway):
# the gateway takes the turn back and retries it, as when Rasa gives no answer at all.
TURN_FAILED_PAYLOAD = "turn_failed"


class Answerer(str, Enum):
    """Who answers a subscriber's next message."""

    BOT = "bot"  # the assistant (Rasa)
    QUEUE = "queue"  # nobody yet: she waits for a person and is told her place
    AGENT = "agent"  # the agent the conversation is assigned to


class ChatStatus(str, Enum):
    """Where a conversation with people stands (core/conversations.py); it says who answers."""

    WAITING = "waiting"  # in a queue
    ASSIGNED = "assigned"  # with an agent
    CLOSED = "closed"  # over: the assistant answers again

    @property
    def answerer(self) -> Answerer:
        return {ChatStatus.WAITING: Answerer.QUEUE, ChatStatus.ASSIGNED: Answerer.AGENT}.get(self, Answerer.BOT)


class NoticeKind(str, Enum):
    """What a notice outside a conversation tells the subscriber (gateway/notices.py)."""

    CALLBACK_REMINDER = "callback_reminder"  # a promised call-back or a technician's visit
    TICKET_PROGRESS = "ticket_progress"
    TICKET_RESOLVED = "ticket_resolved"
    LOW_BALANCE = "low_balance"  # the balance is low, before the cut-off
    SUSPENSION_WARNING = "suspension_warning"  # the line will be suspended, with the reason


class NoticeStatus(str, Enum):
    """Where a notice stands: queued in the outbox, then sent or failed; or never sent for lack of consent."""

    QUEUED = "queued"
    SENT = "sent"
    REFUSED_NO_CONSENT = "refused_no_consent"  # window closed and no subscription consent (ours or WeChat's 43101)
    FAILED = "failed"  # not configured, undeliverable or refused by WeChat for good


class NoticeChannel(str, Enum):
    """How a message reaches the subscriber (an outbox row's `channel`)."""

    CUSTOM = "custom"  # customer-service message, inside the 48-hour window
    SUBSCRIBE = "subscribe"  # subscription notice (订阅通知, message/subscribe/bizsend), needs consent
    TEMPLATE = "template"  # template message (模板消息, message/template/send), service accounts


class TicketKind(str, Enum):
    """What was promised (core/tickets.py)."""

    COMPLAINT = "complaint"  # 投诉 (a disputed charge too)
    FAULT = "fault"  # 报修
    CALLBACK = "callback"  # 来电必复: a person calls back
    FOLLOW_UP = "follow_up"  # 次日回访


class TicketCategory(str, Enum):
    """A ticket's category: each has its promise (TICKET_PROMISE_HOURS)."""

    BILLING = "billing"  # 乱扣费
    REFUND = "refund"  # 退费
    SERVICE = "service"  # 服务
    NETWORK = "network"  # 网络
    BROADBAND = "broadband"  # 宽带
    OTHER = "other"  # 其他
    CALLBACK = "callback"  # 回电
    FOLLOW_UP = "follow_up"  # 回访


class TicketStatus(str, Enum):
    OPEN = "open"  # 待处理
    IN_PROGRESS = "in_progress"  # 处理中 (taken by an agent, or a call not answered yet)
    RESOLVED = "resolved"  # 已解决 (the subscriber was told)
    CLOSED = "closed"  # 已关闭 (without a resolution to announce, e.g. a call-back done by phone)
