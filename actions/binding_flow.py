"""Binding a WeChat user (openid) to a phone number, proven by a 6-digit SMS code."""

from __future__ import annotations

from actions import replies
from actions.services import phone_is_elder
from actions.turn import FlowAction, Turn
from billing.binding import StartOutcome, VerifyOutcome


async def bind(turn: Turn) -> None:
    phone = turn.entity("phone")
    if phone:
        await send_code(turn, str(phone))
        return
    phones = await turn.services.binding.bound_phones(turn.openid)
    # Already bound (「我换手机了 需要重新绑定吗」): told so, and how to add another number; not the
    # gate's 「查询前需要先绑定手机号」, which says she is not.
    turn.say(replies.bound_already(phones[0]) if phones else replies.ask_phone_to_bind(turn.elder))
    turn.set("pending", "bind_phone")


async def send_code(turn: Turn, phone: str) -> bool:
    """Send the code that proves `phone`; True when she has proven it before (nothing sent), so
    that what waited for the binding can go on at once."""
    result = await turn.services.binding.start_binding(turn.openid, phone)
    if result.outcome == StartOutcome.SENT:
        turn.say(replies.code_sent(phone))
        turn.set("pending", f"bind_code:{phone}")
    elif result.outcome == StartOutcome.ALREADY_BOUND:
        turn.say(replies.already_bound(phone))
        return True
    elif result.outcome == StartOutcome.INVALID_PHONE:  # not a mobile number at all (ours or not is never said)
        turn.say(replies.unknown_phone())
        turn.set("pending", "bind_phone")
    elif result.outcome == StartOutcome.LOCKED:
        turn.say(replies.bind_locked(result.locked_until))
    elif result.outcome == StartOutcome.TOO_SOON:  # the code sent a moment ago is still valid
        turn.say(replies.send_too_soon())
        turn.set("pending", f"bind_code:{phone}")
    else:  # PHONE_LIMITED: this number had all its codes for the hour
        turn.say(replies.phone_code_limit())
    return False


async def verify(turn: Turn, phone: str, code: str) -> bool:
    """Check the code; True when the number is now bound."""
    result = await turn.services.binding.verify_code(turn.openid, code)
    if result.outcome == VerifyOutcome.OK:
        turn.say(replies.bound_ok(phone))
        own = (await turn.services.binding.bound_phones(turn.openid))[0]  # not a relative's, bound later
        turn.set("is_elder", await phone_is_elder(turn.services, own))
        return True
    if result.outcome == VerifyOutcome.WRONG:
        turn.say(replies.wrong_code(result.attempts_left or 0))
        turn.set("pending", f"bind_code:{phone}")
    elif result.outcome == VerifyOutcome.LOCKED:
        turn.say(replies.bind_locked(result.locked_until))
    else:  # EXPIRED or NOTHING_PENDING
        turn.say(replies.code_expired())
        turn.set("pending", "bind_phone")
    return False


async def unbind(turn: Turn) -> None:
    phones = await turn.services.binding.bound_phones(turn.openid)
    if not phones:
        turn.say(replies.nothing_to_unbind())
        return
    for phone in phones:
        await turn.services.binding.unbind(turn.openid, phone, actor=f"wechat:{turn.openid}")
    turn.say(replies.unbound_ok(phones[0]))
    turn.set("is_elder", False)


class ActionBindPhone(FlowAction):
    action_name = "action_bind_phone"

    async def flow(self, turn: Turn) -> None:
        await bind(turn)


class ActionUnbindPhone(FlowAction):
    action_name = "action_unbind_phone"

    async def flow(self, turn: Turn) -> None:
        await unbind(turn)
