"""Client of WeChat's server API (customer-service send, media upload, subscription notices and
template messages, menu, user tags), with the shared access_token.

The access_token comes from `/cgi-bin/stable_token`, which (unlike `/cgi-bin/token`) does not
invalidate the token other workers hold. It is cached in Redis for every worker; one Redis lock
(plus one in-process lock, so a process queues on Redis only once) makes a crowd of senders with
an expired token cause a single fetch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from core.locks import RedisLock, if_value_is
from core.metrics import Counter
from core.redis_store import as_text

log = logging.getLogger(__name__)

# 40001 invalid credential, 40014 invalid access_token, 42001 access_token expired.
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
TOKEN_SAFETY_MARGIN_S = 300


NO_CONSENT = 43101  # subscribe/bizsend: the subscriber has not accepted (or has revoked) this template
MEDIA_TYPES = frozenset({"image", "voice", "video", "thumb"})
TAG_NAME_TAKEN = 45157  # tags/create: a tag with this name exists
TAGGING_BATCH = 50  # batchtagging takes at most 50 openids per call


class WeChatApiError(Exception):
    """WeChat answered with a non-zero errcode."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode} {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class WeChatUnavailable(Exception):
    """Network error, timeout or HTTP 5xx: worth retrying later."""


class AccessTokens:
    """`get()` and `invalidate(token)`: also the token provider/invalidator pair voice/ downloads media with."""

    def __init__(
        self,
        redis: aioredis.Redis,
        http: aiohttp.ClientSession,
        api_base: str,
        app_id: str,
        app_secret: str,
        fetch_counter: Counter | None = None,
    ) -> None:
        self._redis = redis
        self._http = http
        self._api_base = api_base
        self._app_id = app_id
        self._app_secret = app_secret
        self._fetch_counter = fetch_counter
        self._cache_key = f"gw:token:{app_id}"
        self._local_lock = asyncio.Lock()
        self._last_rejected: str | None = None

    async def get(self) -> str:
        token = await self._redis.get(self._cache_key)
        if token:
            return as_text(token)
        async with self._local_lock:
            async with RedisLock(self._redis, f"gw:token-lock:{self._app_id}", ttl_s=30).waiting(35):
                token = await self._redis.get(self._cache_key)
                if token:
                    return as_text(token)
                return await self._refresh()

    async def invalidate(self, token: str) -> None:
        """WeChat refused `token`: drop it from the shared cache unless someone already replaced it."""
        self._last_rejected = token
        await if_value_is(self._redis, self._cache_key, token, lambda pipe: pipe.delete(self._cache_key))

    async def _refresh(self) -> str:
        token, expires_in = await self._fetch(force_refresh=False)
        if token == self._last_rejected:
            # The stable token itself was refused (e.g. reset in the console): ask for a new one.
            token, expires_in = await self._fetch(force_refresh=True)
        await self._redis.set(self._cache_key, token, ex=max(60, expires_in - TOKEN_SAFETY_MARGIN_S))
        return token

    async def _fetch(self, force_refresh: bool) -> tuple[str, int]:
        if self._fetch_counter is not None:
            self._fetch_counter.inc()
        body = {
            "grant_type": "client_credential",
            "appid": self._app_id,
            "secret": self._app_secret,
            "force_refresh": force_refresh,
        }
        data = await _request_json(self._http, "POST", f"{self._api_base}/cgi-bin/stable_token", json=body)
        if data.get("errcode"):
            raise WeChatApiError(int(data["errcode"]), str(data.get("errmsg", "")))
        log.info("fetched a new access_token (force_refresh=%s)", force_refresh)
        return str(data["access_token"]), int(data.get("expires_in", 7200))


class WeChatApi:
    def __init__(self, http: aiohttp.ClientSession, api_base: str, tokens: AccessTokens) -> None:
        self._http = http
        self._api_base = api_base
        self.tokens = tokens

    async def send_custom_message(self, openid: str, message: dict[str, Any]) -> None:
        await self._call("/cgi-bin/message/custom/send", {"touser": openid, **message})

    # ---- notices outside the 48-hour window --------------------------------------------------

    async def send_subscribe_notice(self, openid: str, notice: dict[str, Any]) -> str | None:
        """A subscription notice (订阅通知, message/subscribe/bizsend): `notice` holds template_id,
        data and optionally page. WeChatApiError(43101) when the subscriber has not consented.
        Returns WeChat's msgid when it gives one (subscribe_msg_sent_event reports it later)."""
        data = await self._call("/cgi-bin/message/subscribe/bizsend", {"touser": openid, **notice})
        return str(data["msgid"]) if data.get("msgid") is not None else None

    async def send_template_message(self, openid: str, message: dict[str, Any]) -> str | None:
        """A template message (模板消息, message/template/send): `message` holds template_id, data
        and optionally url and client_msg_id (WeChat sends one message per openid and client_msg_id,
        so a retry after an unanswered call does not send twice). Returns WeChat's msgid."""
        data = await self._call("/cgi-bin/message/template/send", {"touser": openid, **message})
        return str(data["msgid"]) if data.get("msgid") is not None else None

    async def upload_media(self, data: bytes, *, media_type: str = "voice", filename: str = "reply.amr",
                           content_type: str = "audio/amr") -> str:  # fmt: skip
        """Temporary media (kept 3 days by WeChat) for a customer-service message; returns its media_id.
        Voice: AMR or MP3, at most 2 MB and 60 s."""
        if media_type not in MEDIA_TYPES:
            raise ValueError(f"media_type must be one of {sorted(MEDIA_TYPES)}, got {media_type!r}")

        def form() -> aiohttp.FormData:  # a FormData is consumed by one request: one per attempt
            body = aiohttp.FormData()
            body.add_field("media", data, filename=filename, content_type=content_type)
            return body

        result = await self._call("/cgi-bin/media/upload", None, params={"type": media_type}, form=form)
        return str(result["media_id"])

    async def create_menu(self, menu: dict[str, Any]) -> None:
        await self._call("/cgi-bin/menu/create", menu)

    async def delete_menus(self) -> None:
        """Deletes the default menu and every conditional menu (so a publish starts clean)."""
        await self._call("/cgi-bin/menu/delete", None)

    async def add_conditional_menu(self, menu: dict[str, Any], tag_id: int) -> str:
        """A menu shown to followers carrying the user tag `tag_id`; returns WeChat's menuid."""
        data = await self._call("/cgi-bin/menu/addconditional", {**menu, "matchrule": {"tag_id": str(tag_id)}})
        return str(data.get("menuid", ""))

    # ---- user tags (用户标签管理) ---------------------------------------------------------------

    async def list_tags(self) -> dict[str, int]:
        data = await self._call("/cgi-bin/tags/get", None, method="GET")
        return {str(tag["name"]): int(tag["id"]) for tag in data.get("tags") or []}

    async def ensure_tag(self, name: str) -> int:
        """The id of the tag called `name`, created when it does not exist yet."""
        existing = await self.list_tags()
        if name in existing:
            return existing[name]
        try:
            data = await self._call("/cgi-bin/tags/create", {"tag": {"name": name}})
        except WeChatApiError as exc:
            if exc.errcode != TAG_NAME_TAKEN:
                raise
            return (await self.list_tags())[name]  # created meanwhile by another worker
        return int(data["tag"]["id"])

    async def tag_users(self, tag_id: int, openids: list[str]) -> None:
        for start in range(0, len(openids), TAGGING_BATCH):
            batch = openids[start : start + TAGGING_BATCH]
            await self._call("/cgi-bin/tags/members/batchtagging", {"openid_list": batch, "tagid": tag_id})

    async def untag_users(self, tag_id: int, openids: list[str]) -> None:
        for start in range(0, len(openids), TAGGING_BATCH):
            batch = openids[start : start + TAGGING_BATCH]
            await self._call("/cgi-bin/tags/members/batchuntagging", {"openid_list": batch, "tagid": tag_id})

    async def _call(
        self,
        path: str,
        body: dict[str, Any] | None,
        method: str = "POST",
        *,
        params: dict[str, str] | None = None,
        form: Callable[[], aiohttp.FormData] | None = None,
    ) -> dict[str, Any]:
        """POST (or GET) with the access token, a JSON body or a multipart `form`; a refused token is
        refreshed and the call retried once."""
        for attempt in (1, 2):
            token = await self.tokens.get()
            kwargs: dict[str, Any] = {"params": {**(params or {}), "access_token": token}}
            if body is not None:
                kwargs["json"] = body
            if form is not None:
                kwargs["data"] = form()
            data = await _request_json(self._http, method, f"{self._api_base}{path}", **kwargs)
            errcode = int(data.get("errcode", 0) or 0)
            if errcode in TOKEN_ERRORS and attempt == 1:
                await self.tokens.invalidate(token)
                continue
            if errcode:
                raise WeChatApiError(errcode, str(data.get("errmsg", "")))
            return data
        raise AssertionError("unreachable")


async def _request_json(http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
    try:
        async with http.request(method, url, **kwargs) as response:
            _raise_for_server_error(response)
            data = await response.json(content_type=None)
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
        raise WeChatUnavailable(f"{url.split('?')[0]}: {type(exc).__name__}") from exc
    if not isinstance(data, dict):
        raise WeChatUnavailable(f"{url}: unexpected answer")
    return data


def _raise_for_server_error(response: aiohttp.ClientResponse) -> None:
    if response.status >= 500:
        raise WeChatUnavailable(f"HTTP {response.status}")
    if response.status >= 400:
        raise WeChatApiError(-response.status, f"HTTP {response.status}")
