"""`csbot`: the one command-line entry point. Each area registers its own sub-commands."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import Callable

# Each module exposes `register(subparsers)`; a sub-command sets `func(args) -> int`.
COMMAND_MODULES = [
    "actions.cli",  # db init/seed, subscriber list/bind/unbind
    "bot.assistant_cli",  # train, run, shell
    "bot.gateway_cli",  # gateway, chat, menu publish
    "voice.cli",  # voice download-model / status
    "handoff.cli",  # agent add/list
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="csbot", description="电信客服助手 / telecom customer-service assistant")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        register: Callable[[argparse._SubParsersAction], None] = module.register
        register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
