"""The event broker's settings, shared by `csbot run` (which hands them to Rasa) and the consumer.

Opt-in: without EVENT_BROKER_URL, Rasa publishes nothing and no consumer runs, so a first run on a
machine without RabbitMQ works as before.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from core.env import SettingsError

DEFAULT_EXCHANGE = "csbot-events"
DEFAULT_QUEUE = "csbot-analytics"
DEFAULT_AMQP_PORT = 5672


@dataclass(frozen=True)
class BrokerSettings:
    url: str  # amqp://user:password@host:port/vhost
    exchange: str  # the fanout exchange Rasa publishes every event to
    queue: str  # the durable queue the analytics consumer reads

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BrokerSettings | None:
        """None when EVENT_BROKER_URL is unset (no broker configured)."""
        env = os.environ if env is None else env
        url = env.get("EVENT_BROKER_URL", "").strip()
        if not url:
            return None
        if urlsplit(url).scheme not in ("amqp", "amqps"):
            raise SettingsError(f"EVENT_BROKER_URL must be an amqp:// URL, got scheme {urlsplit(url).scheme!r}")
        return cls(
            url=url,
            exchange=env.get("EVENT_BROKER_EXCHANGE", "").strip() or DEFAULT_EXCHANGE,
            queue=env.get("EVENT_BROKER_QUEUE", "").strip() or DEFAULT_QUEUE,
        )

    def rasa_env(self) -> dict[str, str]:
        """What event-broker.yml reads: Rasa's pika broker takes user, password and port apart
        from the URL (it rebuilds the URL from them)."""
        parts = urlsplit(self.url)
        return {
            "EVENT_BROKER_URL": self.url,
            "EVENT_BROKER_USERNAME": unquote(parts.username or "guest"),
            "EVENT_BROKER_PASSWORD": unquote(parts.password or "guest"),
            "EVENT_BROKER_PORT": str(parts.port or DEFAULT_AMQP_PORT),
            "EVENT_BROKER_EXCHANGE": self.exchange,
            "EVENT_BROKER_QUEUE": self.queue,
        }
