"""The oracle's lean HTTP client (cocoon_pool.oracle.http): response framing and decoding,
request bytes, connection reuse and its failures, against real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gzip
import socket
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from cocoon_pool.oracle import http
from cocoon_pool.oracle.http import (
    INCOMPLETE_BODY,
    BodyTooLarge,
    ConnectFailure,
    LeanClient,
    ResponseFailure,
    parse_response,
)
from local_http import closed_port_url

OK = b"HTTP/1.1 200 OK\r\n"


def parse(data: bytes, eof: bool = False, limit: int = 1000) -> http._Response | None:
    return parse_response(data, eof, limit)


def test_chunked_bodies_with_extensions_and_trailers() -> None:
    head = OK + b"Transfer-Encoding: chunked\r\n\r\n"
    body = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: yes\r\n\r\n"
    response = parse(head + body)
    assert response is not None
    assert (response.status, response.body, response.keep_alive) == (200, b"Wikipedia", True)
    # every prefix is "more bytes needed"; at end of stream it is an incomplete body
    for cut in (len(head) + 2, len(head) + 9, len(head) + len(body) - 20, len(head + body) - 1):
        assert parse((head + body)[:cut]) is None
        with pytest.raises(ResponseFailure, match=INCOMPLETE_BODY):
            parse((head + body)[:cut], eof=True)
    with pytest.raises(ResponseFailure, match=r"malformed chunk size b'zz'"):
        parse(head + b"zz\r\nab\r\n0\r\n\r\n")
    with pytest.raises(BodyTooLarge) as big:
        parse(head + b"8\r\n12345678\r\n0\r\n\r\n", limit=5)
    assert big.value.status == 200 and "HTTP 200 response larger than the limit" in str(big.value)


@pytest.mark.parametrize(
    ("encoding", "packed"),
    [
        # mtime=0: gzip stamps the time, and xdist workers must collect the same test ids
        (b"gzip", gzip.compress(b'{"a": 1}', mtime=0)),
        (b"x-gzip", gzip.compress(b'{"a": 1}', mtime=0)),
        (b"deflate", zlib.compress(b'{"a": 1}')),
        (b"deflate", zlib.compress(b'{"a": 1}')[2:-4]),  # raw deflate, as some servers send
        (b"identity", b'{"a": 1}'),
    ],
    ids=["gzip", "x-gzip", "zlib", "raw-deflate", "identity"],
)
def test_compressed_bodies_are_decoded(encoding: bytes, packed: bytes) -> None:
    data = OK + b"Content-Encoding: " + encoding + b"\r\nContent-Length: %d\r\n\r\n" % len(packed)
    response = parse(data + packed)
    assert response is not None and response.body == b'{"a": 1}'


def test_a_body_that_does_not_decode_is_a_protocol_failure() -> None:
    data = OK + b"Content-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc"
    with pytest.raises(ResponseFailure, match="cannot decode gzip: "):
        parse(data)


@pytest.mark.parametrize(
    ("data", "eof", "message"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", False, "malformed Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", False, "malformed Content-Length"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", False, "malformed header line"),
        (b"SMTP 220 hello\r\n\r\n", False, "illegal status line: bytearray"),
        (b"HTTP/1.1\r\n\r\n", False, "illegal status line"),
        (b"", True, "Server disconnected without sending a response."),
        (b"HTTP/1.1 200 OK\r\nContent-Le", True, INCOMPLETE_BODY),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n1234",
            True,
            r"\(received 4 bytes, expected 10\)",
        ),
        (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 20_000, False, "response headers too large"),
    ],
)
def test_malformed_responses(data: bytes, eof: bool, message: str) -> None:
    with pytest.raises(ResponseFailure, match=message):
        parse(data, eof=eof)


def test_connection_header_and_http_1_0_decide_keep_alive() -> None:
    def keep(data: bytes) -> bool:
        response = parse(data + b"Content-Length: 0\r\n\r\n")
        assert response is not None
        return response.keep_alive

    assert keep(b"HTTP/1.1 200 OK\r\n")
    assert not keep(b"HTTP/1.1 200 OK\r\nConnection: close\r\n")
    assert not keep(b"HTTP/1.0 200 OK\r\n")
    assert keep(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n")
    # a body without a length runs to the end of the stream, and the connection is done
    until_close = OK + b"\r\n" + b"abc"
    assert parse(until_close) is None
    response = parse(until_close, eof=True)
    assert response is not None and response.body == b"abc" and not response.keep_alive
    with pytest.raises(BodyTooLarge):
        parse(until_close, limit=2)
    assert parse(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n") is not None


def test_request_bytes_and_pool_key() -> None:
    key, request = http._target("https://user:pw@Example.com/a/jsonstats?x=1&y=2")
    assert key == (True, "example.com", 443)
    assert request.startswith(b"GET /a/jsonstats?x=1&y=2 HTTP/1.1\r\nHost: Example.com\r\n")
    assert b"Accept-Encoding: identity\r\n" in request
    assert request.endswith(b"User-Agent: cocoon-pool-oracle\r\n\r\n")
    key, request = http._target("http://127.0.0.1:8080")
    assert key == (False, "127.0.0.1", 8080) and request.startswith(b"GET / HTTP/1.1\r\n")
    key, request = http._target("http://bücher.example/s")
    assert key == (False, "bücher.example", 80)
    assert b"Host: xn--bcher-kva.example\r\n" in request


@contextmanager
def raw_server(answers: list[bytes], close_after_each: bool) -> Iterator[tuple[int, list[int]]]:
    """A server answering each request with the next of ``answers``; yields its port and the
    number of requests seen on each accepted connection."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    seen: list[int] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            seen.append(0)
            with conn:
                conn.settimeout(2)
                buffer = b""
                while answers:
                    try:
                        chunk = conn.recv(65536)
                    except OSError:
                        break
                    if not chunk:
                        break
                    buffer += chunk
                    while b"\r\n\r\n" in buffer and answers:
                        _, buffer = buffer.split(b"\r\n\r\n", 1)
                        seen[-1] += 1
                        conn.sendall(answers.pop(0))
                        if close_after_each:
                            break
                    if close_after_each:
                        break

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], seen
    finally:
        stop.set()
        thread.join(2)
        server.close()


@contextmanager
def listening() -> Iterator[int]:
    """A port whose connections complete (in the backlog) and stay open: never accepted."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


def answer(body: bytes, extra: bytes = b"") -> bytes:
    return OK + extra + b"Content-Length: %d\r\n\r\n" % len(body) + body


def test_keep_alive_reuses_one_connection() -> None:
    async def main(port: int) -> list[tuple[int, bytes]]:
        client = LeanClient(connect_retries=0, max_idle=4, limit=1000)
        try:
            return [await client.get(f"http://127.0.0.1:{port}/w/{i}") for i in range(3)]
        finally:
            client.close()

    with raw_server([answer(b"a"), answer(b"b"), answer(b"c")], False) as (port, seen):
        got = asyncio.run(main(port))
    assert got == [(200, b"a"), (200, b"b"), (200, b"c")]
    assert seen == [3]


def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    """The server answers keep-alive but then closes: the next request finds the idle
    connection stale and sends the same request on a new one."""

    async def main(port: int) -> list[tuple[int, bytes]]:
        client = LeanClient(connect_retries=0, max_idle=4, limit=1000)
        try:
            first = await client.get(f"http://127.0.0.1:{port}/w/1")
            await asyncio.sleep(0.2)  # the server's close arrives while the connection is idle
            second = await client.get(f"http://127.0.0.1:{port}/w/2")
            return [first, second]
        finally:
            client.close()

    with raw_server([answer(b"a"), answer(b"b")], True) as (port, seen):
        got = asyncio.run(main(port))
    assert got == [(200, b"a"), (200, b"b")]
    assert seen == [1, 1]


def test_idle_connections_beyond_max_idle_close_oldest_first() -> None:
    async def main(port: int) -> None:
        key = (False, "127.0.0.1", port)
        none_kept = LeanClient(connect_retries=0, max_idle=0, limit=1000)
        conn = await none_kept._connect(key)
        none_kept._put_idle(key, conn)
        assert conn.closed and none_kept._take_idle(key) is None
        two = LeanClient(connect_retries=0, max_idle=2, limit=1000)
        a, b, c = [await two._connect(key) for _ in range(3)]
        for conn in (a, b, c):
            two._put_idle(key, conn)
        assert a.closed and not b.closed and not c.closed  # idle the longest: closed
        c.closed = True  # the server closed it while idle
        assert two._take_idle(key) is b  # a closed idle connection is never handed out
        assert two._take_idle(key) is None
        b.close()
        two.close()

    with listening() as port:
        asyncio.run(main(port))


def test_a_connection_put_back_again_stays_open() -> None:
    """Taken and put back, a connection is the newest idle one: with one idle slot it is the
    one kept (it used to be closed by the entry of its earlier idle spell)."""

    async def main(port: int) -> None:
        key = (False, "127.0.0.1", port)
        client = LeanClient(connect_retries=0, max_idle=1, limit=1000)
        conn = await client._connect(key)
        for _ in range(5):
            client._put_idle(key, conn)
            assert not conn.closed
            assert client._take_idle(key) is conn
        client._put_idle(key, conn)
        other = await client._connect(key)
        client._put_idle(key, other)
        assert conn.closed and not other.closed
        client.close()
        assert other.closed

    with listening() as port:
        asyncio.run(main(port))


def test_refused_connections_are_retried_then_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "CONNECT_BACKOFF", 0.01)
    client = LeanClient(connect_retries=2, max_idle=1, limit=1000)
    with pytest.raises(ConnectFailure, match="All connection attempts failed") as failed:
        asyncio.run(client.get(closed_port_url()))
    assert failed.value.name == "ConnectError" and not failed.value.transient


def test_a_broken_connection_fails_the_request_as_transient() -> None:
    class Transport(asyncio.Transport):
        def write(self, data: bytes | bytearray | memoryview) -> None:
            pass

        def abort(self) -> None:
            pass

    async def main() -> ResponseFailure:
        conn = http._Connection(limit=100)
        conn.connection_made(Transport())
        pending = asyncio.ensure_future(conn.request(b"GET / HTTP/1.1\r\n\r\n"))
        await asyncio.sleep(0)
        conn.connection_lost(ConnectionResetError("reset by peer"))
        with pytest.raises(ResponseFailure) as failed:
            await pending
        return failed.value

    failure = asyncio.run(main())
    assert failure.message == "ConnectionResetError: reset by peer" and failure.transient


def test_half_a_response_then_end_of_stream_is_an_incomplete_body() -> None:
    async def main(port: int) -> None:
        client = LeanClient(connect_retries=0, max_idle=1, limit=1000)
        with pytest.raises(ResponseFailure, match="received 2 bytes, expected 9"):
            await client.get(f"http://127.0.0.1:{port}/w/1")
        client.close()

    short = OK + b"Content-Length: 9\r\n\r\nab"
    with raw_server([short], True) as (port, _):
        asyncio.run(main(port))
