"""GET /healthz (JSON, 503 when something the assistant needs is down) and GET /metrics (Prometheus)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from sqlalchemy import text

from core.metrics import gauge
from gateway.runtime import RUNTIME, Runtime

log = logging.getLogger(__name__)


async def healthz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    rasa_up, actions_up, database_up, redis_up = await asyncio.gather(
        runtime.context.rasa.is_up(),
        runtime.context.rasa.actions_up(),
        _database_up(runtime),
        _redis_up(runtime),
    )
    report: dict[str, Any] = {
        "rasa": _word(rasa_up),
        "actions": "not_configured" if actions_up is None else _word(actions_up),
        "database": _word(database_up),
        "redis": _word(redis_up),
    }
    if runtime.asr_configured:
        asr = runtime.transcriber.health()
        report["asr"] = asr.get("asr", "unknown")
        report["asr_detail"] = asr
    else:
        report["asr"] = "not_configured"
    healthy = rasa_up and actions_up is not False and database_up and redis_up
    report["status"] = "ok" if healthy else "unavailable"
    return web.json_response(report, status=200 if healthy else 503)


async def metrics(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    gauges: list[str] = []
    try:
        backlog = await runtime.context.outbox.backlog()
        unfinished = await runtime.inbox.pending_count()
    except Exception:
        log.exception("metrics: database unavailable")
        backlog = unfinished = float("nan")  # type: ignore[assignment]
    gauges.extend(gauge("csbot_gateway_outbox_backlog", "Customer-service messages waiting to be sent", backlog))
    gauges.extend(gauge("csbot_gateway_inbox_unfinished", "Received messages not answered yet", unfinished))
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
