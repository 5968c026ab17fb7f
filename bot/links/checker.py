"""Checking the entries' links (website, evaluation): is the page still there?

:func:`check_links` asks every URL once, politely: at most ``concurrency`` requests in
all and one at a time per host, with ``per_host_delay`` seconds between two requests to
the same host; each request has a ``timeout``; redirects are followed by hand (at most
``max_redirects``) so every hop is recorded and a loop is named as one.

The URLs come from the registry, which mail and chat feed: by default only public
addresses are asked (:class:`PublicOnlyResolver`), so a link cannot make the service
probe its own network (server-side request forgery). Tests allow loopback.

No database here: targets in, :class:`LinkResult` out (:mod:`bot.links.store` records).
"""
from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urljoin

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

# RFC 9110 §15.4: the redirections a browser follows.
REDIRECTS = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "landkort-linkcheck/1 (+Det telemedicinske landkort; checks links once a month)"


@dataclass(frozen=True)
class LinkTarget:
    """One link of one entry."""

    initiative_id: int
    field: str  # website | evaluation_url
    url: str


@dataclass(frozen=True)
class LinkResult:
    """What asking one link gave: ``ok`` (2xx after redirects), else ``broken`` (4xx/5xx)
    or ``error`` (no answer: timeout, refused, bad address, a redirect loop)."""

    target: LinkTarget
    outcome: str  # ok | broken | error
    status: int | None = None
    final_url: str | None = None
    redirects: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


class BlockedAddress(OSError):
    """The host resolves only to addresses the checker may not ask."""


# IPv6 ranges that carry an IPv4 address (RFC 6052 NAT64, RFC 3056 6to4, the deprecated
# IPv4-compatible ::/96): a "global" IPv6 address that reaches a private IPv4 one.
_EMBEDDING = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("2002::/16"),
              ipaddress.ip_network("::/96"))
# A link to a web page is on the web's ports; anything else on a public address may be a
# service that trusts us (our own host's admin ports).
WEB_PORTS = frozenset({80, 443})


def public_address(address: str) -> bool:
    """Whether a numeric address is globally routable (RFC 6890), IPv4 inside IPv6
    included."""
    ip = ipaddress.ip_address(address.strip("[]").split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped.is_global
        if any(ip in net for net in _EMBEDDING):
            return False
    return ip.is_global


class PublicOnlyResolver(AbstractResolver):
    """aiohttp's resolver, keeping only globally routable addresses (no loopback, private,
    link-local or reserved ones: RFC 6890). The addresses it returns are the ones aiohttp
    connects to (its DNS cache keeps the filtered list), so a name that resolves anew to
    a private address (DNS rebinding) is refused at each resolution."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        public = [r for r in found if public_address(r["host"])]
        if not public:
            raise BlockedAddress(f"{host} is not a public address")
        return public

    async def close(self) -> None:
        await self._inner.close()


class _Politeness:
    """One request at a time per host, and a pause between two to the same host."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self._locks: dict[str, asyncio.Lock] = {}
        self._last: dict[str, float] = {}

    @asynccontextmanager
    async def host(self, host: str) -> AsyncIterator[None]:
        """The host's turn: wait for its lock and for the pause since its last request."""
        host = host.casefold()
        async with self._locks.setdefault(host, asyncio.Lock()):
            wait = self._last.get(host, -1e9) + self.delay - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                yield
            finally:
                self._last[host] = time.monotonic()


def refusal(url: str, *, allow_private: bool) -> str | None:
    """Why the checker will not ask ``url``, or None. The host is read as aiohttp will
    dial it (yarl: "１２７.０.０.１" is 127.0.0.1), and a numeric one is checked here,
    because aiohttp asks no resolver for it."""
    try:
        parsed = URL(url)
        host, port = parsed.raw_host, parsed.port
    except (ValueError, TypeError):
        return "not a web address"
    if parsed.scheme not in ("http", "https") or not host:
        return "not an http(s) address"
    if allow_private:
        return None
    if port not in WEB_PORTS:
        return f"port {port} is not a web port"
    try:
        numeric = public_address(host)
    except ValueError:
        return None  # a name: the resolver decides
    return None if numeric else f"{host} is not a public address"


async def _ask(session: aiohttp.ClientSession, target: LinkTarget, polite: _Politeness,
               limit: asyncio.Semaphore, timeout: float, max_redirects: int,
               allow_private: bool) -> LinkResult:
    started = time.monotonic()
    url = target.url
    hops: list[str] = []
    seen = {url}
    try:
        while True:
            refused = refusal(url, allow_private=allow_private)
            if refused is not None:
                raise BlockedAddress(refused)
            host = URL(url).raw_host or ""
            # The host's turn first, then a slot: waiting for a busy host holds no slot
            # another host could use.
            async with polite.host(host), limit:
                async with session.get(url, allow_redirects=False,
                                       timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
                    status = resp.status
                    location = resp.headers.get("Location")
            if status in REDIRECTS and not location:
                return LinkResult(target, "error", status, url, hops,
                                  "redirect without a Location", time.monotonic() - started)
            if status in REDIRECTS:
                url = urljoin(url, location)
                hops.append(url)
                if url in seen:
                    return LinkResult(target, "error", status, url, hops, "redirect loop",
                                      time.monotonic() - started)
                seen.add(url)
                if len(hops) > max_redirects:
                    return LinkResult(target, "error", status, url, hops, "too many redirects",
                                      time.monotonic() - started)
                continue
            outcome = "ok" if 200 <= status < 300 or status == 304 else "broken"
            return LinkResult(target, outcome, status, url, hops, None,
                              time.monotonic() - started)
    except TimeoutError:
        error = f"no answer within {timeout:g} s"
    except BlockedAddress as exc:
        error = str(exc)
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        # aiohttp wraps the resolver's refusal in its own connector error.
        cause = exc.__cause__ or getattr(exc, "os_error", None)
        error = (str(cause) if isinstance(cause, BlockedAddress)
                 else f"{type(exc).__name__}: {exc}")[:300]
    return LinkResult(target, "error", None, url, hops, error, time.monotonic() - started)


async def check_links(targets: Iterable[LinkTarget], *, concurrency: int = 8,
                      per_host_delay: float = 1.0, timeout: float = 15.0,
                      max_redirects: int = 5, allow_private: bool = False,
                      deadline: float | None = None,
                      session: aiohttp.ClientSession | None = None) -> list[LinkResult]:
    """Ask every target once, politely (see the module); results in the targets' order.

    ``deadline`` bounds the whole batch (seconds): links still waiting for their host's
    turn then are left out of the results — not failed — and stay due for the next
    batch (many links on one slow host would otherwise hold a batch for hours)."""
    items: Sequence[LinkTarget] = list(targets)
    if not items:
        return []
    limit = asyncio.Semaphore(max(1, concurrency))
    polite = _Politeness(per_host_delay)
    own = session is None
    if session is None:
        connector = aiohttp.TCPConnector(
            resolver=None if allow_private else PublicOnlyResolver(),
            limit=max(1, concurrency), ttl_dns_cache=300)
        session = aiohttp.ClientSession(connector=connector,
                                        headers={"User-Agent": USER_AGENT})
    tasks = [asyncio.ensure_future(
        _ask(session, t, polite, limit, timeout, max_redirects, allow_private))
        for t in items]
    try:
        done, pending = await asyncio.wait(tasks, timeout=deadline)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        return [task.result() for task in tasks if task in done]
    finally:
        for task in tasks:  # cancelled from outside (shutdown): nothing left running
            task.cancel()
        if own:
            await session.close()


__all__ = ["BlockedAddress", "LinkResult", "LinkTarget", "PublicOnlyResolver", "REDIRECTS",
           "WEB_PORTS", "check_links", "public_address", "refusal"]
