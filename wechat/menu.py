"""The custom menu: wechat/menu.yml, its CLICK keys -> Rasa intent triggers, and the body WeChat takes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

# The user tag of elderly subscribers (handoff/elder_tags.py tags them; menu.yml's elder menu
# matches it).
ELDER_TAG = "长者服务"
MAX_TOP_LEVEL = 3
MAX_SUB = 5


class MenuError(ValueError):
    """The menu file breaks one of WeChat's rules (the message says which)."""


@dataclass(frozen=True)
class ConditionalMenu:
    """A menu WeChat shows only to followers carrying a user tag (menu/addconditional)."""

    tag: str  # the user tag's name, created with tags/create when missing
    wechat_body: dict[str, Any]  # the buttons; the matchrule is added when publishing


@dataclass(frozen=True)
class Menu:
    wechat_body: dict[str, Any]  # what /cgi-bin/menu/create takes
    intents: dict[str, str]  # CLICK key -> Rasa intent trigger, e.g. "CHECK_BALANCE" -> "/check_balance"
    conditional: tuple[ConditionalMenu, ...] = ()


def load_menu(path: Path) -> Menu:
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    intents: dict[str, str] = {}
    body = _menu_body(document.get("button"), intents, str(path))
    conditional = []
    for item in document.get("conditional") or []:
        if not isinstance(item, dict) or not str(item.get("tag") or "").strip():
            raise MenuError(f"{path}: every conditional menu needs a user tag name")
        tag = str(item["tag"]).strip()
        conditional.append(
            ConditionalMenu(tag=tag, wechat_body=_menu_body(item.get("button"), intents, f"{path} ({tag})"))
        )
    return Menu(wechat_body=body, intents=intents, conditional=tuple(conditional))


def _menu_body(buttons: Any, intents: dict[str, str], where: str) -> dict[str, Any]:
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= MAX_TOP_LEVEL:
        raise MenuError(f"{where}: 'button' must list 1 to {MAX_TOP_LEVEL} buttons")
    keys_here: set[str] = set()
    return {"button": [_button(item, intents, top_level=True, keys_here=keys_here) for item in buttons]}


def _button(item: Any, intents: dict[str, str], top_level: bool, keys_here: set[str]) -> dict[str, Any]:
    if not isinstance(item, dict) or not item.get("name"):
        raise MenuError(f"every button needs a name: {item!r}")
    name = str(item["name"])
    if len(name.encode("utf-8")) > (16 if top_level else 60):
        raise MenuError(f"button name too long for WeChat: {name}")
    if "sub_button" in item:
        subs = item["sub_button"]
        if not top_level or not isinstance(subs, list) or not 1 <= len(subs) <= MAX_SUB:
            raise MenuError(f"{name}: sub_button must be a list of 1 to {MAX_SUB} buttons under a top-level one")
        return {"name": name, "sub_button": [_button(sub, intents, False, keys_here) for sub in subs]}
    kind = item.get("type")
    if kind == "click":
        key = str(item.get("key") or "")
        intent = str(item.get("intent") or "")
        if not key or not intent.startswith("/"):
            raise MenuError(f"{name}: a click button needs a key and an intent like /check_balance")
        # a key may appear in several menus (the elder menu reuses 充话费's), always for one intent
        if key in keys_here or intents.get(key, intent) != intent:
            raise MenuError(f"duplicate menu key {key}")
        keys_here.add(key)
        intents[key] = intent
        return {"type": "click", "name": name, "key": key}
    if kind == "view":
        return {"type": "view", "name": name, "url": str(item.get("url") or "")}
    raise MenuError(f"{name}: unsupported button type {kind!r}")


class MenuApi(Protocol):
    async def delete_menus(self) -> None: ...

    async def create_menu(self, menu: dict[str, Any]) -> None: ...

    async def ensure_tag(self, name: str) -> int: ...

    async def add_conditional_menu(self, menu: dict[str, Any], tag_id: int) -> str: ...


async def publish_menu(api: MenuApi, menu: Menu) -> dict[str, str]:
    """Publish the default menu and every conditional menu (tag name -> WeChat's menuid).

    menu/delete first removes the old conditional menus too, so publishing twice does not
    leave two elder menus behind; the tags themselves are kept (they carry the tagged users).
    """
    if menu.conditional:
        await api.delete_menus()
    await api.create_menu(menu.wechat_body)
    published: dict[str, str] = {}
    for conditional in menu.conditional:
        tag_id = await api.ensure_tag(conditional.tag)
        published[conditional.tag] = await api.add_conditional_menu(conditional.wechat_body, tag_id)
    return published
