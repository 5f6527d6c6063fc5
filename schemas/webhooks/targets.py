"""Where a partner's webhook may point: at a partner, never inside the platform's network.

Checked twice: when a subscription is made (the URL's host as written) and when each connection
is made (every address its name resolves to, by the deliverer's resolver, which connects only to
an address it checked). A name that resolved to a partner at registration and to 127.0.0.1 later
(DNS rebinding) is refused at the second check."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"localhost"})
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa")


@dataclass(frozen=True, slots=True)
class Targets:
    """What the operator allows besides the public internet."""

    loopback_http: bool = False  # development: http:// to 127.0.0.1 or localhost
    private: bool = False  # on-premises partners: private (RFC 1918, unique-local) addresses


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def address_refused(host: str, targets: Targets) -> str | None:
    """Why the deliverer may not connect to this address (or name kept for local use), or None."""
    address = _address(host)
    if address is None:
        name = host.lower().rstrip(".")
        if name in LOOPBACK_NAMES or name.endswith(LOCAL_SUFFIXES):
            return None if targets.loopback_http and name in LOOPBACK_NAMES else "a local name"
        return None  # a name: its addresses are checked when it is resolved
    if address.is_loopback:
        return None if targets.loopback_http else "a loopback address"
    if address.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return "a multicast, unspecified or reserved address"
    if address.is_private or (isinstance(address, ipaddress.IPv6Address) and address in _UNIQUE_LOCAL):
        return None if targets.private else "a private address"
    return None


_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")


def url_refused(url: str, targets: Targets) -> str | None:
    """Why a subscription URL is refused, or None."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        return "the URL has no host"
    if parts.scheme not in ("https", "http"):
        return "the URL must be https"
    if parts.username or parts.password:
        return "the URL must not carry a user name or password (the signature authenticates the platform)"
    if parts.scheme == "http":
        address = _address(host)
        loopback = address.is_loopback if address is not None else host.lower() in LOOPBACK_NAMES
        if not (targets.loopback_http and loopback):
            if targets.loopback_http:
                return "http is accepted only to a loopback address (127.0.0.1, localhost); use https"
            return "the URL must be https"
    refused = address_refused(host, targets)
    if refused:
        return f"the URL's host is {refused}, not a partner's"
    return None
