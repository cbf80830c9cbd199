"""`csbot`: the one command-line entry point. Each area's commands are registered here, explicitly."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from analytics import cli as analytics_cli
from billing import cli as billing_cli
from bot import assistant_cli, gateway_cli, notices_cli
from handoff import cli as handoff_cli
from voice import cli as voice_cli

# Each module exposes `register(subparsers)`; a sub-command sets `func(args) -> int`.
COMMAND_MODULES = (
    billing_cli,  # db init/seed, subscriber list/bind/unbind
    assistant_cli,  # train, run, shell
    gateway_cli,  # gateway, chat, menu publish
    voice_cli,  # voice download-model / status
    handoff_cli,  # agent add/list
    notices_cli,  # notices list/send/low-balance
    analytics_cli,  # analytics consume/figures
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="csbot", description="电信客服助手 / telecom customer-service assistant")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(subparsers)
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
