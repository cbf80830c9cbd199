"""Complaints and fault reports in a few short questions, then a ticket with a number and a due
time (core/tickets.py); 「工单进度」 answered from the tickets.

The questions asked so far and the answers given live in the `pending` slot as
"ticket_form:<json>". While a form is open, every message answers its current question, whatever
the classifier made of it (`FlowAction.run` sends the turn here): a description or an address is
free text. 「0」 brings a person, 「取消」 ends the form, a menu click leaves it.

A promise is made only with a number to keep it: a subscriber with no bound number is asked for
a reachable one before any ticket is opened.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import TYPE_CHECKING, Any

from actions import understanding
from billing.periods import BILLING_TZ as LOCAL_TZ
from core import tickets, wording
from core.privacy import mask_phone
from core.tickets import Attachment, NewTicket
from core.vocabulary import HandoffReason, Queue, TicketCategory, TicketKind

if TYPE_CHECKING:
    from actions.turn import Turn

FORM = "ticket_form"
PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
CANCEL = re.compile(r"^(取消|不用了|算了|不报了|不投诉了)[。！!]?$")
SAID_LIMIT = 500
# A complaint this long that names its category says what happened too (「投诉网络」 does not).
SAYS_WHAT_HAPPENED = 12
FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


def in_form(turn: Turn) -> bool:
    return (turn.slot("pending") or "").startswith(FORM + ":")


def _draft(turn: Turn) -> dict[str, Any]:
    try:
        return dict(json.loads((turn.slot("pending") or "")[len(FORM) + 1 :]))
    except ValueError:
        return {}


def _ask(turn: Turn, draft: dict[str, Any], step: str, question: str) -> None:
    draft["step"] = step
    turn.say(question)
    turn.set("pending", FORM + ":" + json.dumps(draft, ensure_ascii=False))


def _choice(turn: Turn, count: int) -> int | None:
    value = turn.entity("number")
    text = turn.text.strip().translate(FULL_WIDTH_DIGITS).strip("。.！! ")
    if value is None and text.isdigit():
        value = text
    try:
        number = int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
    return number if number is not None and 1 <= number <= count else None


def _phone_in(turn: Turn) -> str | None:
    found = PHONE.search(str(turn.entity("phone") or "") + " " + turn.text.translate(FULL_WIDTH_DIGITS))
    return found.group(0) if found else None


def _attachment(turn: Turn) -> Attachment | None:
    """A location or photo message, as the gateway passed it (the turn's metadata)."""
    metadata = turn.parse.get("metadata") or {}
    if not isinstance(metadata, dict):
        return None
    if turn.intent == "shared_location" or metadata.get("msg_type") == "location":
        return Attachment(
            kind="location",
            label=str(metadata.get("label") or ""),
            latitude=str(metadata.get("latitude") or ""),
            longitude=str(metadata.get("longitude") or ""),
        )
    if turn.intent == "shared_image" or metadata.get("msg_type") == "image":
        return Attachment(kind="image", url=str(metadata.get("pic_url") or ""))
    return None


def _shorten(text: str) -> str:
    return text.strip()[:SAID_LIMIT]


# ---- starting ---------------------------------------------------------------------------------


async def start_complaint(turn: Turn, category: TicketCategory | None = None, said: str | None = None) -> None:
    """「我要投诉」: a 65+ subscriber is connected to a person (the complaint recorded for the
    desk); anyone else is asked the category, what happened and, if unbound, a number."""
    if turn.elder:
        phone = await _bound_phone(turn)
        ticket = await _open(
            turn, TicketKind.COMPLAINT, category or TicketCategory.OTHER, phone, said or turn.words, {}
        )
        turn.say(wording.COMPLAINT_ELDER_TO_PERSON)
        turn.hand_off(
            HandoffReason.COMPLAINT,
            Queue.ELDER,
            f"年长客户投诉（工单{ticket.number}）：「{_shorten(said or turn.words)}」",
        )
        return
    draft: dict[str, Any] = {"kind": TicketKind.COMPLAINT.value, "said": _shorten(said or turn.words)}
    named = understanding.complaint_category(turn.words) if category is None else None
    if named is not None and len(turn.words) >= SAYS_WHAT_HAPPENED:
        # 「我要投诉你们的网络 信号太差了 在家里都没信号」: the category and what happened are said.
        draft["category"] = named
        draft["what"] = draft.pop("said")
        await _contact_or_finish(turn, draft)
        return
    if named is not None:  # 「我要投诉网络」「你们的服务太差了」: the category only, acknowledged
        label = wording.TICKET_CATEGORY_LABELS[TicketCategory(named)]
        draft["category"] = named
        _ask(turn, draft, "what", f"好的，帮您登记{label}方面的投诉。" + wording.COMPLAINT_ASK_WHAT)
        return
    if category is not None:
        draft["category"] = category.value
        if said:  # the dispute flow: what happened was said already
            draft["what"] = draft.pop("said")
            await _contact_or_finish(turn, draft)
            return
        _ask(turn, draft, "what", wording.COMPLAINT_ASK_WHAT)
        return
    _ask(turn, draft, "category", wording.COMPLAINT_ASK_CATEGORY)


async def start_fault(turn: Turn, broadband: bool = False) -> None:
    """A fault report: what is broken, where, a reachable number, a time slot."""
    category = TicketCategory.BROADBAND if broadband else TicketCategory.NETWORK
    draft: dict[str, Any] = {"kind": TicketKind.FAULT.value, "category": category.value}
    said = turn.words.strip()
    if said and not said.startswith("/") and len(said) > 4:
        draft["what"] = _shorten(said)  # 「家里宽带断了三天了」 already says what is broken
        _ask(turn, draft, "where", wording.FAULT_ASK_WHERE)
    else:
        _ask(turn, draft, "what", wording.FAULT_ASK_WHAT)


# ---- answering ----------------------------------------------------------------------------------


async def continue_form(turn: Turn) -> None:
    draft = _draft(turn)
    step = draft.get("step")
    text = turn.text.strip()
    # 「不用了」 ends the form; a numbered answer (「2」 reads as deny elsewhere) never does
    says_no = turn.intent == "deny" and _choice(turn, 9) is None and step not in ("what", "where")
    if CANCEL.match(text) or says_no:
        turn.say(wording.TICKET_FORM_CANCELLED)
        return
    if text.translate(FULL_WIDTH_DIGITS) == "0":
        summary = f"用户在登记工单时要求人工：{json.dumps(draft, ensure_ascii=False)[:SAID_LIMIT]}"
        turn.hand_off(HandoffReason.REQUEST_HUMAN, Queue.ELDER if turn.elder else Queue.GENERAL, summary)
        return
    attachment = _attachment(turn)
    if attachment is not None:
        draft.setdefault("attachments", []).append(attachment.__dict__)
    if step == "category":
        number = _choice(turn, len(wording.COMPLAINT_CHOICES))
        if number is None:
            _ask(turn, draft, "category", wording.ASK_NUMBER_AGAIN + "\n" + wording.COMPLAINT_ASK_CATEGORY)
            return
        draft["category"] = wording.COMPLAINT_CHOICES[number - 1]
        _ask(turn, draft, "what", wording.COMPLAINT_ASK_WHAT)
    elif step == "what":
        if attachment is None:
            draft["what"] = _shorten(turn.words.strip())
        if not draft.get("what"):
            _ask(turn, draft, "what", wording.COMPLAINT_ASK_WHAT)
            return
        if draft["kind"] == TicketKind.FAULT.value:
            _ask(turn, draft, "where", wording.FAULT_ASK_WHERE)
        else:
            await _contact_or_finish(turn, draft)
    elif step == "where":
        if attachment is not None and attachment.kind == "location":
            draft["address"] = attachment.label or f"{attachment.latitude},{attachment.longitude}"
        elif attachment is None and text:
            draft["address"] = _shorten(turn.words.strip())
        if not draft.get("address"):
            _ask(turn, draft, "where", wording.FAULT_ASK_WHERE)
            return
        await _contact_or_finish(turn, draft)
    elif step == "contact":
        phone = _phone_in(turn)
        if phone is None:
            _ask(turn, draft, "contact", wording.ASK_CONTACT_AGAIN)
            return
        draft["phone"] = phone
        await _slot_or_finish(turn, draft)
    elif step == "slot":
        number = _choice(turn, len(wording.TIME_SLOTS))
        if number is None:
            _ask(turn, draft, "slot", wording.ASK_NUMBER_AGAIN + "\n" + wording.FAULT_ASK_SLOT)
            return
        draft["slot"] = wording.TIME_SLOTS[number - 1]
        await _finish(turn, draft)
    else:
        turn.say(wording.TICKET_FORM_CANCELLED)


async def _contact_or_finish(turn: Turn, draft: dict[str, Any]) -> None:
    phone = await _bound_phone(turn)
    if phone is None:
        _ask(turn, draft, "contact", wording.ASK_CONTACT)
        return
    draft["phone"] = phone
    await _slot_or_finish(turn, draft)


async def _slot_or_finish(turn: Turn, draft: dict[str, Any]) -> None:
    if draft["kind"] == TicketKind.FAULT.value and not draft.get("slot"):
        _ask(turn, draft, "slot", wording.FAULT_ASK_SLOT)
        return
    await _finish(turn, draft)


async def _finish(turn: Turn, draft: dict[str, Any]) -> None:
    kind = TicketKind(draft["kind"])
    said = draft.get("said") or ""
    what = draft.get("what") or ""
    note = f"{said}\n{what}".strip() if said and said != what else what or said
    ticket = await _open(turn, kind, TicketCategory(draft["category"]), draft["phone"], note, draft)
    deadline = describe(ticket.due_at)
    if kind == TicketKind.FAULT:
        turn.say(wording.fault_opened(ticket.number, deadline, mask_phone(ticket.phone or ""), draft.get("slot") or ""))
    else:
        turn.say(wording.complaint_opened(ticket.number, deadline, mask_phone(ticket.phone or "")))


async def _open(
    turn: Turn, kind: TicketKind, category: TicketCategory, phone: str | None, note: str, draft: dict[str, Any]
) -> tickets.Ticket:
    attachments = tuple(Attachment(**item) for item in draft.get("attachments") or [])
    new = NewTicket(
        kind=kind,
        category=category,
        openid=turn.openid,
        phone=phone,
        reason=kind.value,
        note=note,
        created_by="subscriber",
        queue=Queue.ELDER.value if turn.elder else Queue.GENERAL.value,
        is_elder=turn.elder,
        address=draft.get("address"),
        time_slot=draft.get("slot"),
        attachments=attachments,
    )
    services = turn.services
    return await tickets.open_ticket(services.engine, new, now(), LOCAL_TZ, tickets.promise_hours())


async def _bound_phone(turn: Turn) -> str | None:
    phones = await turn.services.binding.bound_phones(turn.openid)
    return phones[0] if phones else None


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def describe(moment: dt.datetime) -> str:
    local = moment.astimezone(LOCAL_TZ)
    return f"{local.month}月{local.day}日{local.hour}点"


# ---- progress and attachments outside a form -------------------------------------------------


async def progress(turn: Turn) -> None:
    """「工单进度」: the subscriber's latest tickets, from the tickets themselves."""
    found = await tickets.tickets_of(turn.services.engine, turn.openid, limit=3)
    if not found:
        turn.say(wording.NO_TICKETS)
        return
    current = now()
    lines = []
    for ticket in found:
        if ticket.is_open:
            when = wording.ticket_promise(describe(ticket.due_at), ticket.overdue(current))
        else:
            when = (ticket.resolution or ticket.outcome_note or "已处理")[:40]
        lines.append(wording.ticket_line(ticket.number, ticket.kind, ticket.category, ticket.status, when))
    turn.say(wording.ticket_progress(lines))


async def attachment_outside_form(turn: Turn) -> None:
    """A location or photo with no form open: added to the subscriber's open complaint or fault
    report of the last days, if there is one; otherwise acknowledged."""
    attachment = _attachment(turn)
    if attachment is None:
        turn.say(wording.IMAGE_NOTED)
        return
    recent = [
        t
        for t in await tickets.tickets_of(turn.services.engine, turn.openid, limit=3)
        if t.is_open
        and t.kind in (TicketKind.COMPLAINT.value, TicketKind.FAULT.value)
        and now() - t.created_at < RECENT
    ]
    if recent:
        await tickets.add_attachment(turn.services.engine, recent[0].id, attachment, now())
        what = "位置" if attachment.kind == "location" else "图片"
        turn.say(wording.attached_to_ticket(what, recent[0].number))
        return
    turn.say(wording.LOCATION_NOTED if attachment.kind == "location" else wording.IMAGE_NOTED)


RECENT = dt.timedelta(days=3)
