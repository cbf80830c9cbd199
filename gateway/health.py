"""Health and metrics. The public GET /healthz says only ok / not ok (503); the dependency report
(JSON) and the Prometheus metrics are served on the internal listener (gateway/internal.py)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from sqlalchemy import text

from core.metrics import gauge, labelled_counter
from gateway.runtime import RUNTIME, Runtime

log = logging.getLogger(__name__)


async def healthz(request: web.Request) -> web.Response:
    """The public check: ok / not ok and the status code, nothing about what is behind it."""
    healthy, _ = await report(request.app[RUNTIME])
    return web.Response(text="ok" if healthy else "not ok", status=200 if healthy else 503)


async def report(runtime: Runtime) -> tuple[bool, dict[str, Any]]:
    """Whether the assistant can answer, and the state of each dependency (internal listener)."""
    rasa_up, actions_up, database_up, redis_up = await asyncio.gather(
        runtime.context.rasa.is_up(),
        runtime.context.rasa.actions_up(),
        _database_up(runtime),
        _redis_up(runtime),
    )
    details: dict[str, Any] = {
        "rasa": _word(rasa_up),
        "actions": "not_configured" if actions_up is None else _word(actions_up),
        "database": _word(database_up),
        "redis": _word(redis_up),
    }
    if runtime.asr_configured:
        asr = runtime.transcriber.health()
        details["asr"] = asr.get("asr", "unknown")
        details["asr_detail"] = asr
    else:
        details["asr"] = "not_configured"
    details["tts"] = runtime.speech.health().get("tts", "unknown") if runtime.speech else "not_configured"
    healthy = rasa_up and actions_up is not False and database_up and redis_up
    details["status"] = "ok" if healthy else "unavailable"
    return healthy, details


async def detailed_healthz(runtime: Runtime) -> web.Response:
    healthy, details = await report(runtime)
    return web.json_response(details, status=200 if healthy else 503)


async def metrics(runtime: Runtime) -> web.Response:
    gauges: list[str] = []
    backlog: float
    unfinished: float
    try:
        backlog = await runtime.context.outbox.backlog()
        unfinished = await runtime.inbox.pending_count()
    except Exception:
        log.exception("metrics: database unavailable")
        backlog = unfinished = float("nan")
    gauges.extend(gauge("csbot_gateway_outbox_backlog", "Customer-service messages waiting to be sent", backlog))
    gauges.extend(gauge("csbot_gateway_inbox_unfinished", "Received messages not answered yet", unfinished))
    if runtime.context.notices is not None:
        try:
            counts = await runtime.context.notices.counts()
        except Exception:
            log.exception("metrics: database unavailable")
            counts = {}
        gauges.extend(
            labelled_counter(
                "csbot_gateway_notices_total",
                "Notices by kind and status (queued, sent, refused_no_consent, failed), from the database",
                ("kind", "status"),
                counts,
            )
        )
    body = runtime.metrics.render(gauges)
    return web.Response(text=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


async def _database_up(runtime: Runtime) -> bool:
    try:
        async with runtime.context.engine.connect() as conn:
            await asyncio.wait_for(conn.execute(text("SELECT 1")), 2)
        return True
    except Exception:
        return False


async def _redis_up(runtime: Runtime) -> bool:
    try:
        return bool(await asyncio.wait_for(runtime.context.redis.ping(), 2))
    except Exception:
        return False


def _word(up: bool) -> str:
    return "ok" if up else "down"
