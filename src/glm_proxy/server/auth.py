"""Who may use the proxy: client keys, and clients on other machines. Pure: no I/O.

With ``PROXY_API_KEY`` set, every route but ``/health`` wants one of its keys, sent as
``Authorization: Bearer <key>`` or ``x-api-key: <key>``. Keys are compared as SHA-256 digests
with ``hmac.compare_digest``, against every configured key, so the time taken says nothing about
how much of a key was right, nor which key matched.

Without keys, the proxy serves only this machine unless ``ALLOW_REMOTE`` says otherwise:
``glm-proxy serve`` refuses to listen on another address (``exposure_problem``), and the app
answers 403 to a client on another machine (for servers such as ``uvicorn server:app --host``,
whose address the app cannot see).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from glm_proxy.config import Settings

CLIENT_KEY_HEADERS = frozenset({b"authorization", b"x-api-key"})
"""Headers that carry a key meant for the proxy; they are not forwarded to the backend."""


class ClientKeys:
    """The keys of ``PROXY_API_KEY``, as digests."""

    __slots__ = ("_digests",)

    def __init__(self, keys: Iterable[str]):
        self._digests = tuple(_digest(key.encode()) for key in keys)

    def __bool__(self) -> bool:
        return bool(self._digests)

    def accepts(self, presented: bytes) -> bool:
        """Whether ``presented`` is one of the keys (constant time in its content)."""
        digest = _digest(presented)
        accepted = False
        for known in self._digests:  # no early exit: every key is compared
            accepted |= hmac.compare_digest(digest, known)
        return accepted


def presented_key(name: bytes, value: bytes) -> bytes | None:
    """The key a client sends in the header ``name`` (lower case), if it is a key header."""
    if name == b"x-api-key":
        return value.strip()
    if name == b"authorization":
        scheme, _, token = value.strip().partition(b" ")
        if scheme.lower() == b"bearer":
            return token.strip()
    return None


@lru_cache(maxsize=256)
def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is this machine only."""
    if host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False  # another name: it may resolve anywhere
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def serves_remote_clients(settings: Settings) -> bool:
    """Whether clients on other machines are served (they bring a key, or it was asked for)."""
    return bool(settings.proxy_api_keys) or settings.allow_remote


def exposure_problem(settings: Settings) -> str | None:
    """Why the proxy must not listen on ``settings.host`` as configured, or None."""
    if serves_remote_clients(settings) or is_loopback(settings.host):
        return None
    return (
        f"HOST={settings.host} lets other machines in and PROXY_API_KEY is not set: set "
        "PROXY_API_KEY, or ALLOW_REMOTE=true (--allow-remote) if anyone who can reach it may use it"
    )


def _digest(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()
