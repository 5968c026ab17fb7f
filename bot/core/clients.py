"""Who a per-client limit counts as one client."""
from __future__ import annotations

import ipaddress


def client_key(address: str | None) -> str:
    """An IPv4 address as it is, an IPv6 address as its /64 prefix.

    A site is handed at least a /64 (RFC 6177), so one client can use any of its 2^64
    addresses: limits per address (login, chat sockets, new conversations) must count
    the prefix, or rotating addresses walks past them.
    """
    if not address:
        return "?"
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)
