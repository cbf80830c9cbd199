"""Prometheus metrics of one gateway process, written in the text exposition format by hand.

Counters and the latency histogram live in the process (Prometheus sums over workers);
backlog gauges are read from the database at scrape time, so every worker reports the same.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Iterable

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 4.5, 5.0, 10.0)


def _labels(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    if not names:
        return ""
    escaped = (v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for v in values)
    return "{" + ",".join(f'{n}="{v}"' for n, v in zip(names, escaped)) + "}"


class Counter:
    def __init__(self, name: str, help_text: str, labels: tuple[str, ...] = ()) -> None:
        self.name, self.help, self.label_names = name, help_text, labels
        self._values: dict[tuple[str, ...], float] = defaultdict(float)

    def inc(self, *label_values: str, amount: float = 1.0) -> None:
        self._values[tuple(label_values)] += amount

    def value(self, *label_values: str) -> float:
        return self._values.get(tuple(label_values), 0.0)

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        for values, number in sorted(self._values.items()):
            yield f"{self.name}{_labels(self.label_names, values)} {number:g}"


class Histogram:
    def __init__(self, name: str, help_text: str, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.name, self.help, self.buckets = name, help_text, buckets
        self._counts = [0] * len(buckets)
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.count += 1
        self.sum += value
        for index, bound in enumerate(self.buckets):
            if value <= bound:
                self._counts[index] += 1

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        for bound, count in zip(self.buckets, self._counts):
            yield f'{self.name}_bucket{{le="{bound:g}"}} {count}'
        yield f'{self.name}_bucket{{le="+Inf"}} {self.count}'
        yield f"{self.name}_sum {self.sum:.6f}"
        yield f"{self.name}_count {self.count}"


def gauge(name: str, help_text: str, value: float) -> Iterable[str]:
    yield f"# HELP {name} {help_text}"
    yield f"# TYPE {name} gauge"
    yield f"{name} {value:g}" if math.isfinite(value) else f"{name} NaN"


def labelled_counter(
    name: str, help_text: str, labels: tuple[str, ...], values: dict[tuple[str, ...], int]
) -> Iterable[str]:
    """A counter whose values are read at scrape time (e.g. counted in the database)."""
    yield f"# HELP {name} {help_text}"
    yield f"# TYPE {name} counter"
    for label_values, number in sorted(values.items()):
        yield f"{name}{_labels(labels, label_values)} {number:g}"


class Metrics:
    def __init__(self) -> None:
        self.messages = Counter("csbot_gateway_messages_total", "Pushes accepted, by message type", ("type",))
        self.webhook = Counter(
            "csbot_gateway_webhook_requests_total", "POST /wechat answers, by HTTP status", ("status",)
        )
        self.latency = Histogram("csbot_gateway_webhook_latency_seconds", "Time to answer POST /wechat")
        self.replies = Counter(
            "csbot_gateway_replies_total", "Replies delivered to subscribers, by channel (passive or api)", ("channel",)
        )
        self.dedup_hits = Counter("csbot_gateway_dedup_hits_total", "Pushes recognised as WeChat retries/duplicates")
        self.outbox_failures = Counter(
            "csbot_gateway_outbox_failures_total",
            "Customer-service sends that failed, by outcome (retry, undeliverable, failed) and errcode",
            ("outcome", "errcode"),
        )
        self.token_fetches = Counter("csbot_gateway_token_fetches_total", "access_token fetches by this process")
        self.rasa_failures = Counter("csbot_gateway_rasa_failures_total", "Dialogue turns deferred: Rasa unavailable")
        self.voice_replies = Counter(
            "csbot_gateway_voice_replies_total",
            "Voice replies by outcome (made, cached, no_allowance: the text went alone, failed)",
            ("outcome",),
        )
        self.payment_notifications = Counter(
            "csbot_gateway_payment_notifications_total",
            "WeChat Pay notifications by outcome (credited, duplicate, refused: bad_signature, stale, ...)",
            ("outcome",),
        )

    def render(self, gauges: Iterable[str] = ()) -> str:
        lines: list[str] = []
        for instrument in (
            self.messages,
            self.webhook,
            self.latency,
            self.replies,
            self.dedup_hits,
            self.outbox_failures,
            self.token_fetches,
            self.rasa_failures,
            self.voice_replies,
            self.payment_notifications,
        ):
            lines.extend(instrument.render())
        lines.extend(gauges)
        return "\n".join(lines) + "\n"
