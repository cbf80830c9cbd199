"""`csbot agent add|list` and `csbot callback list`: managing agents and seeing open call-backs."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from core.db import create_engine
from core.privacy import mask_phone
from handoff.agent_store import AgentExists
from handoff.auth import ROLES, WeakPassword, hash_password
from handoff.config import HandoffSettings
from handoff.routing import SKILL_LABELS, normalise_skills
from handoff.store import HandoffStore

T = TypeVar("T")
DEFAULT_CAPACITY = 3
EXIT_USAGE = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    agent = subparsers.add_parser("agent", help="human agents of the console (/agent)")
    agent_commands = agent.add_subparsers(dest="agent_command", required=True, metavar="ACTION")
    add = agent_commands.add_parser(
        "add", help="create an agent (or update one with --update); asks for the password unless --password-stdin"
    )
    add.add_argument("name", help="log-in name shown to colleagues, e.g. 王芳")
    # No defaults here: with --update, what is not given stays as it is.
    add.add_argument("--skills", help=f"comma-separated: {', '.join(SKILL_LABELS)} (elder = 年长客户专席)")
    add.add_argument("--capacity", type=int, help=f"chats at the same time (default {DEFAULT_CAPACITY})")
    add.add_argument("--role", choices=ROLES, help="default agent")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.add_argument(
        "--update", action="store_true", help="change an existing agent's skills, capacity, role, password"
    )
    add.set_defaults(func=cmd_agent_add)
    listing = agent_commands.add_parser("list", help="all agents with role, skills and capacity")
    listing.set_defaults(func=cmd_agent_list)

    callback = subparsers.add_parser("callback", help="call-back and follow-up tasks (来电必复)")
    callback_commands = callback.add_subparsers(dest="callback_command", required=True, metavar="ACTION")
    open_tasks = callback_commands.add_parser("list", help="open call-back and follow-up tasks, earliest due first")
    open_tasks.set_defaults(func=cmd_callback_list)


def _run(work: Callable[[HandoffStore], Awaitable[T]]) -> T:
    async def main() -> T:
        engine = create_engine()
        try:
            return await work(HandoffStore(engine))
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _read_password(from_stdin: bool, update: bool) -> str | None:
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        return line or None
    if not sys.stdin.isatty():
        raise WeakPassword("no terminal to ask for the password: use --password-stdin")
    prompt_extra = "（直接回车则不修改）" if update else ""
    first = getpass.getpass(f"password for the agent{prompt_extra}: ")
    if update and not first:
        return None
    if getpass.getpass("again: ") != first:
        raise WeakPassword("the two passwords differ")
    return first


def cmd_agent_add(args: argparse.Namespace) -> int:
    name = args.name.strip()
    skills = normalise_skills(args.skills) if args.skills is not None else None
    if not name or len(name) > 64:
        print("error: the name must have 1 to 64 characters", file=sys.stderr)
        return EXIT_USAGE
    if args.capacity is not None and not 1 <= args.capacity <= 20:
        print("error: --capacity must be between 1 and 20", file=sys.stderr)
        return EXIT_USAGE
    unknown = [skill for skill in skills or () if skill not in SKILL_LABELS]
    if unknown:
        print(f"note: skills not in the usual list are kept as given: {', '.join(unknown)}", file=sys.stderr)
    try:
        password = _read_password(args.password_stdin, args.update)
        password_hash = hash_password(password) if password is not None else None
    except WeakPassword as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if password_hash is None and not args.update:
        print("error: a new agent needs a password", file=sys.stderr)
        return EXIT_USAGE

    async def work(store: HandoffStore) -> int:
        now = dt.datetime.now(dt.timezone.utc)
        if args.update:
            existing = await store.agents.agent_by_name(name)
            if existing is None:
                print(f"error: no agent named {name!r}", file=sys.stderr)
                return 1
            role = args.role or existing.role
            new_skills = skills if skills is not None else existing.skills
            capacity = args.capacity or existing.capacity
            await store.agents.update_agent(
                existing.id, password_hash=password_hash, role=role, skills=new_skills, capacity=capacity, now=now
            )
            print(f"updated agent {name}: role {role}, skills {','.join(new_skills) or '-'}, capacity {capacity}")
            if password_hash is not None:
                print(f"new password: every console log-in of {name} has ended")
            return 0
        try:
            agent = await store.agents.add_agent(
                name, password_hash or "", args.role or "agent", skills or (), args.capacity or DEFAULT_CAPACITY, now
            )
        except AgentExists:
            print(f"error: an agent named {name!r} exists already (use --update to change it)", file=sys.stderr)
            return 1
        print(
            f"added agent {agent.name} (id {agent.id}): role {agent.role}, "
            f"skills {','.join(agent.skills) or '-'}, capacity {agent.capacity}"
        )
        return 0

    return _run(work)


def cmd_agent_list(args: argparse.Namespace) -> int:
    async def work(store: HandoffStore) -> int:
        agents = await store.agents.list_agents()
        if not agents:
            print("no agents yet: csbot agent add NAME --skills elder --capacity 3")
            return 0
        print(f"{'id':>4}  {'name':<12} {'role':<10} {'capacity':>8}  skills")
        for agent in agents:
            flags = " (disabled)" if agent.disabled else ""
            print(
                f"{agent.id:>4}  {agent.name:<12} {agent.role:<10} {agent.capacity:>8}  {','.join(agent.skills) or '-'}{flags}"
            )
        return 0

    return _run(work)


def cmd_callback_list(args: argparse.Namespace) -> int:
    settings = HandoffSettings.from_env()

    async def work(store: HandoffStore) -> int:
        tasks = await store.tasks.open_tasks()
        if not tasks:
            print("no open call-back or follow-up tasks")
            return 0
        now = dt.datetime.now(dt.timezone.utc)
        print(f"{'id':>4}  {'kind':<9} {'due (local)':<16} {'number':<13} {'elder':<5} {'tries':>5}  reason / note")
        for task in tasks:
            due = task.due_at.astimezone(settings.timezone).strftime("%Y-%m-%d %H:%M")
            overdue = " OVERDUE" if task.due_at <= now else ""
            number = mask_phone(task.phone) if task.phone else "(no number)"
            print(
                f"{task.id:>4}  {task.kind:<9} {due:<16} {number:<13} {'yes' if task.is_elder else 'no':<5} "
                f"{task.attempts:>5}  {task.reason}{' / ' + task.note if task.note else ''}{overdue}"
            )
        return 0

    return _run(work)
