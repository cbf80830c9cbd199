"""No compressed request bodies: a request with a Content-Encoding (gzip, deflate, br, ...) gets
415 before a byte of its body is read. WeChat never compresses pushes and browsers never compress
form posts; a decompressed body is where bombs go off (61 KB of deflate -> 60 MB). The server
that runs the gateway also turns the HTTP parser's own decompression off (SERVER_OPTIONS)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web

# Keyword arguments for the aiohttp AppRunner that serves the gateway: the parser hands the
# handlers the bytes as sent, so a compressed body is never inflated, not even while discarded.
SERVER_OPTIONS: dict[str, bool] = {"auto_decompress": False}


@web.middleware
async def refuse_encoded_bodies(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    encoding = request.headers.get(hdrs.CONTENT_ENCODING, "").strip().lower()
    if encoding and encoding != "identity":
        return web.Response(status=415, text="compressed request bodies are not accepted")
    return await handler(request)
