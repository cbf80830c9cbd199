"""Typed readers of environment variables, shared by every area's settings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

NumberT = TypeVar("NumberT", int, float)


class SettingsError(ValueError):
    """A configuration value that cannot work; the message names the variable."""


def env_number(
    env: Mapping[str, str],
    name: str,
    default: NumberT,
    kind: Callable[[str], NumberT],
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    error: type[ValueError] = SettingsError,
) -> NumberT:
    """A number from the environment, or `default` when unset. `minimum` is inclusive; without
    one the value must be positive. Each area passes its own `error` type."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise error(f"{name} must be {what}, got {raw!r}") from None
    if (minimum is None and value <= 0) or (minimum is not None and value < minimum):
        bound = "positive" if minimum is None else f"at least {minimum}"
        raise error(f"{name} must be {bound}, got {raw!r}")
    if maximum is not None and value > maximum:
        raise error(f"{name} must be at most {maximum}, got {raw!r}")
    return value
