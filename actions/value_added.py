"""Value-added services (增值业务): which ones a subscriber pays for, and cancelling one.

The service asked for (the `service` entity, else the message text) is resolved against the
services on the subscriber's own bound number with the backend's catalogue aliases
(`billing.value_added.match_services`). One match: a confirmation (pending
"service_confirm:<code>"); several or none: a numbered list to choose from (pending
"service_which:<code>,<code>,..."). Nothing is ever cancelled without a 「1」 to one service.
Several services named one by one (「彩铃取消了，还有视频会员也不要了」) are confirmed one at a time:
pending "service_confirm:<code>,<next>,...", each answer followed by the next question.
"""

from __future__ import annotations

import re
from typing import Optional

from actions import replies, understanding
from actions.account import account_phone, current_month
from actions.service import hand_off_operator_errand
from actions.turn import FlowAction, Turn
from billing.backend import BillingError, Subscription, ValueAddedService
from billing.value_added import match_services

ASKED_CHARS = 30
ALL_OF_THEM = re.compile(r"都|全部|所有|全都|统统")
GENERIC = frozenset({"包月", "会员", "自动续费"})  # words naming many services, not one


def actor(turn: Turn) -> str:
    return f"wechat:{turn.openid}"


async def list_services(turn: Turn) -> None:
    if understanding.asks_to_subscribe(turn.text):
        # Adding a service is the operator's (a person or the app): her list would not answer it.
        await hand_off_operator_errand(turn)
        return
    phone = await account_phone(turn, "list_services")
    if not phone:
        return
    if await explain_how_it_began(turn, phone):
        return
    services = await turn.services.billing.list_services(phone)
    turn.say(replies.service_list(services, turn.elder))
    if len(services) > replies.SHOWN_ITEMS and not turn.elder:
        turn.set("pending", "more:services")


async def more_services(turn: Turn) -> None:
    phone = await account_phone(turn, "list_services")
    if not phone:
        return
    services = await turn.services.billing.list_services(phone)
    rest = [replies.service_line(s) for s in services[replies.SHOWN_ITEMS :]]
    if not rest:
        turn.say(replies.nothing_more())
    else:
        turn.say(replies.more_lines(rest, "其余的增值业务：", '不想要的可以说"退订+业务名"。'))


async def cancel_service(turn: Turn) -> None:
    entity = turn.entity("service")
    asked: Optional[str] = turn.resumed if turn.resumed is not None else (str(entity) if entity else None)
    wanted = asked if asked is not None else turn.text
    phone = await account_phone(turn, f"cancel_service:{(wanted or '')[:ASKED_CHARS]}")
    if not phone:
        return
    active = await turn.services.billing.list_services(phone)
    if not active:
        turn.say(replies.no_services())
        return
    catalog = await turn.services.billing.list_service_catalog()
    each = _each_named(turn, active, catalog) if asked is not None and turn.resumed is None else []
    if len(each) > 1:
        propose(turn, each[0], [s.service.code for s in each[1:]], lead=replies.one_at_a_time(len(each)))
        return
    matches = match_services(wanted or "", active, catalog)
    if len(matches) == 1:
        propose(turn, matches[0])
        return
    several = len(matches) > 1 or bool(ALL_OF_THEM.search(turn.text))
    choices = matches if len(matches) > 1 else active
    named = asked if (asked and not matches and entity) else _unsubscribed_name(wanted or "", catalog)
    offer_choice(turn, choices, named, several)


async def explain_how_it_began(turn: Turn, phone: str) -> bool:
    """「那个彩铃是什么时候开的 我怎么不知道」「我没开通过什么彩铃 为什么每个月扣我五块钱」: one
    service of hers, named and questioned: the day it began and its fee, how to cancel it, and,
    when she says it was not hers, the offer to have it checked (never a cancellation to confirm:
    she contests it, she did not ask for it). False when the message does not question how one
    service of hers began."""
    if not understanding.asks_how_a_service_began(turn.text):
        return False
    named = turn.entity("service")
    active = await turn.services.billing.list_services(phone)
    catalog = await turn.services.billing.list_service_catalog()
    matches = match_services(str(named) if named else turn.text, active, catalog)
    if len(matches) != 1:
        return False
    contested = understanding.contests_a_service(turn.text)
    began = replies.service_began(matches[0], turn.elder)
    turn.say(f"{began}\n{replies.service_began_how_to_cancel(matches[0], contested)}")
    if contested:
        turn.set("pending", f"dispute_offer:{current_month(turn)}:{turn.words}")
    return True


def _unsubscribed_name(text: str, catalog: list[ValueAddedService]) -> Optional[str]:
    """The name of a catalogue service the text names (one they do not have), if any."""
    for service in sorted(catalog, key=lambda s: -len(s.name)):
        if any(term and term in text for term in (service.name, *service.aliases) if term not in GENERIC):
            return service.name
    return None


def _each_named(turn: Turn, active: list[Subscription], catalog: list[ValueAddedService]) -> list[Subscription]:
    """Her services named one by one in the message, in her order, when each names exactly one."""
    named: list[Subscription] = []
    for value in turn.tracker.get_latest_entity_values("service"):
        matches = match_services(str(value), active, catalog)
        if len(matches) != 1:
            return []
        if matches[0] not in named:
            named.append(matches[0])
    return named


def propose(turn: Turn, subscription: Subscription, then: Optional[list[str]] = None, lead: str = "") -> None:
    """Ask to confirm cancelling `subscription`; `then`: the codes to ask about after it, in order;
    `lead`: a line before the question, in the same message (the passive reply carries one)."""
    question = replies.confirm_cancel_service(subscription)
    if not lead and understanding.says_never_used(turn.text):  # 「我没用过」: what was charged too
        lead = replies.never_used_refund()
    turn.say(f"{lead}\n{question}" if lead else question)
    turn.set("pending", "service_confirm:" + ",".join([subscription.service.code, *(then or [])]))


def _ask_next(turn: Turn, active: list[Subscription], queued: list[str]) -> None:
    """After one answer, the next service she named that is still among her `active` ones."""
    by_code = {s.service.code: s for s in active}
    waiting = [code for code in queued if code in by_code]
    if waiting:
        propose(turn, by_code[waiting[0]], waiting[1:])


def offer_choice(turn: Turn, choices: list[Subscription], asked: Optional[str], several: bool) -> None:
    turn.say(replies.which_service(choices, asked, several, turn.elder))
    turn.set("pending", "service_which:" + ",".join(s.service.code for s in choices))


async def confirm(turn: Turn, ref: str) -> None:
    """「1」 to 「退订XX？」: cancel it on the bound number (idempotent, audited); `ref`: its code, then
    the codes still to ask about."""
    code, *queued = ref.split(",")
    phone = await account_phone(turn, "list_services")
    if not phone:
        return
    billing = turn.services.billing
    active = await billing.list_services(phone)
    was_active = any(s.service.code == code for s in active)
    try:
        result = await billing.cancel_service(phone, code, actor(turn))
    except BillingError:
        turn.say(replies.no_services() if not was_active else replies.service_unavailable())
        return
    turn.say(replies.service_cancelled(result, turn.elder) if was_active else replies.service_already_cancelled(result))
    _ask_next(turn, [s for s in active if s.service.code != code], queued)


async def keep(turn: Turn, ref: str) -> None:
    code, *queued = ref.split(",")
    phone = await account_phone(turn, "list_services")
    if not phone:
        return
    active = await turn.services.billing.list_services(phone)
    turn.say(replies.service_kept(next((s for s in active if s.service.code == code), None)))
    _ask_next(turn, active, queued)


async def which_reply(turn: Turn, ref: str, number: Optional[int], no: bool, more: bool) -> None:
    """The answer to 「要退订哪个？」: a number from the list or a name (else asked again)."""
    phone = await account_phone(turn, "cancel_service")
    if not phone:
        return
    codes = [code for code in ref.split(",") if code]
    active = {s.service.code: s for s in await turn.services.billing.list_services(phone)}
    choices = [active[code] for code in codes if code in active]
    if more:
        turn.say(replies.which_service_more(choices))
        turn.set("pending", f"service_which:{ref}")
        return
    if number is not None and 1 <= number <= len(choices):
        propose(turn, choices[number - 1])
        return
    entity = turn.entity("service")
    named = match_services(str(entity) if entity else turn.text, choices)
    if len(named) == 1:
        propose(turn, named[0])
    elif no or not choices:
        turn.say(replies.service_kept(None))
    else:
        turn.say(replies.which_service_again(len(choices)))
        turn.set("pending", f"service_which:{ref}")


class ActionListServices(FlowAction):
    action_name = "action_list_services"

    async def flow(self, turn: Turn) -> None:
        await list_services(turn)
