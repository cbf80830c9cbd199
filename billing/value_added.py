"""Which of a subscriber's value-added services a free-text request means (「退订彩铃」).

Pure: the catalogue names and aliases come from the backend (demo: billing/demo_data/services.yml),
never from the NLU, so an operator adds a service or a nickname for one without retraining.
"""

from __future__ import annotations

from collections.abc import Sequence

from billing.backend import Subscription


def _terms(subscription: Subscription) -> set[str]:
    service = subscription.service
    return {term.lower() for term in (service.name, *service.aliases) if term and term.strip()}


def match_services(text: str, subscriptions: Sequence[Subscription]) -> list[Subscription]:
    """The subscriptions `text` names, in their given order.

    Every name or alias found in the text counts, except one lying inside a longer one found
    at the same place: 「视频彩铃」 means the video ring-back tone, not also 「彩铃」;
    「爱奇艺会员」 is not every 「会员」. A generic alias shared by several services (「包月」)
    names all of them.
    """
    lowered = (text or "").lower()
    found: list[tuple[int, int, int]] = []  # (start, end, index into subscriptions)
    for index, subscription in enumerate(subscriptions):
        for term in _terms(subscription):
            start = lowered.find(term)
            while start != -1:
                found.append((start, start + len(term), index))
                start = lowered.find(term, start + 1)
    kept = {
        index
        for start, end, index in found
        if not any(
            other_start <= start and end <= other_end and (other_end - other_start) > (end - start)
            for other_start, other_end, _ in found
        )
    }
    return [subscription for index, subscription in enumerate(subscriptions) if index in kept]
