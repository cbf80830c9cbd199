"""Request-first intent resolution (pure Python; nlu.components.RequestResolver runs it).

Inputs: DIET's whole-message ranking and, per clause of the message (nlu.spoken), the clause
classifier's best intent and probability, in message order. Rules:

1. Chit-chat loses to a request: when DIET's top intent is chit-chat (greet, thank, goodbye,
   help, emoji_only) and a clause is a request with p >= clause_threshold, the first such
   request is the message's intent.
2. Two requests: when two clauses are confidently (p >= second_threshold) different request
   intents, DIET supports both (one is its top intent or the top was chit-chat, the other is in
   its top `second_rank`), the one said first is the intent and the other is the second
   request. Replies (affirm, deny, inform) and chit-chat are never requests.
3. Otherwise DIET's ranking stands (returns None).

The new ranking puts the chosen intent first with confidence max(DIET, clause) and scales the
intents it overrode by (1 - that confidence), so a fallback classifier after it still sees low
confidence and small margins among the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

CHITCHAT = frozenset({"greet", "thank", "goodbye", "help", "emoji_only"})
NON_REQUESTS = CHITCHAT | {"affirm", "deny", "inform", "nlu_fallback"}


@dataclass(frozen=True)
class Decision:
    ranking: list[tuple[str, float]]  # new intent ranking, best first
    second: str | None = None  # the second request's intent
    second_clause: int | None = None  # index of the clause it came from


def resolve(
    ranking: list[tuple[str, float]],
    clauses: list[tuple[str, float]],
    *,
    clause_threshold: float = 0.5,
    second_threshold: float = 0.6,
    second_rank: int = 3,
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
    if len(distinct) >= 2:
        supported = {name for name, _ in ranking[:second_rank]}
        (_, first), (second_index, other) = distinct[0], distinct[1]
        if (top in (first, other) or top in CHITCHAT) and {first, other} - {top} <= supported:
            primary = first
            second = (second_index, other)

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
