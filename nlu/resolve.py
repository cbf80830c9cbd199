"""Request-first intent resolution (pure Python; nlu.components.RequestResolver runs it).

Inputs: DIET's whole-message ranking and, per clause of the message (nlu.spoken), the clause
classifier's best intent and probability, in message order. Rules:

1. Chit-chat loses to a request: when DIET's top intent is chit-chat (greet, thank, goodbye,
   help, emoji_only) and a clause is a request with p >= clause_threshold, the first such
   request is the message's intent.
2. Two requests: when two clauses are confidently (p >= second_threshold) different request
   intents, DIET supports both (one is its top intent or the top was chit-chat, the other is in
   its top `second_rank`), the one said first is the intent and the other is the second
   request. The same for a less sure request (p >= clause_threshold) that asks for something,
   said before one confident request, when DIET's top intent is one of the two and it ranks the
   other (`clause_texts` say which clauses ask).
   Replies (affirm, deny, inform) and chit-chat are never requests.
3. Otherwise DIET's ranking stands (returns None).

Before the rules, DIET's ranking can be blended with the clause classifier's prediction for
the whole message (`message_probs`, weight 1 - diet_weight): the two models err differently
(DIET is sometimes confidently wrong on words it over-learnt), and where they disagree the
blended confidence drops, so the fallback classifier asks instead of guessing.

The new ranking puts the chosen intent first with confidence max(DIET, clause) and scales the
intents it overrode by (1 - that confidence), so a fallback classifier after it still sees low
confidence and small margins among the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CHITCHAT = frozenset({"greet", "thank", "goodbye", "help", "emoji_only"})
NON_REQUESTS = CHITCHAT | {"affirm", "deny", "inform", "nlu_fallback"}


@dataclass(frozen=True)
class Decision:
    ranking: list[tuple[str, float]]  # new intent ranking, best first
    second: str | None = None  # the second request's intent
    second_clause: int | None = None  # index of the clause it came from


def blend(
    ranking: list[tuple[str, float]], message_probs: dict[str, float], diet_weight: float
) -> list[tuple[str, float]]:
    diet = dict(ranking)
    names = set(diet) | set(message_probs)
    mixed = {
        name: diet_weight * diet.get(name, 0.0) + (1.0 - diet_weight) * message_probs.get(name, 0.0) for name in names
    }
    return sorted(mixed.items(), key=lambda item: item[1], reverse=True)[: max(len(ranking), 10)]


def resolve(
    ranking: list[tuple[str, float]],
    clauses: list[tuple[str, float]],
    *,
    clause_threshold: float = 0.5,
    second_threshold: float = 0.6,
    second_rank: int = 3,
    message_probs: dict[str, float] | None = None,
    diet_weight: float = 1.0,
    clause_texts: list[str] | None = None,
) -> Decision | None:
    blended = False
    if ranking and message_probs and diet_weight < 1.0:
        ranking = blend(ranking, message_probs, diet_weight)
        blended = True
    asks = [asks_for_something(text) for text in clause_texts] if clause_texts else [False] * len(clauses)
    decision = _resolve(ranking, clauses, clause_threshold, second_threshold, second_rank, asks)
    if decision is None and blended:
        return Decision(ranking)
    return decision


def _resolve(
    ranking: list[tuple[str, float]],
    clauses: list[tuple[str, float]],
    clause_threshold: float,
    second_threshold: float,
    second_rank: int,
    asks: list[bool],
) -> Decision | None:
    if not ranking or len(clauses) < 2:
        return None
    diet = dict(ranking)
    top = ranking[0][0]
    requests = [
        (index, intent, p)
        for index, (intent, p) in enumerate(clauses)
        if intent not in NON_REQUESTS and p >= clause_threshold
    ]
    if not requests:
        return None

    primary = top
    if top in CHITCHAT:
        primary = requests[0][1]

    second: tuple[int, str] | None = None
    distinct: list[tuple[int, str]] = []
    for index, intent, p in requests:
        if p >= second_threshold and intent not in (name for _, name in distinct):
            distinct.append((index, intent))
    supported = {name for name, _ in ranking[:second_rank]}
    if len(distinct) >= 2:
        (_, first), (second_index, other) = distinct[0], distinct[1]
        if (top in (first, other) or top in CHITCHAT) and {first, other} - {top} <= supported:
            primary = first
            second = (second_index, other)
    elif distinct:
        # 「先帮我看看余额 再看看流量」: the request said first is less sure than a later, confident
        # one; when it asks for something (not 「我流量不够用，有啥推荐的」, where it only says why)
        # and DIET chose one of the two and ranks the other, both are requests, in her order.
        said_first_index, said_first, _ = requests[0]
        confident_index, confident = distinct[0]
        if (
            said_first != confident
            and asks[said_first_index]
            and said_first_index < confident_index
            and top in (said_first, confident)
            and {said_first, confident} - {top} <= supported
        ):
            primary = said_first
            second = distinct[0]

    if primary == top and second is None:
        return None
    confidence = max([diet.get(primary, 0.0)] + [p for intent, p in clauses if intent == primary])
    overridden = set(CHITCHAT) if top in CHITCHAT else set()
    overridden.add(top)
    if second is not None:
        overridden.add(second[1])
    new = {
        name: (value * (1.0 - confidence) if name in overridden else value)
        for name, value in diet.items()
        if name != primary
    }
    new_ranking = [(primary, confidence)] + sorted(new.items(), key=lambda item: item[1], reverse=True)
    return Decision(
        new_ranking,
        second[1] if second else None,
        second[0] if second else None,
    )


# A clause that asks for something (「帮我看看余额」「查下话费」「还剩多少」), not a statement of why.
ASKING = re.compile(r"帮|查|看看|看下|看一下|问|告诉|多少|办|充|换|改|退|开通|取消|要|想")


def asks_for_something(clause: str) -> bool:
    return ASKING.search(clause) is not None


# --- a relative's account ---------------------------------------------------------------------

RELATIVE_QUERY_INTENTS = frozenset({"check_balance", "check_bill", "check_usage", "check_plan", "low_balance_help"})
ASK_RELATIVE = "ask_relative"
_RELATIVE = (
    r"(?:老伴|老头子|老头|老太婆|老太太|老婆|老公|儿媳妇|媳妇|女婿|儿子|女儿|闺女|孙子|孙女|外孙女|外孙|爷爷|奶奶|"
    r"外公|外婆|姥姥|姥爷|爸爸|妈妈|父亲|母亲|弟弟|妹妹|哥哥|姐姐|老汉|婆婆|公公|爸|妈)"
)
_RELATIVE_ACCOUNT = re.compile(
    rf"(?:(?:我|俺|帮|给|替)(?:我|俺)?{_RELATIVE}(?:他|她)?(?:的|那个|那|这个|这)?(?:手机|号码|号|卡|电话|话费|流量|套餐|账单|余额))"
    rf"|(?:(?:帮|给|替)(?:我|俺)?{_RELATIVE}(?:查|看|瞅|问))"
)


def about_a_relative(text: str) -> bool:
    """「我老伴的卡」「帮我妈查下话费」「我外公的号码」: an account question about a family member."""
    return _RELATIVE_ACCOUNT.search(text) is not None


def relative_first(ranking: list[tuple[str, float]], text: str) -> list[tuple[str, float]] | None:
    """An account question that names a relative's number is ask_relative, never the subscriber's
    own account (the action needs that number to be bound or authorised)."""
    if not ranking or ranking[0][0] not in RELATIVE_QUERY_INTENTS or not about_a_relative(text):
        return None
    confidence = ranking[0][1]
    rest = [(name, value * (1.0 - confidence)) for name, value in ranking if name != ASK_RELATIVE]
    return [(ASK_RELATIVE, confidence)] + rest


# --- a contested charge is never a transaction ------------------------------------------------

TRANSACTIONS = frozenset({"top_up", "change_plan", "cancel_service"})
DISPUTE = "dispute_charge"


def dispute_first(ranking: list[tuple[str, float]], guard: float) -> list[tuple[str, float]] | None:
    """A transaction (top-up, plan change, cancellation) with a disputed charge in sight
    (dispute_charge >= guard) is served as the dispute: 「充了一百怎么只到账五十」 must never
    start a top-up. The dispute gets the transaction's confidence, the transaction is scaled down."""
    if not ranking or ranking[0][0] not in TRANSACTIONS:
        return None
    confidences = dict(ranking)
    if confidences.get(DISPUTE, 0.0) < guard:
        return None
    confidence = ranking[0][1]
    rest = [(name, value * (1.0 - confidence)) for name, value in ranking if name != DISPUTE]
    return [(DISPUTE, confidence)] + rest
