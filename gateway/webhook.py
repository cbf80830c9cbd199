"""GET/POST /wechat: WeChat's server verification and its pushes."""

from __future__ import annotations

import logging
import time

from aiohttp import web

from core.redact import mask_msg_key
from gateway.intake import NEW, SPOOLED, StorageUnavailable
from gateway.replay import ReplayedPush
from gateway.runtime import RUNTIME
from wechat.protocol import PushRejected

log = logging.getLogger(__name__)

SUCCESS = "success"  # stops WeChat's retries; the reply, if any, comes through the API


async def verify_server(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    try:
        echostr = runtime.protocol.verify_server(request.query)
    except PushRejected as rejected:
        log.warning("server verification refused: %s", rejected.reason)
        return web.Response(status=rejected.status, text=rejected.reason)
    return web.Response(text=echostr)


async def receive_push(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    deadline = time.monotonic() + runtime.settings.passive_budget_s
    body = await request.read()  # over client_max_size: 413 from aiohttp, before any work
    try:
        push = runtime.protocol.open_push(request.query, body)
    except PushRejected as rejected:
        log.warning("push refused (%s): %s", rejected.status, rejected.reason)
        return web.Response(status=rejected.status, text=rejected.reason)
    msg = push.message
    try:
        accepted = await runtime.intake.accept(msg, runtime.nonces.nonce_of(push.timestamp, push.nonce))
    except ReplayedPush as replayed:
        log.warning("push refused (403): %s", replayed)
        return web.Response(status=403, text=str(replayed))
    except StorageUnavailable:
        runtime.metrics.messages.inc(msg.msg_type)
        log.exception("could not store %s", mask_msg_key(msg.msg_key))
        return web.Response(status=503, text="storage unavailable")
    runtime.metrics.messages.inc(msg.msg_type)
    log.debug("push %s %s (%s)", mask_msg_key(msg.msg_key), msg.msg_type, accepted)
    if accepted == SPOOLED:  # kept durably; the answer follows through the API once it is processed
        return web.Response(text=SUCCESS)
    text = await runtime.intake.passive_reply(msg, accepted == NEW, deadline)
    if text is None:
        return web.Response(text=SUCCESS)
    return web.Response(text=runtime.protocol.render_text_reply(push, text), content_type="application/xml")


@web.middleware
async def measure_webhook(request: web.Request, handler):
    if request.path != "/wechat" or request.method != "POST":
        return await handler(request)
    started = time.monotonic()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        runtime = request.app[RUNTIME]
        runtime.metrics.latency.observe(time.monotonic() - started)
        runtime.metrics.webhook.inc(str(status))
