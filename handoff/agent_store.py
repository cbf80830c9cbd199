"""Agents and their console log-ins (sessions): who may work in the console, with which skills
and how many chats at once, and whether she is ready to take chats."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.models import ho_agent_sessions, ho_agents
from handoff.routing import normalise_skills


class AgentExists(Exception):
    pass


@dataclass(frozen=True)
class Agent:
    id: int
    name: str
    role: str
    skills: tuple[str, ...]
    capacity: int
    ready: bool
    disabled: bool
    password_hash: str

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"


def _agent(row) -> Agent:
    return Agent(
        id=row["id"],
        name=row["name"],
        role=row["role"],
        skills=normalise_skills(row["skills"] or ""),
        capacity=row["capacity"],
        ready=bool(row["ready"]),
        disabled=bool(row["disabled"]),
        password_hash=row["password_hash"],
    )


class AgentStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def add_agent(
        self, name: str, password_hash: str, role: str, skills: tuple[str, ...], capacity: int, now: dt.datetime
    ) -> Agent:
        values = {
            "name": name,
            "password_hash": password_hash,
            "role": role,
            "skills": ",".join(skills),
            "capacity": capacity,
            "ready": False,
            "disabled": False,
            "created_at": now,
        }
        try:
            async with self.engine.begin() as conn:
                await conn.execute(insert(ho_agents).values(**values))
        except IntegrityError:
            raise AgentExists(name) from None
        agent = await self.agent_by_name(name)
        assert agent is not None
        return agent

    async def update_agent(
        self,
        agent_id: int,
        *,
        password_hash: str | None,
        role: str,
        skills: tuple[str, ...],
        capacity: int,
        now: dt.datetime | None = None,
    ) -> None:
        """Change an agent; a new password ends every log-in she has (in the same transaction)."""
        values: dict = {"role": role, "skills": ",".join(skills), "capacity": capacity}
        if password_hash is not None:
            values["password_hash"] = password_hash
        async with self.engine.begin() as conn:
            await conn.execute(update(ho_agents).where(ho_agents.c.id == agent_id).values(**values))
            if password_hash is not None:
                await conn.execute(
                    update(ho_agent_sessions)
                    .where(ho_agent_sessions.c.agent_id == agent_id, ho_agent_sessions.c.revoked_at.is_(None))
                    .values(revoked_at=now or dt.datetime.now(dt.timezone.utc))
                )

    async def agent(self, agent_id: int) -> Agent | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(ho_agents).where(ho_agents.c.id == agent_id))).mappings().first()
        return _agent(row) if row else None

    async def agent_by_name(self, name: str) -> Agent | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(ho_agents).where(ho_agents.c.name == name))).mappings().first()
        return _agent(row) if row else None

    async def list_agents(self) -> list[Agent]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(ho_agents).order_by(ho_agents.c.id))).mappings().all()
        return [_agent(row) for row in rows]

    async def set_ready(self, agent_id: int, ready: bool) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(ho_agents).where(ho_agents.c.id == agent_id).values(ready=ready))

    # ---- sessions -----------------------------------------------------------------------

    async def create_session(self, digest: str, agent_id: int, now: dt.datetime, expires_at: dt.datetime) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(ho_agent_sessions).values(
                    token_digest=digest, agent_id=agent_id, created_at=now, expires_at=expires_at
                )
            )

    async def session_agent(self, digest: str, now: dt.datetime) -> Agent | None:
        query = (
            select(ho_agents)
            .select_from(ho_agent_sessions.join(ho_agents, ho_agents.c.id == ho_agent_sessions.c.agent_id))
            .where(
                ho_agent_sessions.c.token_digest == digest,
                ho_agent_sessions.c.revoked_at.is_(None),
                ho_agent_sessions.c.expires_at > now,
                ho_agents.c.disabled.is_(False),
            )
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return _agent(row) if row else None

    async def revoke_session(self, digest: str, now: dt.datetime) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(ho_agent_sessions)
                .where(ho_agent_sessions.c.token_digest == digest, ho_agent_sessions.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
