"""A lean HTTP/1.1 GET client for polling many workers from one process.

httpx costs over a millisecond of CPU a request (connection-pool bookkeeping, anyio
wrappers, a failed ``import sniffio`` in httpcore on each request); at 100,000 workers a
minute that is more than a core. This client does only what the poller needs: ``GET``
over plain TCP or TLS, ``Content-Length``, chunked and read-until-close bodies, keep-alive
per host, and connect retries like httpx's transport (``retries`` more tries, pausing 0,
0.5, 1, ... seconds). Each connection is an :class:`asyncio.Protocol`, so a request is one
write and one wake-up when the whole response is in.

Timeouts are the caller's (``asyncio.timeout`` around :meth:`LeanClient.get`); a request
cut short leaves its connection closed, never back in the pool.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import zlib
from urllib.parse import urlsplit

MAX_HEAD_BYTES = 64 * 1024
CONNECT_BACKOFF = 0.5
"""httpcore's retry pause factor: 0, then 0.5, 1, 2, ... seconds."""
USER_AGENT = b"cocoon-pool-oracle"
INCOMPLETE_BODY = "peer closed connection without sending complete message body"


class HttpFailure(Exception):
    """A request that got no usable HTTP response; ``name`` mirrors httpx's exception name."""

    name = "TransportError"
    transient = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConnectFailure(HttpFailure):
    """No connection after every connect try."""

    name = "ConnectError"


class ResponseFailure(HttpFailure):
    """The connection broke or the response was not HTTP: worth another try."""

    name = "RemoteProtocolError"
    transient = True


class BodyTooLarge(Exception):
    """The response announced or sent more than the caller's limit."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status} response larger than the limit")
        self.status = status


class _Stale(Exception):
    """A reused keep-alive connection was closed before any byte of the answer."""


class _Response:
    __slots__ = ("body", "keep_alive", "status")

    def __init__(self, status: int, body: bytes, keep_alive: bool) -> None:
        self.status = status
        self.body = body
        self.keep_alive = keep_alive


def _chunked(
    data: bytes | bytearray, start: int, limit: int, status: int
) -> tuple[bytes, int] | None:
    """The decoded chunked body from ``start`` and where it ends; None while incomplete."""
    parts: list[bytes] = []
    size_total = 0
    at = start
    while True:
        line_end = data.find(b"\r\n", at)
        if line_end < 0:
            return None
        size_text = bytes(data[at:line_end]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise ResponseFailure(f"malformed chunk size {size_text[:20]!r}") from None
        at = line_end + 2
        if size == 0:
            # Trailers (rare) end with an empty line like the headers do.
            end = data.find(b"\r\n", at)
            while end > at:
                at = end + 2
                end = data.find(b"\r\n", at)
            if end < 0:
                return None
            return b"".join(parts), end + 2
        size_total += size
        if size_total > limit:
            raise BodyTooLarge(status)
        if len(data) < at + size + 2:
            return None
        parts.append(bytes(data[at : at + size]))
        at += size + 2


def _decode(body: bytes, encoding: bytes) -> bytes:
    # We ask for identity; a server that compresses anyway is still understood.
    if encoding in (b"gzip", b"x-gzip"):
        return zlib.decompress(body, 16 + zlib.MAX_WBITS)
    if encoding == b"deflate":
        try:
            return zlib.decompress(body)
        except zlib.error:
            return zlib.decompress(body, -zlib.MAX_WBITS)
    return body


def parse_response(data: bytes | bytearray, eof: bool, limit: int) -> _Response | None:
    """One whole response at the start of ``data``; None while more bytes are needed."""
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        if len(data) > MAX_HEAD_BYTES:
            raise ResponseFailure("response headers too large")
        if eof:
            raise ResponseFailure(
                "Server disconnected without sending a response." if not data else INCOMPLETE_BODY
            )
        return None
    lines = bytes(data[:head_end]).split(b"\r\n")
    status_line = lines[0].split(b" ", 2)
    # Worded as h11 (under httpx) words it, so both clients store the same reason.
    illegal = f"illegal status line: {bytearray(lines[0][:100])!r}"
    if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/1."):
        raise ResponseFailure(illegal)
    if len(status_line[1]) != 3 or not status_line[1].isdigit():
        raise ResponseFailure(illegal)
    status = int(status_line[1])
    if 100 <= status < 200:
        # An interim answer (100 Continue): the real one follows.
        return parse_response(data[head_end + 4 :], eof, limit)
    length: int | None = None
    chunked = False
    close = status_line[0] == b"HTTP/1.0"
    encoding = b""
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            raise ResponseFailure("malformed header line")
        name = name.strip().lower()
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                raise ResponseFailure("malformed Content-Length") from None
            if length < 0:
                raise ResponseFailure("malformed Content-Length")
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            words = value.strip().lower()
            close = words == b"close" or (close and words != b"keep-alive")
        elif name == b"content-encoding":
            encoding = value.strip().lower()
    start = head_end + 4
    body: bytes
    if status in (204, 304):
        body = b""
    elif chunked:
        found = _chunked(data, start, limit, status)
        if found is None:
            if eof:
                raise ResponseFailure(INCOMPLETE_BODY)
            return None
        body = found[0]
    elif length is not None:
        if length > limit:
            raise BodyTooLarge(status)
        if len(data) - start < length:
            if eof:
                raise ResponseFailure(
                    f"{INCOMPLETE_BODY} (received {len(data) - start} bytes, expected {length})"
                )
            return None
        body = bytes(data[start : start + length])
    else:
        # No length: the body runs until the server closes.
        if len(data) - start > limit:
            raise BodyTooLarge(status)
        if not eof:
            return None
        body = bytes(data[start:])
        close = True
    if encoding:
        try:
            body = _decode(body, encoding)
        except zlib.error as exc:
            raise ResponseFailure(
                f"cannot decode {encoding.decode(errors='replace')}: {exc}"
            ) from exc
    return _Response(status, body, keep_alive=not close)


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection carrying one request at a time."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[_Response] | None = None
        self.closed = False
        self.reused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def _try_finish(self, eof: bool) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        try:
            response = parse_response(self.buffer, eof, self.limit)
        except (ResponseFailure, BodyTooLarge) as exc:
            waiter.set_exception(exc)
            return
        if response is not None:
            waiter.set_result(response)
        elif eof:
            waiter.set_exception(ResponseFailure("Server disconnected without sending a response."))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._try_finish(eof=False)

    def eof_received(self) -> bool:
        self.closed = True
        if self.reused and not self.buffer:
            self._fail(_Stale())
        else:
            self._try_finish(eof=True)
        return False

    def _fail(self, exc: BaseException) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is None or self.waiter.done():
            return
        if self.reused and not self.buffer:
            self._fail(_Stale())
        elif exc is None:
            self._try_finish(eof=True)
        else:
            self._fail(ResponseFailure(f"{type(exc).__name__}: {exc}"))

    async def request(self, data: bytes) -> _Response:
        assert self.transport is not None
        self.buffer.clear()
        waiter: asyncio.Future[_Response] = asyncio.get_running_loop().create_future()
        self.waiter = waiter
        self.transport.write(data)
        try:
            return await waiter
        finally:
            self.waiter = None

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _target(url: str) -> tuple[tuple[bool, str, int], bytes]:
    """The pool key ``(tls, host, port)`` and the request bytes for ``url``."""
    parts = urlsplit(url)
    tls = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if tls else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    host_header = parts.netloc.rsplit("@", 1)[-1]
    # Only the host is IDNA-encoded: the codec works label by label, and the whole request
    # text read as one "label" is too long for it.
    host_bytes = host_header.encode("idna" if not host_header.isascii() else "ascii")
    request = (
        f"GET {path} HTTP/1.1\r\nHost: ".encode("ascii")
        + host_bytes
        + b"\r\nAccept: */*\r\nAccept-Encoding: identity\r\nConnection: keep-alive\r\n"
        + b"User-Agent: "
        + USER_AGENT
        + b"\r\n\r\n"
    )
    return (tls, host, port), request


class LeanClient:
    """GET with keep-alive; ``max_idle`` connections stay open between requests."""

    def __init__(self, *, connect_retries: int, max_idle: int, limit: int) -> None:
        self.connect_retries = connect_retries
        self.max_idle = max_idle
        self.limit = limit
        self._idle: dict[tuple[bool, str, int], list[_Connection]] = {}
        # Every idle connection in the order it was put back (dicts keep insertion order): the
        # one idle the longest is closed first. A connection taken again leaves it at once.
        self._idle_since: dict[_Connection, tuple[bool, str, int]] = {}
        self._ssl: ssl.SSLContext | None = None

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            import httpx  # noqa: PLC0415 (only HTTPS needs it: httpx's own CA bundle)

            self._ssl = httpx.create_ssl_context()
        return self._ssl

    async def _connect(self, key: tuple[bool, str, int]) -> _Connection:
        tls, host, port = key
        loop = asyncio.get_running_loop()
        pause = 0.0
        tries = self.connect_retries + 1
        for attempt in range(1, tries + 1):
            try:
                _, conn = await loop.create_connection(
                    lambda: _Connection(self.limit),
                    host,
                    port,
                    ssl=self._ssl_context() if tls else None,
                    server_hostname=host if tls else None,
                )
                return conn
            except OSError as exc:
                if attempt == tries:
                    # httpx (anyio) names a refused or unroutable address this way; a name
                    # that does not resolve keeps the resolver's message.
                    if isinstance(exc, socket.gaierror):
                        raise ConnectFailure(str(exc)) from exc
                    if isinstance(exc, ssl.SSLError):
                        raise ConnectFailure(str(exc)) from exc
                    raise ConnectFailure("All connection attempts failed") from exc
            await asyncio.sleep(pause)
            pause = CONNECT_BACKOFF if pause == 0 else pause * 2
        raise AssertionError("unreachable")  # pragma: no cover

    def _take_idle(self, key: tuple[bool, str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            del self._idle_since[conn]
            if not conn.closed:
                return conn
        return None

    def _put_idle(self, key: tuple[bool, str, int], conn: _Connection) -> None:
        if self.max_idle <= 0:
            conn.close()
            return
        self._idle.setdefault(key, []).append(conn)
        self._idle_since[conn] = key
        while len(self._idle_since) > self.max_idle:
            old = next(iter(self._idle_since))
            self._idle[self._idle_since.pop(old)].remove(old)
            old.close()

    async def get(self, url: str) -> tuple[int, bytes]:
        """Status and body of ``GET url``; HttpFailure or BodyTooLarge otherwise."""
        key, request = _target(url)
        conn = self._take_idle(key)
        if conn is not None:
            conn.reused = True
            try:
                return await self._exchange(key, conn, request)
            except _Stale:
                pass  # the server closed it while idle: a new connection, same request
        conn = await self._connect(key)
        return await self._exchange(key, conn, request)

    async def _exchange(
        self, key: tuple[bool, str, int], conn: _Connection, request: bytes
    ) -> tuple[int, bytes]:
        try:
            response = await conn.request(request)
        except BaseException:
            conn.abort()
            raise
        if response.keep_alive and not conn.closed:
            self._put_idle(key, conn)
        else:
            conn.close()
        return response.status, response.body

    def close(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
        self._idle_since.clear()
