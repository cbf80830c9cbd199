"""The actions that move money or change a contract. Each opens only on a clear request
(reply_router.unless_clear): a vague or dispute-sounding message gets a clarifying question
instead, and every transaction still asks for its confirmation before it happens."""

from __future__ import annotations

from actions import plans, topup, value_added
from actions.reply_router import unless_clear
from actions.turn import FlowAction, Turn


class ActionTopUp(FlowAction):
    action_name = "action_top_up"

    async def flow(self, turn: Turn) -> None:
        order_no = topup.corrected_order(turn)
        if order_no is not None:  # 「不对 充一百」 while a top-up waits for its 「1」
            await topup.change_amount(turn, order_no)
            return
        await unless_clear(turn, "top_up", topup.top_up)


class ActionChangePlan(FlowAction):
    action_name = "action_change_plan"

    async def flow(self, turn: Turn) -> None:
        await unless_clear(turn, "change_plan", plans.change_plan)


class ActionCancelService(FlowAction):
    action_name = "action_cancel_service"

    async def flow(self, turn: Turn) -> None:
        await unless_clear(turn, "cancel_service", value_added.cancel_service)
