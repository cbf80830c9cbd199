"""Settings of the handoff area, read from the environment (defaults documented in the README)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from core.env import env_number
from core.local_secrets import AGENT_SESSION_SECRET, local_secret

ProxyNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
DEFAULT_AGENT_HOST = "127.0.0.1"
DEFAULT_AGENT_PORT = 8090


class ConfigError(ValueError):
    """A handoff setting has a value we cannot use (the message says which and why)."""


@dataclass(frozen=True)
class ServiceHours:
    """Daily opening hours of the human desk, in local time. `close` may be 24:00."""

    open: dt.time
    close_minutes: int  # minutes after midnight; 1440 means midnight at the end of the day

    @property
    def open_minutes(self) -> int:
        return self.open.hour * 60 + self.open.minute

    @classmethod
    def parse(cls, text: str) -> "ServiceHours":
        try:
            start, end = (part.strip() for part in text.split("-"))
            open_h, open_m = (int(x) for x in start.split(":"))
            close_h, close_m = (int(x) for x in end.split(":"))
        except ValueError:
            raise ConfigError(f"SERVICE_HOURS must look like 08:00-20:00, got {text!r}") from None
        close_minutes = close_h * 60 + close_m
        if not (0 <= open_h < 24 and 0 <= open_m < 60 and 0 <= close_m < 60 and 0 < close_minutes <= 1440):
            raise ConfigError(f"SERVICE_HOURS has an impossible time: {text!r}")
        opened = dt.time(open_h, open_m)
        if close_minutes <= open_h * 60 + open_m:
            raise ConfigError(f"SERVICE_HOURS must close after it opens on the same day: {text!r}")
        return cls(open=opened, close_minutes=close_minutes)


@dataclass(frozen=True)
class HandoffSettings:
    service_hours: ServiceHours
    timezone: ZoneInfo
    max_wait_minutes: int
    callback_promise_hours: int
    elder_age: int
    session_secret: bytes
    session_hours: int
    cookie_secure: bool
    sweep_seconds: float
    trusted_proxies: tuple[ProxyNetwork, ...] = ()  # whose X-Forwarded-For names the client

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "HandoffSettings":
        env = dict(os.environ if env is None else env)
        return cls(
            service_hours=ServiceHours.parse(env.get("SERVICE_HOURS", "08:00-20:00")),
            timezone=_zone(env.get("HANDOFF_TIMEZONE", "Asia/Shanghai")),
            max_wait_minutes=_positive_int(env, "MAX_WAIT_MINUTES", 10),
            callback_promise_hours=_positive_int(env, "CALLBACK_PROMISE_HOURS", 2),
            elder_age=_positive_int(env, "ELDER_AGE", 65),
            session_secret=local_secret(AGENT_SESSION_SECRET, env).encode(),
            session_hours=_positive_int(env, "AGENT_SESSION_HOURS", 12),
            cookie_secure=_flag(env, "AGENT_COOKIE_SECURE", default=True),
            sweep_seconds=float(_positive_int(env, "HANDOFF_SWEEP_SECONDS", 15)),
            trusted_proxies=_proxies(env.get("AGENT_FORWARDED_FOR", "")),
        )


@dataclass(frozen=True)
class ConsoleListener:
    """Where the agent console listens: its own address, apart from the public /wechat."""

    host: str
    port: int

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "ConsoleListener":
        env = dict(os.environ if env is None else env)
        host = env.get("AGENT_HOST", "").strip() or DEFAULT_AGENT_HOST
        port = env_number(env, "AGENT_PORT", DEFAULT_AGENT_PORT, int, error=ConfigError, minimum=0, maximum=65535)
        return cls(host=host, port=port)  # port 0: a free port, printed at start-up


def _flag(env: dict[str, str], name: str, default: bool) -> bool:
    value = env.get(name, "").strip().lower()
    if not value:
        return default
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be 1 or 0, got {value!r}")


def _proxies(text: str) -> tuple[ProxyNetwork, ...]:
    """AGENT_FORWARDED_FOR: the proxies (addresses or networks, comma-separated) whose
    X-Forwarded-For header is believed. Empty: the header is ignored."""
    networks = []
    for part in text.split(","):
        if part.strip():
            try:
                networks.append(ipaddress.ip_network(part.strip(), strict=False))
            except ValueError:
                raise ConfigError(f"AGENT_FORWARDED_FOR has an address that is not one: {part.strip()!r}") from None
    return tuple(networks)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except Exception:  # ZoneInfoNotFoundError or a malformed key
        raise ConfigError(f"HANDOFF_TIMEZONE is not a known time zone: {name!r}") from None


def _positive_int(env: dict[str, str], name: str, default: int) -> int:
    return env_number(env, name, default, int, error=ConfigError)
