"""Shared secrets of one machine's processes, configured or generated once into the var directory.

A fresh machine needs no configuration: the first process that needs a secret generates it and
writes it atomically with mode 0600 (written under a temporary name, then hard-linked into
place, so no process ever reads a half-written or world-readable file, and when two processes
race, both use the one that was linked first). Set the variable on every machine when processes
run on more than one.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path

from core.db import var_dir

RASA_AUTH_TOKEN = ("RASA_AUTH_TOKEN", "rasa_auth_token")
ACTION_SERVER_TOKEN = ("ACTION_SERVER_TOKEN", "action_server_token")
AGENT_SESSION_SECRET = ("AGENT_SESSION_SECRET", "agent_session_secret")


def local_secret(
    spec: tuple[str, str],
    env: Mapping[str, str] | None = None,
    generate: Callable[[], str] = lambda: secrets.token_urlsafe(32),
) -> str:
    """The value of the variable `spec[0]`, else the secret kept in var/`spec[1]` (made by
    `generate` if missing: by default 43 random URL-safe characters)."""
    variable, filename = spec
    configured = (env if env is not None else os.environ).get(variable, "").strip()
    if configured:
        return configured
    return stored_secret(var_dir() / filename, generate)


def stored_secret(path: Path, generate: Callable[[], str] = lambda: secrets.token_urlsafe(32)) -> str:
    """The secret kept in `path`, written atomically (mode 0600) by `generate` if missing."""
    if not path.exists():
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(generate())
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, path)  # atomic; fails if another process was first
            except FileExistsError:
                pass
        finally:
            temporary.unlink(missing_ok=True)
    value = path.read_text(encoding="ascii").strip()
    if not value:
        raise RuntimeError(f"{path} is empty: delete it to have a new secret generated")
    return value
