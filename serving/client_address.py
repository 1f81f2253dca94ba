"""Which address a request comes from, believing ``X-Forwarded-For`` only from our proxies.

Failed-access throttling and the security log key on the caller's address. A header is
anyone's to write: were ``X-Forwarded-For`` believed from every peer, a guesser would
send a fresh made-up address with every attempt (never throttled) or a victim's address
(throttling it, and writing it into the security log). So the peer address is the client
unless the peer is one of the configured proxies (``EARLYRISK_TRUSTED_PROXIES``, default
none); then the header is read from the right, skipping our own proxies, and the first
address not ours is the client (what each proxy appended; anything to its left is the
client's own text).

The server underneath (uvicorn) rewrites the peer from the header itself for 127.0.0.1 by
default; :mod:`serving.service` turns that off, so this module is the one place deciding.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=16)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in trusted)


def is_trusted(address: str | None, trusted: Sequence[str]) -> bool:
    """Whether address is one of the configured proxies (an address or in a network)."""
    if not address or not trusted:
        return False
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in _networks(tuple(trusted)))


def _forwarded(headers: Iterable[tuple[bytes, bytes]]) -> list[str]:
    """The X-Forwarded-For hops in order (several headers joined, as proxies may send)."""
    hops: list[str] = []
    for name, value in headers:
        if name.lower() == b"x-forwarded-for":
            hops += [part.strip() for part in value.decode("latin-1").split(",") if part.strip()]
    return hops


def client_address(scope: Mapping[str, Any], trusted: Sequence[str]) -> str:
    """The caller's address for an ASGI scope: the peer, or behind a trusted proxy the
    right-most forwarded address that is not a trusted proxy ("unknown" without a peer)."""
    client = scope.get("client")
    peer = str(client[0]) if client else "unknown"
    if not is_trusted(peer, trusted):
        return peer
    for hop in reversed(_forwarded(scope.get("headers", ()))):
        if not is_trusted(hop, trusted):
            return hop[:64]  # a made-up hop from the far end cannot be a long text
    return peer


def forwarded_https(scope: Mapping[str, Any], trusted: Sequence[str]) -> bool:
    """Whether the request reached us over TLS: our own scheme, or a trusted proxy's
    ``X-Forwarded-Proto: https`` (the review cookie is then ``Secure``)."""
    if scope.get("scheme") == "https":
        return True
    client = scope.get("client")
    if not client or not is_trusted(str(client[0]), trusted):
        return False
    for name, value in scope.get("headers", ()):
        if name.lower() == b"x-forwarded-proto":
            return bool(value.decode("latin-1").strip().lower() == "https")
    return False
