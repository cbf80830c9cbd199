"""The Rasa server's log masking: phone numbers (+86 and spaced ones too), openids and SMS codes
never reach a log line of the Rasa process (its debug lines quote whole messages, the Sanic
access log has sender ids in paths).

It is the project's own masking (core/redact.py, standard library only, so it runs here on
Python 3.10 in .venv-rasa), installed before Rasa starts. `csbot run` and the tests start the
Rasa server through this module rather than `python -m rasa`:

    python -m nlu.log_masking run --enable-api --model ...

It also gives `rasa run` the HTTP API's token from the environment (RASA_AUTH_TOKEN) rather than
the command line, where process listings and `csbot run`'s own log would show it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from core.redact import mask_text, redact_logs

__all__ = ["install", "mask_text", "with_auth_token"]


def install() -> None:
    """Mask every log record of this process, whichever logger or handler it goes to."""
    redact_logs()


def with_auth_token(argv: list[str], env: Mapping[str, str]) -> list[str]:
    """`rasa run`'s arguments with `--auth-token` from RASA_AUTH_TOKEN, unless given already."""
    token = env.get("RASA_AUTH_TOKEN", "")
    if len(argv) < 2 or argv[1] != "run" or not token or "--auth-token" in argv:
        return argv
    return [*argv, "--auth-token", token]


def main() -> None:
    install()
    from rasa.__main__ import main as rasa_main

    sys.argv = with_auth_token(sys.argv, os.environ)
    rasa_main()


if __name__ == "__main__":
    main()
