"""Gateway settings, read once from the environment (documented in the README configuration table)."""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from pathlib import Path

from core.db import PROJECT_ROOT, database_url
from core.env import SettingsError, env_number
from core.local_secrets import RASA_AUTH_TOKEN, local_secret
from core.redis_store import redis_url
from wechat.notice_templates import DEFAULT_FILE as DEFAULT_NOTICES_FILE
from wechat.pay import PayConfig

WECHAT_API = "https://api.weixin.qq.com"
DEV_TOKEN = "csbot-dev-token"


@dataclass(frozen=True)
class Settings:
    wechat_token: str = DEV_TOKEN
    app_id: str = "wxcsbotdev0000000"
    app_secret: str = "csbot-dev-secret"
    aes_key: str | None = None  # None: plain mode only
    require_aes: bool = True  # with aes_key: safe mode, plain pushes refused (False: compatible mode)
    api_base: str = WECHAT_API
    database_url: str = ""
    redis_url: str | None = None  # None: in-process stand-in (one worker only)
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_token: str | None = None  # Rasa's --auth-token for its HTTP API (tracker, events)
    actions_url: str | None = "http://127.0.0.1:5055/webhook"  # the action server, for health checks
    host: str = "0.0.0.0"
    port: int = 8080
    internal_host: str = "127.0.0.1"  # /metrics and health details (gateway/internal.py)
    internal_port: int = 9180
    passive_budget_s: float = 4.0  # WeChat gives up after 5 s: answer passively only within this
    rasa_timeout_s: float = 30.0
    max_body_bytes: int = 64 * 1024
    replay_window_s: int = 300
    outbox_lease_s: float = 30.0  # a row claimed by a sender that died is retried after this
    outbox_poll_s: float = 0.5
    inbox_lease_s: float = 90.0  # same for an inbound message whose worker died mid-dialogue
    retry_poll_s: float = 2.0
    hooks: str = "auto"  # "auto": handoff/ and voice/ services when installed; "builtin": the gateway's defaults
    menu_path: Path = PROJECT_ROOT / "wechat" / "menu.yml"
    notices_path: Path = DEFAULT_NOTICES_FILE  # how each notice kind goes out outside the window
    pay: PayConfig | None = None  # None: WECHATPAY_* variables, else keys kept in var/ (wechat/pay_keys.py)

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        settings = cls(
            wechat_token=_text(env, "WECHAT_TOKEN", DEV_TOKEN),
            app_id=_text(env, "WECHAT_APP_ID", cls.app_id),
            app_secret=_text(env, "WECHAT_APP_SECRET", cls.app_secret),
            aes_key=_text(env, "WECHAT_AES_KEY", "") or None,
            require_aes=_flag(env, "WECHAT_REQUIRE_AES", True),
            api_base=_text(env, "WECHAT_API_BASE", WECHAT_API).rstrip("/"),
            database_url=database_url(),
            redis_url=redis_url(),
            rasa_url=_text(env, "RASA_URL", cls.rasa_url).rstrip("/"),
            rasa_token=local_secret(RASA_AUTH_TOKEN, env),
            actions_url=_text(env, "ACTION_ENDPOINT_URL", cls.actions_url or ""),
            host=_text(env, "GATEWAY_HOST", cls.host),
            port=env_number(env, "PORT", cls.port, int, minimum=0),
            internal_host=_text(env, "INTERNAL_HOST", cls.internal_host),
            internal_port=env_number(env, "INTERNAL_PORT", cls.internal_port, int, minimum=0),
            passive_budget_s=env_number(env, "PASSIVE_REPLY_BUDGET_S", cls.passive_budget_s, float, maximum=4.8),
            rasa_timeout_s=env_number(env, "RASA_TIMEOUT_S", cls.rasa_timeout_s, float),
            max_body_bytes=env_number(env, "WECHAT_MAX_BODY_BYTES", cls.max_body_bytes, int, minimum=1024),
            outbox_lease_s=env_number(env, "OUTBOX_LEASE_S", cls.outbox_lease_s, float),
            inbox_lease_s=env_number(env, "INBOX_LEASE_S", cls.inbox_lease_s, float),
            hooks=_choice(env, "GATEWAY_HOOKS", cls.hooks, ("auto", "builtin")),
            notices_path=Path(_text(env, "NOTICES_FILE", str(DEFAULT_NOTICES_FILE))),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.aes_key is not None:
            check_aes_key(self.aes_key)
        if self.inbox_lease_s <= self.rasa_timeout_s:
            raise SettingsError("INBOX_LEASE_S must be longer than RASA_TIMEOUT_S")


def check_aes_key(key: str) -> None:
    """WeChat's EncodingAESKey: 43 characters of base64 that decode to 32 bytes."""
    try:
        decoded = base64.b64decode(key + "=", validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if len(key) != 43 or len(decoded) != 32:
        raise SettingsError("WECHAT_AES_KEY must be the 43-character EncodingAESKey from the WeChat console")


def _text(env: os._Environ[str] | dict[str, str], name: str, default: str) -> str:
    return env.get(name, "").strip() or default


def _flag(env: os._Environ[str] | dict[str, str], name: str, default: bool) -> bool:
    value = _text(env, name, "1" if default else "0").lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be 1 or 0, got {value!r}")


def _choice(env: os._Environ[str] | dict[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _text(env, name, default)
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value
