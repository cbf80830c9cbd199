"""Agent passwords (bcrypt), session tokens and CSRF tokens for the console.

The cookie holds a random token; the database keeps only its HMAC (keyed by
AGENT_SESSION_SECRET), so a copy of the sessions table cannot be replayed. CSRF tokens are
derived from the session token with the same key: no extra storage, and they die with it.
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


def csrf_token(secret: bytes, session_token: str) -> str:
    return hmac.new(secret, b"csrf:" + session_token.encode(), hashlib.sha256).hexdigest()[:40]


def csrf_matches(secret: bytes, session_token: str, presented: str | None) -> bool:
    if not presented:
        return False
    return hmac.compare_digest(csrf_token(secret, session_token), presented)


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)
