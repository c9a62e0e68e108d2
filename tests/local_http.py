"""Worker stand-ins for the oracle tests: real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def local_http_server(answer: Callable[[BaseHTTPRequestHandler], None]) -> Iterator[int]:
    """Serve GET requests with ``answer`` on a free port (yielded) until the block ends."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answer(self)

        def log_message(self, format: str, *args: object) -> None:
            pass  # the tests assert on what the oracle stored, not on the server's log

    # A slow answer the oracle gave up on must not hold the test's teardown.
    with serve_on_free_port(Handler, block_on_close=False) as port:
        yield port


@contextmanager
def serve_on_free_port(
    handler: type[BaseHTTPRequestHandler], *, block_on_close: bool = True
) -> Iterator[int]:
    """Run a threading HTTP server with ``handler`` on a free port of 127.0.0.1 (yielded)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    httpd.block_on_close = block_on_close
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


def closed_port_url() -> str:
    """A URL on a port nothing listens on: the connection is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/jsonstats"


def member_address(i: int) -> str:
    return f"0:{i:064x}"
