"""Agent passwords (bcrypt), session tokens and CSRF tokens for the console.

The (encrypted) session cookie holds a random token; the database keeps only its HMAC (keyed
by AGENT_SESSION_SECRET), so a copy of the sessions table cannot be replayed. The CSRF token
is random too and lives in the same session cookie: it dies with the session.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import secrets

import bcrypt

MIN_PASSWORD_LENGTH = 8
ROLES = ("agent", "supervisor")


class WeakPassword(ValueError):
    pass


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password.encode()) > 72:
        raise WeakPassword("password must be at most 72 bytes (bcrypt's limit)")


def hash_password(password: str) -> str:
    check_password_rules(password)
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()


def password_matches(password: str, password_hash: str) -> bool:
    encoded = password.encode()
    if len(encoded) > 72:
        return False
    try:
        return bcrypt.checkpw(encoded, password_hash.encode())
    except ValueError:
        return False


async def password_matches_async(password: str, password_hash: str) -> bool:
    # bcrypt costs ~0.2 s of CPU on purpose: keep it off the event loop
    return await asyncio.to_thread(password_matches, password, password_hash)


@functools.lru_cache(maxsize=1)
def dummy_hash() -> str:
    """A real hash to check against when the name is unknown, so timing does not reveal names."""
    return bcrypt.hashpw(b"not-a-real-password", bcrypt.gensalt()).decode()


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(secret: bytes, token: str) -> str:
    return hmac.new(secret, b"session:" + token.encode(), hashlib.sha256).hexdigest()


def new_csrf_token() -> str:
    """Kept in the agent's session cookie; every form and fetch of that session presents it."""
    return secrets.token_hex(20)


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)
