"""What a client may send the gateway, enforced on the connection, below the ASGI app.

uvicorn's httptools protocol has no limit on the size of a request head, no deadline for a head
or a body that trickles in, and no per-client connection count; the app cannot add them (it is
called only once the head is complete, and never sees bytes it does not ask for). So the gateway
runs uvicorn with ``LimitedHttpToolsProtocol``, a subclass that counts and times what the parser
is fed:

- the request line and headers together: at most ``max_header_bytes``, else 431;
- the body: at most ``max_body_bytes``. A larger Content-Length is answered 413 before a byte
  of the body is read; a chunked body is counted as it is decoded and cut off (413 if nothing
  was answered yet) the moment it passes the limit, so the upstream never receives more;
- deadlines from the first byte of a head to its end, and from the end of the head to the end
  of the body, never extended by bytes that trickle in: 408 when they pass;
- open connections per client address (an IPv6 client per /64): beyond the cap a connection
  is answered 429 as soon as it is accepted;
- TRACE and CONNECT: 405, never forwarded (TRACE would echo credentials back, CONNECT asks for
  a tunnel the gateway does not offer).

A refusal writes the answer with ``Connection: close``, closes the sending side and discards
what the client still sends for at most ``LINGER_SECONDS`` before closing: closing a socket with
unread data makes the kernel send a reset, which can destroy the answer before the client
reads it (nginx's "lingering close" does the same).

The per-request cost is a handful of attribute checks and, only for a head or body that does
not arrive in one read, a timer.
"""

from __future__ import annotations

import asyncio
import http
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import httptools
import orjson
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from gateway import metrics
from servicekit.logging import get_logger

if TYPE_CHECKING:
    from gateway.settings import GatewaySettings

log = get_logger(__name__)

# How long a refused connection is drained before it is closed (see the module docstring).
LINGER_SECONDS = 2.0
# Methods refused at the gateway whatever the path.
REFUSED_METHODS: frozenset[bytes] = frozenset({b"TRACE", b"CONNECT"})
ALLOW = b"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
# Key in scope["extensions"]: {"status", "detail"} of a refusal that cut off a request the app
# was already serving, so its access line says 413 or 408 rather than a client disconnect.
REFUSAL_EXTENSION = "gateway.refusal"

Reason = Literal[
    "header_size", "body_size", "header_timeout", "body_timeout", "client_connections", "method"
]


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """The limits one server applies to every connection (from GatewaySettings)."""

    max_header_bytes: int
    max_body_bytes: int
    header_timeout: float
    body_timeout: float
    max_connections_per_client: int  # 0: no cap

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> ConnectionLimits:
        """The limits configured by GATEWAY_* settings."""
        return cls(
            max_header_bytes=settings.max_header_bytes,
            max_body_bytes=settings.max_body_bytes,
            header_timeout=settings.header_timeout_seconds,
            body_timeout=settings.body_timeout_seconds,
            max_connections_per_client=settings.max_connections_per_client,
        )


def client_key(host: str) -> str:
    """The address a connection counts against: the IPv4 address, or an IPv6 address's /64
    (a single host is usually given a whole /64, so counting addresses would cap nothing)."""
    if ":" not in host:
        return host
    try:
        address = ipaddress.IPv6Address(host.split("%", 1)[0])
    except ValueError:
        return host
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((address, 64), strict=False))


class ClientConnections:
    """Open connections per client address, at most ``cap`` each."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._open: dict[str, int] = {}

    def admit(self, key: str) -> bool:
        """Count one more connection for ``key``; False (and not counted) when at the cap."""
        count = self._open.get(key, 0)
        if count >= self.cap:
            return False
        self._open[key] = count + 1
        return True

    def release(self, key: str) -> None:
        """One admitted connection of ``key`` closed."""
        count = self._open.get(key, 0) - 1
        if count > 0:
            self._open[key] = count
        else:
            self._open.pop(key, None)

    def open(self, key: str) -> int:
        """Connections of ``key`` open now."""
        return self._open.get(key, 0)


def body_framing(headers: Iterable[tuple[bytes, bytes]]) -> tuple[int | None, bool]:
    """(Content-Length or None, chunked) of a request whose (lower-case) headers the parser
    accepted: it has already refused malformed or conflicting lengths."""
    length: int | None = None
    chunked = False
    for name, value in headers:
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = None
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
    return length, chunked


def refusal(
    status: int,
    detail: str,
    extra: Iterable[tuple[bytes, bytes]] = (),
    default_headers: Iterable[tuple[bytes, bytes]] = (),
) -> bytes:
    """A complete ``{"detail": ...}`` response that closes the connection."""
    body = orjson.dumps({"detail": detail})
    lines = [b"HTTP/1.1 %d %b" % (status, http.HTTPStatus(status).phrase.encode())]
    lines += [name + b": " + value for name, value in default_headers]
    lines += [
        b"content-type: application/json",
        b"content-length: %d" % len(body),
        b"connection: close",
    ]
    lines += [name + b": " + value for name, value in extra]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the gateway's limits; ``limited_protocol()`` binds it
    to a ConnectionLimits and a connection count of its own."""

    limits: ClassVar[ConnectionLimits]
    clients: ClassVar[ClientConnections]

    # Per connection: _in_head from the end of a message until the next head is complete;
    # _head_begun once the parser saw the first byte of that head; _head_bytes fed meanwhile.
    # One deadline at a time: the head's while _in_head, else the body's.

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._in_head = True
        self._head_begun = False
        self._head_bytes = 0
        self._body_bytes = 0
        self._deadline: asyncio.TimerHandle | None = None
        self._linger: asyncio.TimerHandle | None = None
        self._refused = False
        self._client_key: str | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Count the connection against its client's cap; start the head deadline."""
        super().connection_made(transport)
        limits = self.limits
        if limits.max_connections_per_client and self.client is not None:
            key = client_key(self.client[0])
            if not self.clients.admit(key):
                self._refuse(
                    "client_connections",
                    429,
                    "too many connections from this address",
                    head=True,
                    extra=((b"retry-after", b"1"),),
                )
                return
            self._client_key = key
        # Covers the wait for the first byte too: a connection that never sends is closed.
        self._arm(limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the timers and uncount the connection."""
        self._disarm()
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        if self._client_key is not None:
            self.clients.release(self._client_key)
            self._client_key = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed the parser, at most ``max_header_bytes`` of any one head."""
        if self._refused:
            return  # draining a refused connection
        self._unset_keepalive_if_required()
        if self._in_head:
            room = self.limits.max_header_bytes - self._head_bytes
            if len(data) > room:
                # Feed what fits: unless the head ends within it, the head is too large.
                if not self._feed(data[:room]):
                    return
                if self._reading_head():
                    self._refuse(
                        "header_size",
                        431,
                        f"request head larger than {self.limits.max_header_bytes} bytes",
                        head=True,
                    )
                    return
                data = data[room:]
            else:
                self._head_bytes += len(data)
        # Bytes after the end of a message, in the same read, start the next head uncounted:
        # a pipelined head can pass the limit by at most one read.
        if self._feed(data) and self._head_begun and self._deadline is None:
            # A head that did not arrive in one read: its deadline runs from now, whatever
            # trickles in later.
            self._arm(self.limits.header_timeout)

    def _reading_head(self) -> bool:
        # A method, not the attribute: the parser callbacks change it during _feed().
        return self._in_head

    def _feed(self, data: bytes) -> bool:
        """uvicorn's own handling of the parser; False once the connection is done for."""
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._refused:
                return False
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return False
        except httptools.HttpParserError:
            if self._refused:
                return False
            message = "Invalid HTTP request received."
            self.logger.warning(message)
            self.send_400_response(message)
            return False
        return not self._refused

    # -- parser callbacks ----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        """The first byte of a head."""
        super().on_message_begin()
        self._head_begun = True

    def on_headers_complete(self) -> None:
        """Refuse TRACE/CONNECT and a declared body over the limit before the app sees them;
        otherwise hand over to uvicorn and start the body's deadline if a body follows."""
        self._in_head = False
        self._head_begun = False
        self._disarm()
        method = self.parser.get_method()
        if method in REFUSED_METHODS:
            self._refuse(
                "method",
                405,
                f"method {method.decode()} is not allowed",
                head=True,
                extra=((b"allow", ALLOW),),
            )
            return
        length, chunked = body_framing(self.headers)
        if length is not None and length > self.limits.max_body_bytes:
            self._refuse(
                "body_size",
                413,
                f"request body larger than {self.limits.max_body_bytes} bytes",
                head=True,
            )
            return
        super().on_headers_complete()
        self._body_bytes = 0
        if length or chunked:
            self._arm(self.limits.body_timeout)

    def on_body(self, body: bytes) -> None:
        """Count the decoded body; the part that passes the limit is never handed on."""
        if self._refused:
            return
        self._body_bytes += len(body)
        if self._body_bytes > self.limits.max_body_bytes:
            self._refuse(
                "body_size",
                413,
                f"request body larger than {self.limits.max_body_bytes} bytes",
                head=False,
            )
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        """The body is in: stop its deadline; what follows is the next head."""
        if self._refused:
            return
        self._disarm()
        self._in_head = True
        self._head_bytes = 0
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        """Hand over to a WebSocket protocol (only when uvicorn runs with one): this connection
        leaves the limits, so it is uncounted now; its connection_lost never comes."""
        self._disarm()
        if self._client_key is not None:
            self.clients.release(self._client_key)
            self._client_key = None
        super().handle_websocket_upgrade()

    def _unsupported_upgrade_warning(self) -> None:
        # uvicorn's warning blames a missing WebSocket library; the gateway offers no upgrade
        # at all and answers the request as plain HTTP.
        log.info("upgrade_not_supported")

    def shutdown(self) -> None:
        """Server shutdown: a refused connection is closed at once, the rest as uvicorn does."""
        if self._refused:
            self.transport.close()
            return
        super().shutdown()

    # -- deadlines and refusals --------------------------------------------------------------

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._deadline_passed)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _deadline_passed(self) -> None:
        self._deadline = None
        if self._refused or self.transport.is_closing():
            return
        limits = self.limits
        if not self._in_head:
            detail = f"request body not received within {limits.body_timeout:g}s"
            self._refuse("body_timeout", 408, detail, head=False)
        elif self._head_begun or self._head_bytes:
            detail = f"request head not received within {limits.header_timeout:g}s"
            self._refuse("header_timeout", 408, detail, head=True)
        else:
            # Nothing was sent since the connection opened: no request to answer.
            metrics.LIMIT_REFUSALS.labels(reason="header_timeout").inc()
            self._refused = True
            self.transport.close()

    def _refuse(
        self,
        reason: Reason,
        status: int,
        detail: str,
        *,
        head: bool,
        extra: Iterable[tuple[bytes, bytes]] = (),
    ) -> None:
        """Answer ``status`` if the client is waiting for nothing else, then close.

        ``head``: the refusal is about a request head (nothing of it reached the app), so it can
        be answered unless an earlier response on this connection is still going out; about a
        body, it can be answered only while the app has not started its response."""
        self._refused = True
        self._disarm()
        metrics.LIMIT_REFUSALS.labels(reason=reason).inc()
        log.info("request_refused", reason=reason, status=status)
        cycle = self.cycle
        if self.pipeline:
            answer = False  # an earlier request is still being answered
        elif head:
            answer = cycle is None or cycle.response_complete
        else:
            answer = cycle is not None and not cycle.response_started
        if cycle is not None and not cycle.response_complete:
            # The app's next receive() gets http.disconnect (the proxy stops sending upstream
            # and closes that connection) and its next send() is dropped.
            if not head:
                extensions = cycle.scope.setdefault("extensions", {})
                extensions[REFUSAL_EXTENSION] = {"status": status, "detail": detail}
            cycle.disconnected = True
            cycle.message_event.set()
        transport = self.transport
        if not answer:
            transport.close()
            return
        transport.write(refusal(status, detail, extra, self.server_state.default_headers))
        if transport.can_write_eof():
            transport.write_eof()
            self.flow.resume_reading()  # drain, so the close sends no reset
            self._linger = self.loop.call_later(LINGER_SECONDS, transport.close)
        else:
            transport.close()


def limited_protocol(limits: ConnectionLimits) -> type[LimitedHttpToolsProtocol]:
    """A protocol class for ``uvicorn.Config(http=...)`` enforcing ``limits``, with its own
    count of connections per client."""

    class BoundLimitedHttpToolsProtocol(LimitedHttpToolsProtocol):
        pass

    BoundLimitedHttpToolsProtocol.limits = limits
    BoundLimitedHttpToolsProtocol.clients = ClientConnections(limits.max_connections_per_client)
    return BoundLimitedHttpToolsProtocol
