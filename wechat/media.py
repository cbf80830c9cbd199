"""Download a voice note through WeChat's temporary-media API.

`GET {api_base}/cgi-bin/media/get?access_token=..&media_id=..` answers with the audio bytes, or
with a JSON error body *served with HTTP 200* (e.g. {"errcode":40007,"errmsg":"invalid media_id"}).
We check both the content type and the bytes (AMR starts with "#!AMR"), so an error is never
stored as audio. The access token comes from `wechat.api.AccessTokens`, handed in as a `token_provider`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

log = logging.getLogger(__name__)

TokenProvider = Callable[[], Awaitable[str]]
TokenInvalidator = Callable[[str], Awaitable[None]]

# errcode values of our own (WeChat's are positive): the reason is in errmsg.
NETWORK_ERROR = -1
TOO_LARGE = -2
NOT_AUDIO = -3
HTTP_ERROR = -4
EMPTY_BODY = -5

_TOKEN_ERRCODES = {40001, 40014, 42001}  # invalid / malformed / expired access token


class MediaError(Exception):
    """The media API did not give us the audio; errcode/errmsg say why (WeChat's own or ours)."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode} {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg

    def describe(self) -> str:
        return f"media_error: {self.errcode} {self.errmsg}"


@dataclass(frozen=True)
class MediaPayload:
    data: bytes
    content_type: str


class MediaClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        api_base: str,
        token_provider: TokenProvider,
        *,
        token_invalidator: TokenInvalidator | None = None,
        max_bytes: int = 5 * 1024 * 1024,
        timeout_seconds: float = 15.0,
    ) -> None:
        self._session = session
        self._api_base = api_base.rstrip("/")
        self._token_provider = token_provider
        self._token_invalidator = token_invalidator
        self._max_bytes = max_bytes
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    async def fetch(self, media_id: str, declared_format: str | None = "amr") -> MediaPayload:
        token = await self._access_token()
        try:
            return await self._fetch_once(media_id, token, declared_format)
        except MediaError as exc:
            if exc.errcode not in _TOKEN_ERRCODES or self._token_invalidator is None:
                raise
            log.warning("media/get refused the access token (%s): refreshing it and retrying once", exc)
            await self._token_invalidator(token)
            return await self._fetch_once(media_id, await self._access_token(), declared_format)

    async def _access_token(self) -> str:
        try:
            return await self._token_provider()
        except Exception as exc:  # the gateway's token errors are its own types: report them as ours
            errcode = getattr(exc, "errcode", NETWORK_ERROR)
            raise MediaError(int(errcode), f"no access token: {exc}") from exc

    async def _fetch_once(self, media_id: str, token: str, declared_format: str | None) -> MediaPayload:
        url = f"{self._api_base}/cgi-bin/media/get"
        try:
            async with self._session.get(
                url, params={"access_token": token, "media_id": media_id}, timeout=self._timeout
            ) as response:
                content_type = response.headers.get("Content-Type", "")
                body = await self._read_limited(response)
                status = response.status
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise MediaError(NETWORK_ERROR, f"media/get failed: {type(exc).__name__} {exc}".strip()) from exc
        return _interpret(status, content_type, body, declared_format)

    async def _read_limited(self, response: aiohttp.ClientResponse) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > self._max_bytes:
                raise MediaError(TOO_LARGE, f"media larger than {self._max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


def _interpret(status: int, content_type: str, body: bytes, declared_format: str | None) -> MediaPayload:
    error = _json_error(content_type, body)
    if error is not None:
        raise error
    if status != 200:
        raise MediaError(HTTP_ERROR, f"media/get answered HTTP {status}")
    if not body:
        raise MediaError(EMPTY_BODY, "media/get answered with an empty body")
    if (declared_format or "amr").lower() == "amr" and not body.startswith(b"#!AMR"):
        preview = body[:16].hex()
        raise MediaError(NOT_AUDIO, f"expected AMR audio, got {content_type or 'no content type'} ({preview}…)")
    return MediaPayload(data=body, content_type=content_type)


def _json_error(content_type: str, body: bytes) -> MediaError | None:
    looks_like_json = "json" in content_type.lower() or body.lstrip()[:1] == b"{"
    if not looks_like_json:
        return None
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return MediaError(NOT_AUDIO, f"media/get answered {content_type or 'text'} that is neither audio nor JSON")
    if not isinstance(payload, dict):
        return MediaError(NOT_AUDIO, "media/get answered JSON that is not an error object")
    errcode = int(payload.get("errcode", NOT_AUDIO) or NOT_AUDIO)
    errmsg = str(payload.get("errmsg", "JSON body instead of audio"))
    return MediaError(errcode, errmsg)
