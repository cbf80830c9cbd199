"""The internal listener (INTERNAL_HOST:INTERNAL_PORT, loopback by default): GET /metrics
(Prometheus) and GET /healthz with each dependency's state. Not for the internet: the public
listener answers /healthz with ok / not ok only and has no /metrics."""

from __future__ import annotations

from aiohttp import web

from gateway import health
from gateway.runtime import RUNTIME, Runtime

PUBLIC_APP = web.AppKey("public_app", web.Application)


def create_internal_app(public: web.Application) -> web.Application:
    """An app reporting on `public` (the gateway), whose runtime exists once it has started."""
    app = web.Application()
    app[PUBLIC_APP] = public
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    return app


def _runtime(request: web.Request) -> Runtime:
    public = request.app[PUBLIC_APP]
    if RUNTIME not in public:
        raise web.HTTPServiceUnavailable(text="starting")
    return public[RUNTIME]


async def _healthz(request: web.Request) -> web.Response:
    return await health.detailed_healthz(_runtime(request))


async def _metrics(request: web.Request) -> web.Response:
    return await health.metrics(_runtime(request))
