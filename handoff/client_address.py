"""The address a console request comes from, for counting log-in failures.

The peer of the connection, unless that peer is one of the proxies named in AGENT_FORWARDED_FOR:
then the nearest address in X-Forwarded-For that is not one of those proxies (anything further
left was written by the client itself and proves nothing). Without AGENT_FORWARDED_FOR the header
is ignored, so a client cannot give itself a fresh address for every guess.
"""

from __future__ import annotations

import ipaddress

from handoff.config import ProxyNetwork

UNKNOWN = "unknown"


def client_address(peer: str | None, forwarded_for: str | None, trusted: tuple[ProxyNetwork, ...]) -> str:
    address = peer or UNKNOWN
    if not trusted or not _trusted(address, trusted):
        return address
    for hop in reversed([part.strip() for part in (forwarded_for or "").split(",") if part.strip()]):
        if _parse(hop) is None:
            return address  # a malformed hop: the last address we can vouch for
        if not _trusted(hop, trusted):
            return hop
        address = hop
    return address


def _parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: str, trusted: tuple[ProxyNetwork, ...]) -> bool:
    parsed = _parse(address)
    return parsed is not None and any(parsed in network for network in trusted)
