"""Tiny server-side templating with escaping by default.

Templates are files in handoff/templates with `$name` placeholders (string.Template syntax).
Every value is HTML-escaped unless it is `Html` (markup we built ourselves from escaped parts).
"""

from __future__ import annotations

import functools
import html
import string
from pathlib import Path
from typing import Iterable

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


class Html(str):
    """A string that is already safe markup. Adding anything to it escapes the other part,
    so `Html + str` stays safe and stays `Html`."""

    def __add__(self, other: object) -> "Html":
        return Html(str.__add__(self, esc(other)))

    def __radd__(self, other: object) -> "Html":
        return Html(str.__add__(esc(other), self))


def esc(value: object) -> Html:
    if isinstance(value, Html):
        return value
    if value is None:
        return Html("")
    return Html(html.escape(str(value), quote=True))


def join(parts: Iterable[object], sep: str = "") -> Html:
    return Html(sep.join(esc(part) for part in parts))


def tag(name: str, content: object = "", /, **attributes: object) -> Html:
    """<name attr="...">content</name>; attributes with None/False are left out, True is bare."""
    rendered = []
    for key, value in attributes.items():
        if value is None or value is False:
            continue
        attr = key.rstrip("_").replace("_", "-")
        rendered.append(f" {attr}" if value is True else f' {attr}="{esc(value)}"')
    return Html(f"<{name}{''.join(rendered)}>{esc(content)}</{name}>")


def void(name: str, /, **attributes: object) -> Html:
    """A void element such as <input> or <img>."""
    return Html(tag(name, **attributes)[: -len(f"</{name}>")])


@functools.lru_cache(maxsize=None)
def _template(name: str) -> string.Template:
    return string.Template((TEMPLATE_DIR / name).read_text(encoding="utf-8"))


def render(template: str, /, **values: object) -> Html:
    escaped = {key: esc(value) for key, value in values.items()}
    return Html(_template(template).substitute(escaped))
