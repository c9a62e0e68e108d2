"""Prometheus metrics of the keeper, in the text exposition format (0.0.4), and the HTTP
server that serves them (``/metrics``) with a liveness check (``/healthz``).

Written by hand: a handful of counters and gauges need no client library, and the keeper
stays free of another dependency.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "cocoon_keeper"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class _Spec:
    name: str
    kind: str
    help: str


COUNTERS = (
    _Spec("epochs_closed", "counter", "Epochs this keeper closed (CloseEpoch it sent)."),
    _Spec("epochs_finalized", "counter", "Epochs this keeper finalized."),
    _Spec("reports_relayed", "counter", "Signed oracle reports this keeper relayed."),
    _Spec(
        "report_batches",
        "counter",
        "SubmitReport messages (batches of reports) the distribution accepted from this keeper.",
    ),
    _Spec("payouts_sent", "counter", "Payout cranks this keeper sent."),
    _Spec("failures", "counter", "Failed keeper actions (errors and refused transactions)."),
)
GAUGES = (
    _Spec("wallet_balance_nanoton", "gauge", "Balance of the keeper's wallet."),
    _Spec("pool_open_income_nanoton", "gauge", "Income of the open epoch (ledger open_income)."),
    _Spec("pool_unsettled_nanoton", "gauge", "Closed income not yet claimed (ledger unsettled)."),
    _Spec("current_epoch", "gauge", "The pool's open epoch (ledger current_epoch)."),
    _Spec("last_step_timestamp_seconds", "gauge", "Unix time the last step finished."),
    _Spec("last_step_ok", "gauge", "1 if the last step completed without a failure."),
)


class Metrics:
    """Thread-safe counters and gauges: the step loop writes, the HTTP thread reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, float] = {s.name: 0.0 for s in (*COUNTERS, *GAUGES)}

    def inc(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._check(name, "counter")
            self._values[name] += amount

    def set(self, name: str, value: float) -> None:
        with self._lock:
            self._check(name, "gauge")
            self._values[name] = value

    def get(self, name: str) -> float:
        with self._lock:
            return self._values[name]

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return dict(self._values)

    @staticmethod
    def _check(name: str, kind: str) -> None:
        if not any(s.name == name and s.kind == kind for s in (*COUNTERS, *GAUGES)):
            raise KeyError(f"no {kind} named {name!r}")

    def render(self) -> str:
        """The exposition text; counters carry the ``_total`` suffix Prometheus expects."""
        values = self.snapshot()
        lines: list[str] = []
        for spec in (*COUNTERS, *GAUGES):
            full = f"{PREFIX}_{spec.name}" + ("_total" if spec.kind == "counter" else "")
            lines.append(f"# HELP {full} {spec.help}")
            lines.append(f"# TYPE {full} {spec.kind}")
            lines.append(f"{full} {_number(values[spec.name])}")
        return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    # Nanoton balances exceed a float's exact range only past 9e6 TON; print integers exactly.
    return str(int(value)) if float(value).is_integer() else repr(value)


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: dict[str, object]


def health_of(metrics: Metrics, max_age: float, clock: Callable[[], float] = time.time) -> Health:
    """Healthy once a step has finished within ``max_age`` seconds (the loop is alive)."""
    last = metrics.get("last_step_timestamp_seconds")
    age = clock() - last if last else None
    ok = age is not None and age <= max_age
    return Health(
        ok,
        {"ok": ok, "last_step_age_seconds": age, "last_step_ok": bool(metrics.get("last_step_ok"))},
    )


def make_handler(
    metrics: Metrics, max_age: float, clock: Callable[[], float]
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._reply(200, CONTENT_TYPE, metrics.render().encode())
            elif path == "/healthz":
                health = health_of(metrics, max_age, clock)
                body = json.dumps(health.detail).encode()
                self._reply(200 if health.ok else 503, "application/json", body)
            else:
                self._reply(404, "text/plain", b"not found: try /metrics or /healthz\n")

        def _reply(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # a scrape every 15 s would drown the keeper's own log

    return Handler


@contextmanager
def serve_metrics(
    metrics: Metrics,
    port: int,
    *,
    host: str = "127.0.0.1",
    max_age: float = 300.0,
    clock: Callable[[], float] = time.time,
) -> Iterator[str]:
    """Serve ``/metrics`` and ``/healthz`` in a daemon thread; yields the base URL.

    Bound to 127.0.0.1 by default: the keeper holds a funded wallet, and its metrics are for a
    local Prometheus or a reverse proxy, not for the internet.
    """
    httpd = ThreadingHTTPServer((host, port), make_handler(metrics, max_age, clock))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.1,), daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
