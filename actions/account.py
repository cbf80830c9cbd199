"""Balance, bill and usage; and the account gate every account question goes through."""

from __future__ import annotations

from typing import Optional

from actions import replies
from actions.turn import FlowAction, Turn


async def account_phone(turn: Turn, after: str) -> Optional[str]:
    """The subscriber's bound number, or None after asking them to bind one.

    No account data is shown to an openid until it has proven a number by SMS code;
    `after` names the flow to resume once binding succeeds.
    """
    phones = await turn.services.binding.bound_phones(turn.openid)
    if phones:
        return phones[0]
    turn.say(replies.ask_phone_to_bind(turn.elder))
    turn.set("pending", "bind_phone")
    turn.set("after_bind", after)
    return None


async def balance(turn: Turn) -> None:
    phone = await account_phone(turn, "balance")
    if phone:
        turn.say(replies.balance(await turn.services.billing.get_balance(phone), turn.elder))


async def bill(turn: Turn) -> None:
    phone = await account_phone(turn, "bill")
    if phone:
        turn.say(replies.bill(await turn.services.billing.get_bill(phone), turn.elder))


async def usage(turn: Turn) -> None:
    phone = await account_phone(turn, "usage")
    if phone:
        turn.say(replies.usage(await turn.services.billing.get_usage(phone), turn.elder))


class ActionCheckBalance(FlowAction):
    action_name = "action_check_balance"

    async def flow(self, turn: Turn) -> None:
        await balance(turn)


class ActionCheckBill(FlowAction):
    action_name = "action_check_bill"

    async def flow(self, turn: Turn) -> None:
        await bill(turn)


class ActionCheckUsage(FlowAction):
    action_name = "action_check_usage"

    async def flow(self, turn: Turn) -> None:
        await usage(turn)
