"""Downloading voice notes from the media API (a loopback stand-in for WeChat's server)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from wechat.media import NETWORK_ERROR, NOT_AUDIO, TOO_LARGE, MediaClient, MediaError

AMR = b"#!AMR\n" + b"\x3c" + bytes(31)


def media_app(behaviour: Callable[[web.Request], web.Response], calls: list[dict[str, Any]]) -> web.Application:
    async def media_get(request: web.Request) -> web.Response:
        calls.append(dict(request.query))
        return behaviour(request)

    app = web.Application()
    app.router.add_get("/cgi-bin/media/get", media_get)
    return app


def json_error(errcode: int, errmsg: str, content_type: str = "application/json") -> web.Response:
    return web.Response(body=json.dumps({"errcode": errcode, "errmsg": errmsg}).encode(), content_type=content_type)


async def client_for(aiohttp_server, behaviour, calls, **kwargs) -> tuple[MediaClient, aiohttp.ClientSession]:
    server = await aiohttp_server(media_app(behaviour, calls))
    session = aiohttp.ClientSession()
    tokens = iter(["token-1", "token-2", "token-3"])

    async def token_provider() -> str:
        return next(tokens)

    return MediaClient(session, str(server.make_url("")), token_provider, **kwargs), session


async def test_audio_is_returned_with_its_content_type(aiohttp_server) -> None:
    calls: list[dict[str, Any]] = []
    client, session = await client_for(
        aiohttp_server, lambda _: web.Response(body=AMR, content_type="audio/amr"), calls
    )
    async with session:
        payload = await client.fetch("MEDIA-1", "amr")
    assert payload.data == AMR and payload.content_type == "audio/amr"
    assert calls == [{"access_token": "token-1", "media_id": "MEDIA-1"}]


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
async def test_json_error_with_http_200_is_a_media_error(aiohttp_server, content_type: str) -> None:
    calls: list[dict[str, Any]] = []
    client, session = await client_for(
        aiohttp_server, lambda _: json_error(40007, "invalid media_id", content_type), calls
    )
    async with session:
        with pytest.raises(MediaError) as caught:
            await client.fetch("MEDIA-BAD", "amr")
    assert caught.value.errcode == 40007
    assert caught.value.errmsg == "invalid media_id"
    assert caught.value.describe() == "media_error: 40007 invalid media_id"


async def test_non_audio_body_is_refused(aiohttp_server) -> None:
    client, session = await client_for(
        aiohttp_server, lambda _: web.Response(text="<html>busy</html>", content_type="text/html"), []
    )
    async with session:
        with pytest.raises(MediaError) as caught:
            await client.fetch("MEDIA-HTML", "amr")
    assert caught.value.errcode == NOT_AUDIO
    assert "expected AMR" in caught.value.errmsg


async def test_http_error_and_oversized_bodies(aiohttp_server) -> None:
    client, session = await client_for(aiohttp_server, lambda _: web.Response(status=502, body=b"bad gateway"), [])
    async with session:
        with pytest.raises(MediaError, match="HTTP 502"):
            await client.fetch("MEDIA-502", "amr")

    client, session = await client_for(
        aiohttp_server, lambda _: web.Response(body=AMR * 1000, content_type="audio/amr"), [], max_bytes=4096
    )
    async with session:
        with pytest.raises(MediaError) as caught:
            await client.fetch("MEDIA-BIG", "amr")
    assert caught.value.errcode == TOO_LARGE


async def test_refused_token_is_invalidated_and_retried_once(aiohttp_server) -> None:
    calls: list[dict[str, Any]] = []

    def behaviour(request: web.Request) -> web.Response:
        if request.query["access_token"] == "token-1":
            return json_error(40001, "invalid credential")
        return web.Response(body=AMR, content_type="audio/amr")

    invalidated: list[str] = []

    async def invalidate(token: str) -> None:
        invalidated.append(token)

    client, session = await client_for(aiohttp_server, behaviour, calls, token_invalidator=invalidate)
    async with session:
        payload = await client.fetch("MEDIA-2", "amr")
    assert payload.data == AMR and payload.content_type == "audio/amr"
    assert invalidated == ["token-1"]
    assert [call["access_token"] for call in calls] == ["token-1", "token-2"]


async def test_unreachable_server_and_token_failure_are_media_errors() -> None:
    async def token_provider() -> str:
        return "t"

    async with aiohttp.ClientSession() as session:
        client = MediaClient(session, "http://127.0.0.1:9", token_provider, timeout_seconds=2)
        with pytest.raises(MediaError) as caught:
            await client.fetch("MEDIA-3", "amr")
        assert caught.value.errcode == NETWORK_ERROR

        async def broken_tokens() -> str:
            raise RuntimeError("stable_token unreachable")

        client = MediaClient(session, "http://127.0.0.1:9", broken_tokens)
        with pytest.raises(MediaError, match="no access token"):
            await client.fetch("MEDIA-4", "amr")
