"""Which headers cross the gateway, in each direction, and the ids it adds.

One pass over the client's headers builds the upstream list and picks out what the gateway needs
(token, request and correlation ids, trace context), so the hot path touches each header once.
"""

from __future__ import annotations

import ipaddress
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from servicekit.forwarding import FORWARDING_SECRET_HEADER

Headers = list[tuple[bytes, bytes]]

FORWARDING_SECRET = FORWARDING_SECRET_HEADER.encode()

# RFC 9110 section 7.6.1: meaningful for one connection only, never forwarded.
HOP_BY_HOP: frozenset[bytes] = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Identity is what the token says, nothing else: a client must not be able to claim one with a
# header that some service (or a future one) might trust.
IDENTITY_HEADERS: frozenset[bytes] = frozenset(
    {
        b"x-user-id",
        b"x-user-roles",
        b"x-user-email",
        b"x-authenticated-user",
        b"x-forwarded-user",
        b"x-remote-user",
        b"remote-user",
        b"x-auth-user",
    }
)
IDENTITY_PREFIXES: tuple[bytes, ...] = (b"x-user-", b"x-authenticated-", b"x-auth-request-")
# Set by the gateway itself; the client's values are read, then replaced.
_REPLACED: frozenset[bytes] = frozenset(
    {
        b"host",
        b"x-request-id",
        b"x-correlation-id",
        b"traceparent",
        b"x-forwarded-for",
        b"x-forwarded-host",
        b"x-forwarded-proto",
        b"forwarded",
        FORWARDING_SECRET,
    }
)
# Expect: 100-continue was answered by the gateway's own server already.
_DROPPED_REQUEST: frozenset[bytes] = HOP_BY_HOP | IDENTITY_HEADERS | _REPLACED | {b"expect"}
# The gateway's server sets its own Date, and the response carries the gateway's X-Request-ID.
_DROPPED_RESPONSE: frozenset[bytes] = HOP_BY_HOP | {b"date", b"server", b"x-request-id"}
# Response headers holding a URL, which must not name a service instance (see public_url).
_URL_HEADERS: frozenset[bytes] = frozenset({b"location", b"content-location"})
# (host, port) -> True when that address is one of the gateway's upstream instances.
InternalAddress = Callable[[str, int], bool]

_ID = re.compile(rb"[A-Za-z0-9._:@/+=-]{1,128}")
_TRACEPARENT = re.compile(rb"[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
_ZERO_TRACE = b"0" * 32
_ZERO_SPAN = b"0" * 16


@dataclass(slots=True)
class Forwarded:
    """The upstream request's headers and what the gateway read from the client's."""

    headers: Headers
    request_id: str
    correlation_id: str
    authorization: str | None
    has_body: bool
    # The body's length is unknown (the client sent it chunked): forward it chunked too.
    chunked: bool


# Request and trace ids need to be unique, not secret: the Mersenne Twister is ample and, unlike
# uuid4 or os.urandom, costs no system call on every request.


def new_request_id() -> str:
    """32 hex digits, the shape of a uuid4 without dashes."""
    return f"{random.getrandbits(128):032x}"


def new_traceparent() -> bytes:
    """A fresh W3C trace context: new trace id, new parent id, sampled."""
    return f"00-{random.getrandbits(128) or 1:032x}-{random.getrandbits(64) or 1:016x}-01".encode()


def valid_traceparent(value: bytes) -> bool:
    """True for a well-formed W3C traceparent with non-zero ids."""
    match = _TRACEPARENT.fullmatch(value)
    return (
        match is not None
        and not value.startswith(b"ff")
        and match.group(1) != _ZERO_TRACE
        and match.group(2) != _ZERO_SPAN
    )


def forward_request_headers(
    raw: Iterable[tuple[bytes, bytes]],
    *,
    client_host: str | None,
    scheme: str,
    forwarding_secret: bytes | None = None,
) -> Forwarded:
    """Client headers -> upstream headers: hop-by-hop and identity headers dropped, X-Request-ID,
    X-Correlation-ID and traceparent kept when well formed (else created), the client's address
    appended to X-Forwarded-For, and the gateway's forwarding secret (never a client's) added."""
    headers: Headers = []
    replaced: dict[bytes, bytes] = {}
    forwarded_for: list[bytes] = []
    authorization: bytes | None = None
    has_body = False
    has_length = False
    for name, value in raw:
        # ASGI servers hand over lower-case names; lower() keeps that true for any other caller.
        name = name.lower()  # noqa: PLW2901
        if name in _DROPPED_REQUEST or name.startswith(IDENTITY_PREFIXES):
            if name == b"x-forwarded-for":
                forwarded_for.append(value)
            else:
                replaced[name] = value
            continue
        if name == b"authorization":
            if authorization is not None:
                # Only the first is kept: the token the gateway checks is the one forwarded.
                continue
            authorization = value
        elif name == b"content-length":
            has_length = True
            has_body = value != b"0"
        headers.append((name, value))
    chunked = not has_length and b"transfer-encoding" in replaced
    has_body = has_body or chunked
    request_id = replaced.get(b"x-request-id")
    correlation_id = replaced.get(b"x-correlation-id")
    traceparent = replaced.get(b"traceparent")
    host = replaced.get(b"host")
    connection = replaced.get(b"connection")

    if connection is not None:
        # Headers the client named in Connection are hop-by-hop too (RFC 9110 section 7.6.1).
        nominated = {token.strip().lower() for token in connection.split(b",")}
        headers = [(name, value) for name, value in headers if name not in nominated]

    rid = request_id.decode() if request_id and _ID.fullmatch(request_id) else new_request_id()
    cid = correlation_id.decode() if correlation_id and _ID.fullmatch(correlation_id) else rid
    headers.append((b"x-request-id", rid.encode()))
    headers.append((b"x-correlation-id", cid.encode()))
    headers.append(
        (
            b"traceparent",
            traceparent if traceparent and valid_traceparent(traceparent) else new_traceparent(),
        )
    )
    if client_host:
        forwarded_for.append(client_host.encode())
    if forwarded_for:
        headers.append((b"x-forwarded-for", b", ".join(forwarded_for)))
    if host:
        headers.append((b"x-forwarded-host", host))
    headers.append((b"x-forwarded-proto", scheme.encode()))
    if forwarding_secret:
        headers.append((FORWARDING_SECRET, forwarding_secret))
    return Forwarded(
        headers=headers,
        request_id=rid,
        correlation_id=cid,
        authorization=authorization.decode("latin-1") if authorization else None,
        has_body=has_body,
        chunked=chunked,
    )


def is_loopback_host(host: str) -> bool:
    """True for a host name or address that can only mean the machine it is used on."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def public_url(value: bytes, is_internal: InternalAddress) -> bytes | None:
    """A Location-like header value as a client may see it: an absolute URL naming an internal
    address (a service instance) becomes its path, which the gateway routes to the same
    place; other values pass unchanged. None (drop the header) when the URL cannot be read."""
    # Browsers read a backslash as a slash in http(s) URLs and drop tabs.
    normal = value.replace(b"\\", b"/").replace(b"\t", b"").strip()
    if b"//" not in normal:
        return value  # a relative reference: names no host
    try:
        url = urlsplit(normal.decode("latin-1"))
        host = url.hostname
        port = url.port
    except ValueError:
        return None
    if not url.netloc or host is None:
        return value
    if port is None:
        port = 443 if url.scheme.lower() in ("https", "wss") else 80
    if not (is_loopback_host(host) or is_internal(host, port)):
        return value
    path = url.path or "/"
    if path.startswith("//"):
        return None  # would read as a host again
    relative = (
        path + (f"?{url.query}" if url.query else "") + (f"#{url.fragment}" if url.fragment else "")
    )
    return relative.encode("latin-1")


def _no_instances(host: str, port: int) -> bool:
    return False


def response_headers(
    raw: Iterable[tuple[bytes, bytes]],
    request_id: bytes,
    is_internal: InternalAddress = _no_instances,
) -> Headers:
    """Upstream response headers -> client: hop-by-hop dropped, the gateway's X-Request-ID,
    and no Location or Content-Location naming an internal address (``is_internal``, or a
    loopback one): those become paths."""
    headers: Headers = []
    connection: bytes | None = None
    for name, value in raw:
        name = name.lower()  # noqa: PLW2901 - httpx keeps the upstream's spelling
        if name not in _DROPPED_RESPONSE:
            if name in _URL_HEADERS:
                public = public_url(value, is_internal)
                if public is None:
                    continue
                value = public  # noqa: PLW2901
            headers.append((name, value))
        elif name == b"connection":
            connection = value
    if connection is not None:
        nominated = {token.strip().lower() for token in connection.split(b",")}
        headers = [(name, value) for name, value in headers if name not in nominated]
    headers.append((b"x-request-id", request_id))
    return headers
