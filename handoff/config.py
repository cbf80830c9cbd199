"""Settings of the handoff area, read from the environment (defaults documented in the README)."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from core.db import var_dir
from core.env import env_number


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

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "HandoffSettings":
        env = dict(os.environ if env is None else env)
        return cls(
            service_hours=ServiceHours.parse(env.get("SERVICE_HOURS", "08:00-20:00")),
            timezone=_zone(env.get("HANDOFF_TIMEZONE", "Asia/Shanghai")),
            max_wait_minutes=_positive_int(env, "MAX_WAIT_MINUTES", 10),
            callback_promise_hours=_positive_int(env, "CALLBACK_PROMISE_HOURS", 2),
            elder_age=_positive_int(env, "ELDER_AGE", 65),
            session_secret=_session_secret(env.get("AGENT_SESSION_SECRET", "")),
            session_hours=_positive_int(env, "AGENT_SESSION_HOURS", 12),
            cookie_secure=env.get("AGENT_COOKIE_SECURE", "0").strip().lower() in {"1", "true", "yes"},
            sweep_seconds=float(_positive_int(env, "HANDOFF_SWEEP_SECONDS", 15)),
        )


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except Exception:  # ZoneInfoNotFoundError or a malformed key
        raise ConfigError(f"HANDOFF_TIMEZONE is not a known time zone: {name!r}") from None


def _positive_int(env: dict[str, str], name: str, default: int) -> int:
    return env_number(env, name, default, int, error=ConfigError)


def _session_secret(configured: str) -> bytes:
    # Workers on one machine must agree on the secret (it keys session and CSRF digests),
    # so without configuration it is generated once and kept in the var directory.
    if configured.strip():
        return configured.strip().encode()
    path = var_dir() / "agent_session_secret"
    if not path.exists():
        candidate = secrets.token_hex(32)
        try:
            with open(path, "x", encoding="ascii") as handle:
                handle.write(candidate)
            os.chmod(path, 0o600)
        except FileExistsError:
            pass  # another worker wrote it first: use theirs
    return path.read_text(encoding="ascii").strip().encode()
