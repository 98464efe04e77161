"""Whose X-Forwarded-For is believed (servicekit.forwarding): only a peer in the trusted networks
that also presents the forwarding secret; then the rightmost entry, never one a client wrote.
And the gateway's side: it sends its own secret, never one a client sent."""

from __future__ import annotations

from ipaddress import ip_network

from gateway.headers import forward_request_headers
from servicekit.forwarding import ClientAddresses

LOOPBACK = [ip_network("127.0.0.1/32"), ip_network("::1/128")]
SECRET = "s3cret-value"


def test_a_direct_caller_is_itself_whatever_it_forwards() -> None:
    addresses = ClientAddresses(LOOPBACK, SECRET)
    assert addresses.client("127.0.0.1", "203.0.113.9", None) == "127.0.0.1"
    assert addresses.client("127.0.0.1", "203.0.113.9", "wrong") == "127.0.0.1"
    assert addresses.client("127.0.0.1", "203.0.113.9", SECRET[:-1]) == "127.0.0.1"


def test_the_secret_from_an_untrusted_address_is_not_enough() -> None:
    addresses = ClientAddresses(LOOPBACK, SECRET)
    assert addresses.client("10.1.2.3", "203.0.113.9", SECRET) == "10.1.2.3"


def test_the_gateway_is_believed_for_the_entry_it_appended_only() -> None:
    addresses = ClientAddresses(LOOPBACK, SECRET)
    assert addresses.client("127.0.0.1", "203.0.113.9", SECRET) == "203.0.113.9"
    # A client sent its own X-Forwarded-For through the gateway: the gateway appended the real
    # peer after it, and only that one counts.
    assert addresses.client("127.0.0.1", "1.2.3.4, 5.6.7.8,203.0.113.9", SECRET) == "203.0.113.9"
    assert addresses.client("::1", "2001:db8::7", SECRET) == "2001:db8::7"


def test_networks_match_by_cidr() -> None:
    addresses = ClientAddresses([ip_network("172.28.0.0/24")], SECRET)
    assert addresses.client("172.28.0.10", "198.51.100.1", SECRET) == "198.51.100.1"
    assert addresses.client("172.28.1.10", "198.51.100.1", SECRET) == "172.28.1.10"


def test_without_a_configured_secret_nobody_is_believed() -> None:
    addresses = ClientAddresses(LOOPBACK, "")
    assert addresses.client("127.0.0.1", "203.0.113.9", "") == "127.0.0.1"


def test_a_malformed_entry_falls_back_to_the_peer() -> None:
    addresses = ClientAddresses(LOOPBACK, SECRET)
    assert addresses.client("127.0.0.1", "203.0.113.9, not-an-address", SECRET) == "127.0.0.1"


def test_the_gateway_replaces_a_client_sent_secret_with_its_own() -> None:
    def secrets(forwarding_secret: bytes | None) -> list[bytes]:
        forwarded = forward_request_headers(
            [(b"x-forwarding-secret", b"guessed"), (b"x-forwarded-for", b"1.2.3.4")],
            client_host="10.0.0.7",
            scheme="http",
            forwarding_secret=forwarding_secret,
        )
        assert (b"x-forwarded-for", b"1.2.3.4, 10.0.0.7") in forwarded.headers
        return [value for name, value in forwarded.headers if name == b"x-forwarding-secret"]

    assert secrets(b"the-gateways") == [b"the-gateways"]
    assert secrets(None) == []
