"""The operator figures the supervisor view shows, computed from `analytics_facts`.

A session runs from its `session` fact to the subscriber's next one. It is contained when no
handoff happened in it, and an elder session when the subscriber's profile said 65 or older.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.facts import FactKind

FIGURE_DAYS = 30
TOP_UNRECOGNISED = 10

_SESSIONS = text("""
WITH sessions AS (
    SELECT sender_id, ts AS started, LEAD(ts) OVER (PARTITION BY sender_id ORDER BY ts) AS ended
    FROM analytics_facts WHERE kind = :session
)
SELECT
    COUNT(*) AS sessions,
    COALESCE(SUM(CASE WHEN EXISTS (
        SELECT 1 FROM analytics_facts f WHERE f.sender_id = s.sender_id AND f.kind = :handoff
        AND f.ts >= s.started AND (s.ended IS NULL OR f.ts < s.ended)) THEN 1 ELSE 0 END), 0) AS handed_off,
    COALESCE(SUM(CASE WHEN EXISTS (
        SELECT 1 FROM analytics_facts f WHERE f.sender_id = s.sender_id AND f.kind = :elder
        AND f.ts >= s.started AND (s.ended IS NULL OR f.ts < s.ended)) THEN 1 ELSE 0 END), 0) AS elder
FROM sessions s
WHERE s.started >= :since
""")

_BY_DETAIL = text("""
SELECT detail, COUNT(*) AS n FROM analytics_facts
WHERE kind = :kind AND ts >= :since AND detail IS NOT NULL AND detail <> ''
GROUP BY detail ORDER BY n DESC, detail LIMIT :limit
""")


@dataclass(frozen=True)
class Count:
    label: str  # a handoff reason code, or what a subscriber wrote (masked)
    count: int


@dataclass(frozen=True)
class OperatorFigures:
    days: int
    sessions: int
    handed_off: int
    elder_sessions: int
    handoff_reasons: list[Count]
    unrecognised: list[Count]  # most frequent first

    @property
    def containment_share(self) -> float | None:
        """Percentage of sessions that ended without a person, None without sessions."""
        return 100 * (self.sessions - self.handed_off) / self.sessions if self.sessions else None

    @property
    def elder_share(self) -> float | None:
        return 100 * self.elder_sessions / self.sessions if self.sessions else None


async def operator_figures(engine: AsyncEngine, days: int = FIGURE_DAYS, now: float | None = None) -> OperatorFigures:
    since = (time.time() if now is None else now) - days * 86400
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                _SESSIONS,
                {
                    "session": FactKind.SESSION.value,
                    "handoff": FactKind.HANDOFF.value,
                    "elder": FactKind.ELDER.value,
                    "since": since,
                },
            )
        ).one()
        reasons = await conn.execute(_BY_DETAIL, {"kind": FactKind.HANDOFF.value, "since": since, "limit": 20})
        handoff_reasons = [Count(label, int(n)) for label, n in reasons]
        missed = await conn.execute(
            _BY_DETAIL, {"kind": FactKind.UNRECOGNISED.value, "since": since, "limit": TOP_UNRECOGNISED}
        )
        unrecognised = [Count(label, int(n)) for label, n in missed]
    return OperatorFigures(
        days=days,
        sessions=int(row.sessions),
        handed_off=int(row.handed_off),
        elder_sessions=int(row.elder),
        handoff_reasons=handoff_reasons,
        unrecognised=unrecognised,
    )
