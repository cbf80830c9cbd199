"""WeChat user tags follow the profile: an openid whose bound number belongs to a subscriber of
ELDER_AGE or over carries the elder tag, so WeChat shows her the conditional elder menu
(wechat/menu.yml, published by `csbot menu publish`); unbinding takes the tag off again.

Binding happens in the action server, which must not call WeChat; so each gateway worker's
handoff sweep reconciles: bindings not yet looked at are checked (at most BATCH per sweep) and
tagged, openids whose binding is gone are untagged. `ho_elder_tags` remembers what was done;
a WeChat failure leaves the row unwritten, so the next sweep tries again.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Protocol

from sqlalchemy import delete, exists, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.models import bindings
from handoff.models import ho_elder_tags
from handoff.profile import ProfileSource
from wechat.menu import ELDER_TAG

log = logging.getLogger(__name__)

BATCH = 50


class TagApi(Protocol):
    async def ensure_tag(self, name: str) -> int: ...

    async def tag_users(self, tag_id: int, openids: list[str]) -> None: ...

    async def untag_users(self, tag_id: int, openids: list[str]) -> None: ...


class ElderTagger:
    def __init__(self, engine: AsyncEngine, api: TagApi, profiles: ProfileSource, elder_age: int) -> None:
        self.engine = engine
        self.api = api
        self.profiles = profiles
        self.elder_age = elder_age
        self._tag_id: int | None = None

    async def reconcile(self, now: dt.datetime) -> tuple[int, int]:
        """(tagged, untagged) in this pass."""
        async with self.engine.connect() as conn:
            new = (
                (
                    await conn.execute(
                        select(bindings.c.openid)
                        .where(~exists().where(ho_elder_tags.c.openid == bindings.c.openid))
                        .group_by(bindings.c.openid)
                        .limit(BATCH)
                    )
                )
                .scalars()
                .all()
            )
            gone = (
                await conn.execute(
                    select(ho_elder_tags.c.openid, ho_elder_tags.c.tagged)
                    .where(~exists().where(bindings.c.openid == ho_elder_tags.c.openid))
                    .limit(BATCH)
                )
            ).all()
        if not new and not gone:
            return 0, 0
        tag_id = await self._tag()
        elders: list[str] = []
        others: list[str] = []
        for openid in new:
            profile = await self.profiles.lookup(openid)
            if profile.error:
                continue  # billing unavailable: try again next sweep
            (elders if profile.age is not None and profile.age >= self.elder_age else others).append(openid)
        if elders:
            await self.api.tag_users(tag_id, elders)
        untag = [openid for openid, tagged in gone if tagged]
        if untag:
            await self.api.untag_users(tag_id, untag)
        async with self.engine.begin() as conn:
            for openid in elders + others:
                try:
                    async with conn.begin_nested():
                        await conn.execute(
                            insert(ho_elder_tags).values(openid=openid, tagged=openid in elders, checked_at=now)
                        )
                except IntegrityError:
                    pass  # another worker recorded it meanwhile
            if gone:
                await conn.execute(delete(ho_elder_tags).where(ho_elder_tags.c.openid.in_([o for o, _ in gone])))
        if elders or untag:
            log.info("elder tag: %d tagged, %d untagged", len(elders), len(untag))
        return len(elders), len(untag)

    async def _tag(self) -> int:
        if self._tag_id is None:
            self._tag_id = await self.api.ensure_tag(ELDER_TAG)
        return self._tag_id
