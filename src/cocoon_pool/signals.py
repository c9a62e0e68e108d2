"""SIGINT/SIGTERM handling shared by the long-running loops (oracle, indexer, keeper)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def on_stop_signals(handler: Callable[[int], None]) -> Iterator[None]:
    """Call ``handler(signum)`` on SIGINT and SIGTERM while inside, then restore the old handlers.

    Only the main thread may install signal handlers; elsewhere (tests running a loop in a
    thread) this does nothing, and the loop is stopped by its caller instead.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {
        sig: signal.signal(sig, lambda signum, _frame: handler(signum))
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
