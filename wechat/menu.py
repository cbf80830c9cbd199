"""The custom menu: wechat/menu.yml, its CLICK keys -> Rasa intent triggers, and the body WeChat takes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

MAX_TOP_LEVEL = 3
MAX_SUB = 5


class MenuError(ValueError):
    """The menu file breaks one of WeChat's rules (the message says which)."""


@dataclass(frozen=True)
class Menu:
    wechat_body: dict[str, Any]  # what /cgi-bin/menu/create takes
    intents: dict[str, str]  # CLICK key -> Rasa intent trigger, e.g. "CHECK_BALANCE" -> "/check_balance"


def load_menu(path: Path) -> Menu:
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    buttons = document.get("button")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= MAX_TOP_LEVEL:
        raise MenuError(f"{path}: 'button' must list 1 to {MAX_TOP_LEVEL} buttons")
    intents: dict[str, str] = {}
    body = {"button": [_button(item, intents, top_level=True) for item in buttons]}
    return Menu(wechat_body=body, intents=intents)


def _button(item: Any, intents: dict[str, str], top_level: bool) -> dict[str, Any]:
    if not isinstance(item, dict) or not item.get("name"):
        raise MenuError(f"every button needs a name: {item!r}")
    name = str(item["name"])
    if len(name.encode("utf-8")) > (16 if top_level else 60):
        raise MenuError(f"button name too long for WeChat: {name}")
    if "sub_button" in item:
        subs = item["sub_button"]
        if not top_level or not isinstance(subs, list) or not 1 <= len(subs) <= MAX_SUB:
            raise MenuError(f"{name}: sub_button must be a list of 1 to {MAX_SUB} buttons under a top-level one")
        return {"name": name, "sub_button": [_button(sub, intents, top_level=False) for sub in subs]}
    kind = item.get("type")
    if kind == "click":
        key = str(item.get("key") or "")
        intent = str(item.get("intent") or "")
        if not key or not intent.startswith("/"):
            raise MenuError(f"{name}: a click button needs a key and an intent like /check_balance")
        if key in intents:
            raise MenuError(f"duplicate menu key {key}")
        intents[key] = intent
        return {"type": "click", "name": name, "key": key}
    if kind == "view":
        return {"type": "view", "name": name, "url": str(item.get("url") or "")}
    raise MenuError(f"{name}: unsupported button type {kind!r}")
