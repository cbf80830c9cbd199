"""The low-balance and arrears sweep (`csbot notices low-balance`, run from cron): every active line
bound to a WeChat subscriber is checked once against the billing backend, and

- a balance from 0 up to the threshold gets a low-balance notice before the cut-off;
- a negative balance (arrears) gets a suspension warning with its reason.

Each (kind, number, subscriber, period) is sent once: the idempotency key carries the period
(by default the month in China), so running the sweep again in the same period sends nothing new.
The cut-off is the next midnight in China, when arrears lead to suspension.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from billing.backend import BillingBackend, LineStatus
from billing.binding import BindingService
from billing.money import format_yuan
from billing.periods import BILLING_TZ, local_date, month_of
from core.privacy import mask_phone
from core.vocabulary import NoticeKind
from gateway.notices import NoticeResult, NoticeService
from wechat.window import utcnow

DEFAULT_THRESHOLD_FEN = 1000  # 10 yuan


@dataclass
class SweepReport:
    checked: int = 0  # active lines with a bound subscriber
    results: list[tuple[NoticeKind, str, NoticeResult]] = field(default_factory=list)  # kind, openid, result


def next_cutoff(now: dt.datetime) -> dt.datetime:
    """The next midnight in China."""
    tomorrow = local_date(now) + dt.timedelta(days=1)
    return dt.datetime.combine(tomorrow, dt.time(0, 0), tzinfo=BILLING_TZ)


class BalanceSweep:
    def __init__(
        self,
        billing: BillingBackend,
        bindings: BindingService,
        notices: NoticeService,
        threshold_fen: int = DEFAULT_THRESHOLD_FEN,
    ) -> None:
        self._billing = billing
        self._bindings = bindings
        self._notices = notices
        self._threshold_fen = threshold_fen

    async def run(self, period: str | None = None, now: dt.datetime | None = None) -> SweepReport:
        now = now or utcnow()
        period = period or month_of(local_date(now))
        cutoff = next_cutoff(now).strftime("%Y-%m-%d %H:%M")
        report = SweepReport()
        for line in await self._billing.list_subscribers():
            if line.status is not LineStatus.ACTIVE:
                continue
            openids = await self._bindings.bound_openids(line.phone)
            if not openids:
                continue
            report.checked += 1
            phone = mask_phone(line.phone)
            if line.balance_fen < 0:
                kind = NoticeKind.SUSPENSION_WARNING
                fields = {"phone": phone, "time": cutoff, "reason": f"已欠费{format_yuan(-line.balance_fen)}"}
            elif line.balance_fen <= self._threshold_fen:
                kind = NoticeKind.LOW_BALANCE
                fields = {"phone": phone, "balance": format_yuan(line.balance_fen), "cutoff": cutoff}
            else:
                continue
            for openid in openids:
                key = f"{kind.value}:{line.phone}:{openid}:{period}"
                report.results.append((kind, openid, await self._notices.send(openid, kind, fields, key)))
        return report
