"""Which of a subscriber's value-added services a free-text request means (「退订彩铃」).

Pure: the catalogue names and aliases come from the backend (demo: billing/demo_data/services.yml),
never from the NLU, so an operator adds a service or a nickname for one without retraining.
"""

from __future__ import annotations

from collections.abc import Sequence

from billing.backend import Subscription, ValueAddedService


def _terms(service: ValueAddedService) -> set[str]:
    return {term.lower() for term in (service.name, *service.aliases) if term and term.strip()}


def _occurrences(text: str, term: str) -> list[tuple[int, int]]:
    found = []
    start = text.find(term)
    while start != -1:
        found.append((start, start + len(term)))
        start = text.find(term, start + 1)
    return found


def match_services(
    text: str, subscriptions: Sequence[Subscription], catalog: Sequence[ValueAddedService] = ()
) -> list[Subscription]:
    """The subscriptions `text` names, in their given order.

    Every name or alias found in the text counts, except one lying inside a longer one found
    at the same place: 「视频彩铃」 means the video ring-back tone, not also 「彩铃」;
    「爱奇艺会员」 is not every 「会员」. A generic alias shared by several services (「包月」)
    names all of them. With the `catalog`, a service they do not have counts as a longer
    name too: 「退订视频彩铃」 does not offer their plain 「彩铃」.
    """
    lowered = (text or "").lower()
    found: list[tuple[int, int, int]] = []  # (start, end, index into subscriptions)
    for index, subscription in enumerate(subscriptions):
        for term in _terms(subscription.service):
            found += [(start, end, index) for start, end in _occurrences(lowered, term)]
    spans = [(start, end) for start, end, _ in found]
    for service in catalog:
        for term in _terms(service):
            spans += _occurrences(lowered, term)
    kept = {
        index
        for start, end, index in found
        if not any(
            other_start <= start and end <= other_end and (other_end - other_start) > (end - start)
            for other_start, other_end in spans
        )
    }
    return [subscription for index, subscription in enumerate(subscriptions) if index in kept]
