"""Which WeChat message carries each notice kind outside the 48-hour window, and its template data.

wechat/notices.yml says, per kind, the mechanism (a subscription notice, 订阅通知, sent with
message/subscribe/bizsend after the subscriber's consent; or a template message, 模板消息, of
service accounts), whether a consent is one-time or long-term, the template id and which
template keyword shows which field of the notice. Template ids differ per official account:
`NOTICE_TEMPLATE_<KIND>` (e.g. NOTICE_TEMPLATE_LOW_BALANCE) overrides the file's, and
`NOTICE_MECHANISM_<KIND>` its mechanism.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from core.vocabulary import NoticeChannel, NoticeKind

DEFAULT_FILE = Path(__file__).with_name("notices.yml")

# The fields each kind needs (what NoticeService.send takes; NOTICE_TEXTS in core/wording.py uses them).
NOTICE_FIELDS: dict[NoticeKind, tuple[str, ...]] = {
    NoticeKind.CALLBACK_REMINDER: ("ticket_no", "subject", "time"),
    NoticeKind.TICKET_PROGRESS: ("ticket_no", "progress"),
    NoticeKind.TICKET_RESOLVED: ("ticket_no", "result"),
    NoticeKind.LOW_BALANCE: ("phone", "balance", "cutoff"),
    NoticeKind.SUSPENSION_WARNING: ("phone", "time", "reason"),
}

# WeChat's limits on template values, by keyword type (the name without its number): longer
# values are refused with 47003, so they are cut here.
VALUE_LIMITS = {"thing": 20, "character_string": 32, "phrase": 5, "name": 10, "car_number": 8, "letter": 32}


class NoticeConfigError(ValueError):
    """wechat/notices.yml (or a NOTICE_* variable) cannot work; the message says where."""


class Consent(str, Enum):
    ONE_TIME = "one_time"  # one acceptance allows one notice
    LONG_TERM = "long_term"  # one acceptance allows notices until revoked (public-service categories only)


@dataclass(frozen=True)
class NoticeTemplate:
    kind: NoticeKind
    channel: NoticeChannel | None  # SUBSCRIBE or TEMPLATE; None: nothing outside the window
    template_id: str
    consent: Consent
    data: dict[str, str]  # template keyword -> notice field, e.g. {"thing2": "subject"}

    @property
    def usable(self) -> bool:
        return self.channel is not None and bool(self.template_id)

    def payload(self, fields: Mapping[str, str]) -> dict[str, Any]:
        """The bizsend / template/send body without "touser"."""
        data = {keyword: {"value": fit(keyword, str(fields[field]))} for keyword, field in self.data.items()}
        return {"template_id": self.template_id, "data": data}


def fit(keyword: str, value: str) -> str:
    """`value` cut to what WeChat takes for `keyword` (e.g. thing3: 20 characters)."""
    limit = VALUE_LIMITS.get(keyword.rstrip("0123456789"))
    if limit is None or len(value) <= limit:
        return value
    return value[: limit - 1] + "…"


def load_notice_templates(
    path: Path | None = None, env: Mapping[str, str] | None = None
) -> dict[NoticeKind, NoticeTemplate]:
    env = os.environ if env is None else env
    path = path or Path(env.get("NOTICES_FILE", "").strip() or DEFAULT_FILE)
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(document, dict):
        raise NoticeConfigError(f"{path}: expected one entry per notice kind")
    unknown = set(document) - {kind.value for kind in NoticeKind}
    if unknown:
        raise NoticeConfigError(f"{path}: unknown notice kinds {sorted(unknown)}")
    return {kind: _template(kind, document.get(kind.value) or {}, env, path) for kind in NoticeKind}


def _template(kind: NoticeKind, entry: dict[str, Any], env: Mapping[str, str], path: Path) -> NoticeTemplate:
    where = f"{path} ({kind.value})"
    name = kind.value.upper()
    mechanism = env.get(f"NOTICE_MECHANISM_{name}", "").strip() or str(entry.get("mechanism") or "none")
    channels = {"subscribe": NoticeChannel.SUBSCRIBE, "template": NoticeChannel.TEMPLATE, "none": None}
    if mechanism not in channels:
        raise NoticeConfigError(f"{where}: mechanism must be subscribe, template or none, got {mechanism!r}")
    try:
        consent = Consent(str(entry.get("consent") or Consent.ONE_TIME.value))
    except ValueError:
        raise NoticeConfigError(f"{where}: consent must be one_time or long_term") from None
    data = entry.get("data") or {}
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise NoticeConfigError(f"{where}: data maps template keywords to notice fields")
    missing = set(data.values()) - set(NOTICE_FIELDS[kind])
    if missing:
        raise NoticeConfigError(f"{where}: {sorted(missing)} are not fields of this notice {NOTICE_FIELDS[kind]}")
    template_id = env.get(f"NOTICE_TEMPLATE_{name}", "").strip() or str(entry.get("template_id") or "")
    channel = channels[mechanism]
    if channel is not None and template_id and not data:
        raise NoticeConfigError(f"{where}: a template needs its data keywords")
    return NoticeTemplate(kind, channel, template_id, consent, {str(k): v for k, v in data.items()})
