"""The standard charges for usage beyond a plan: used for the demo bills and to compare plans."""

from __future__ import annotations

from typing import Protocol

from billing.money import MB_PER_GB

OVERAGE_FEN_PER_STARTED_GB = 500  # 5元 per started GB
OVERAGE_FEN_PER_MINUTE = 15  # 0.15元 per minute


class Allowance(Protocol):
    @property
    def data_mb(self) -> int: ...

    @property
    def voice_minutes(self) -> int: ...


def extra_data_fen(plan: Allowance, data_used_mb: int) -> int:
    over = data_used_mb - plan.data_mb
    return 0 if over <= 0 else -(-over // MB_PER_GB) * OVERAGE_FEN_PER_STARTED_GB


def extra_voice_fen(plan: Allowance, voice_used_minutes: int) -> int:
    return max(0, voice_used_minutes - plan.voice_minutes) * OVERAGE_FEN_PER_MINUTE


def overage_fen(plan: Allowance, data_used_mb: int, voice_used_minutes: int) -> int:
    """What a month with this usage costs beyond the plan's monthly fee."""
    return extra_data_fen(plan, data_used_mb) + extra_voice_fen(plan, voice_used_minutes)
