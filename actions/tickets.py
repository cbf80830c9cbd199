"""Rasa actions of tickets (the flows are in actions/ticket_form.py)."""

from __future__ import annotations

from actions import ticket_form
from actions.turn import FlowAction, Turn


class ActionSharedAttachment(FlowAction):
    """A WeChat location or photo (the gateway's /shared_location, /shared_image). While a
    fault report or complaint is being filled in, `FlowAction.run` hands it to the form."""

    action_name = "action_shared_attachment"

    async def flow(self, turn: Turn) -> None:
        await ticket_form.attachment_outside_form(turn)
