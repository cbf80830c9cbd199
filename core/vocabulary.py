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
    DISPUTE = "dispute"  # contests a charge (「怎么扣了这么多」) and asked a person to check it


class Queue(str, Enum):
    """Which desk a handed-off subscriber waits for."""

    ELDER = "elder"  # 年长客户服务专席
    GENERAL = "general"
