"""The action server: rasa-sdk's app, behind a shared secret, on loopback unless told otherwise.

rasa-sdk has neither authentication nor an `--interface` option (it binds SANIC_HOST, default
0.0.0.0). Anything that reached it could run any action for any sender, with any slots (say a
`pending` of `topup_confirm:<someone's order>`). This wrapper builds rasa-sdk's own app and adds
one request hook: every route but GET /health needs the header ACTION_TOKEN_HEADER with the
shared secret ACTION_SERVER_TOKEN (generated once into var/ when unset, core/local_secrets.py).
Rasa sends it on every action call: endpoints.yml's action_endpoint carries `headers:` (Rasa 3.6's
EndpointConfig passes them to its HTTP session), filled from the same variable.

    python -m bot.action_server [--port 5055] [--host 127.0.0.1]     (ACTION_HOST, ACTION_PORT)
"""

from __future__ import annotations

import argparse
import hmac
import logging
import os

from rasa_sdk.endpoint import create_app_for_serve
from rasa_sdk.executor import ActionExecutor
from sanic import Sanic, response
from sanic.request import Request

from core.local_secrets import ACTION_SERVER_TOKEN, local_secret
from core.redact import redact_logs

log = logging.getLogger(__name__)

ACTION_TOKEN_HEADER = "X-Csbot-Action-Token"
OPEN_PATHS = ("/health",)


def create_app(executor: ActionExecutor, token: str) -> Sanic:
    """rasa-sdk's app (built again in each Sanic worker) with the shared-secret check."""
    app = create_app_for_serve(executor, cors_origins=None)

    @app.on_request
    async def require_token(request: Request) -> response.HTTPResponse | None:
        if request.path in OPEN_PATHS and request.method == "GET":
            return None
        given = request.headers.get(ACTION_TOKEN_HEADER, "")
        if hmac.compare_digest(given.encode(), token.encode()):
            return None
        log.warning("action server: request to %s without the shared secret refused", request.path)
        return response.json({"error": "missing or wrong action server token"}, status=401)

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.action_server", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("ACTION_PORT", "5055")))
    parser.add_argument("--host", default=os.environ.get("ACTION_HOST", "127.0.0.1"))
    parser.add_argument("--actions", default="actions", help="the package of the actions")
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s")
    redact_logs()  # numbers, openids and SMS codes masked in every record, Sanic's included
    token = local_secret(ACTION_SERVER_TOKEN)

    executor = ActionExecutor()
    executor.register_package(args.actions)
    app = create_app(executor, token)
    log.info("action server on http://%s:%d (shared secret required)", args.host, args.port)
    app.run(host=args.host, port=args.port, single_process=True, access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
