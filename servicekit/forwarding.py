"""Which client a request came from, when it may have come through the gateway.

``X-Forwarded-For`` is believed only from a trusted proxy: a peer whose address is in the
configured networks AND that presents the forwarding secret the gateway adds to every request it
forwards. The address alone is not enough wherever the gateway shares its address with other
processes (on one machine every local process connects from 127.0.0.1), and the secret alone
would let a leaked value be used from anywhere. From a trusted proxy the client is the rightmost
entry, the one that proxy appended itself (its own peer); entries further left were written by
whoever sent the request and are never believed. Anyone else is the client itself, whatever
headers it sends.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address

from servicekit.logging import get_logger

log = get_logger(__name__)

# Added by the gateway to every request it forwards (and removed from what clients send).
FORWARDING_SECRET_HEADER = "x-forwarding-secret"  # noqa: S105 - a header name, not a secret

Networks = Sequence[IPv4Network | IPv6Network]


class ClientAddresses:
    """Resolves a request's client address from its peer and headers."""

    def __init__(self, trusted_proxies: Networks, forwarding_secret: str) -> None:
        self._networks = tuple(trusted_proxies)
        self._secret = forwarding_secret.encode()

    def is_trusted_proxy(self, peer: str, presented_secret: str | None) -> bool:
        """True when the peer is a configured proxy and proved it with the secret."""
        if not self._secret or presented_secret is None:
            return False
        if not hmac.compare_digest(presented_secret.encode(), self._secret):
            return False
        try:
            address = ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self._networks)

    def client(self, peer: str, forwarded_for: str | None, presented_secret: str | None) -> str:
        """The address to count the request under."""
        if not forwarded_for or not self.is_trusted_proxy(peer, presented_secret):
            return peer
        rightmost = forwarded_for.rsplit(",", 1)[-1].strip()
        try:
            return str(ip_address(rightmost))
        except ValueError:
            # The proxy always appends an address; anything else is a misconfiguration.
            log.warning("forwarded_for_malformed")
            return peer
