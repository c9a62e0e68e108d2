"""Wall-clock figures: how fast the embedded chain, the main job and the oracle run here.

Unlike gas, these depend on the machine, so they are printed, not snapshotted.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cocoon_pool.contracts.reports import OracleSigner
from cocoon_pool.oracle import Oracle, load_config
from cocoon_pool.sandbox import PoolSandbox
from cocoon_pool.simulate import Simulation, SimulationConfig

STATS_FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "jsonstats"


@dataclass(frozen=True)
class Figure:
    name: str
    count: int
    unit: str
    seconds: float

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else float("inf")


def timed(run: Callable[[], int]) -> tuple[int, float]:
    began = time.perf_counter()
    count = run()
    return count, time.perf_counter() - began


def chain_figures(members: int) -> list[Figure]:
    sb = PoolSandbox.create()
    before = len(sb.chain.transactions)
    _, seconds = timed(lambda: len([sb.add_member(f"m{i}") for i in range(members)]))
    transactions = len(sb.chain.transactions) - before
    member = sb.members["m0"].address
    calls, get_seconds = timed(
        lambda: len([sb.pool.participant_info(member) for _ in range(members)])
    )
    return [
        Figure(f"register + verify {members} members", transactions, "tx", seconds),
        Figure("participantInfo get-method", calls, "call", get_seconds),
    ]


def simulate_figure(participants: int, epochs: int) -> Figure:
    config = SimulationConfig(participants=participants, epochs=epochs, seed=1)
    result: list[bool] = []

    def run() -> int:
        outcome = Simulation(config).run()
        result.append(outcome.conservation.conserved and outcome.reference_match)
        return participants * epochs

    count, seconds = timed(run)
    assert result == [True], "the simulation must conserve and match the model"
    return Figure(f"simulate -n {participants} -e {epochs}", count, "member-epoch", seconds)


@contextmanager
def stats_server(body: bytes) -> Iterator[int]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield int(httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()


def oracle_figure(members: int) -> Figure:
    pool = "0:" + "ab" * 32
    body = (STATS_FIXTURE / "healthy.json").read_text().replace("__OWNER_ADDRESS__", pool)
    with stats_server(body.encode()) as port, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "oracle.key").write_text(OracleSigner.from_seed_text("bench").seed.hex())
        lines = [
            "[oracle]",
            'database_url = "sqlite:///oracle.db"',
            "poll_interval = 60",
            "timeout = 10",
            "concurrency = 32",
            f'distribution = "{pool}"',
            'key_file = "oracle.key"',
            "[epoch]",
            "start = 1000000",
            "length = 604800",
        ]
        for i in range(members):
            lines += [
                "[[members]]",
                f'address = "{raw_member(i)}"',
                f'stats_url = "http://127.0.0.1:{port}/{i}/jsonstats"',
            ]
        path = folder / "oracle.toml"
        path.write_text("\n".join(lines) + "\n")
        with Oracle(load_config(path)) as oracle:
            count, seconds = timed(lambda: len(oracle.sample(taken_at=1_000_000)))
    return Figure(f"oracle poll of {members} workers (stored)", count, "sample", seconds)


def raw_member(i: int) -> str:
    return f"0:{i + 1:064x}"


def measure_speed(members: int = 200) -> list[Figure]:
    return [
        *chain_figures(members),
        simulate_figure(50, 2),
        oracle_figure(members),
    ]


__all__ = ["Figure", "measure_speed"]
