"""Points (积分): the balance, what lapses soon, and a few things they can be exchanged for."""

from __future__ import annotations

from actions import replies
from actions.account import account_phone
from actions.turn import FlowAction, Turn


async def check_points(turn: Turn) -> None:
    phone = await account_phone(turn, "points")
    if not phone:
        return
    billing = turn.services.billing
    turn.say(replies.points(await billing.get_points(phone), await billing.list_point_rewards(), turn.elder))


class ActionCheckPoints(FlowAction):
    action_name = "action_check_points"

    async def flow(self, turn: Turn) -> None:
        await check_points(turn)
