"""The Rasa server as `csbot run`, the tests and the Rasa image start it, rather than `python -m rasa`:

    RASA_AUTH_TOKEN=... python -m nlu.server run --enable-api --model ...

Before Rasa's own `main` it installs the project's log masking (nlu/log_masking.py) and the
action-response check built once (nlu/action_validation.py), and it gives `rasa run` the HTTP
API's token from the environment (RASA_AUTH_TOKEN) rather than the command line, where process
listings and `csbot run`'s own log would show it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from nlu import log_masking


def with_auth_token(argv: list[str], env: Mapping[str, str]) -> list[str]:
    """`rasa run`'s arguments with `--auth-token` from RASA_AUTH_TOKEN, unless given already.

    One argument, `--auth-token=TOKEN`: a token that starts with "-" (one generated secret in 64,
    core/local_secrets.py) would otherwise be read as an option, and Rasa would not start."""
    token = env.get("RASA_AUTH_TOKEN", "")
    if len(argv) < 2 or argv[1] != "run" or not token or any(_names_auth_token(arg) for arg in argv):
        return argv
    return [*argv, f"--auth-token={token}"]


def _names_auth_token(arg: str) -> bool:
    return arg in ("-t", "--auth-token") or arg.startswith("--auth-token=")


def main() -> None:
    log_masking.install()  # first: nothing Rasa logs while it starts goes out unmasked
    from rasa.__main__ import main as rasa_main

    from nlu import action_validation

    action_validation.install()
    sys.argv = with_auth_token(sys.argv, os.environ)
    rasa_main()


if __name__ == "__main__":
    main()
