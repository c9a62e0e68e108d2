"""`cocoon-pool bench fuzz` on the real contracts: the table, progress lines, the snapshot,
early stops (time limit, Ctrl-C), invariant breaks (exit 1) and the parallel split.

One pool is built for the module (FuzzWorld.build is the slow part) and each run forks it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

from cocoon_pool.cli import bench_fuzz_cmd
from cocoon_pool.cli.app import app
from cocoon_pool.fuzz import TARGETS, Episode, FuzzEngine, FuzzMessage, FuzzWorld, Violation


@pytest.fixture(scope="module")
def world() -> FuzzWorld:
    return FuzzWorld.build()


@pytest.fixture(autouse=True)
def shared_world(world: FuzzWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FuzzWorld, "build", classmethod(lambda cls: world))


def fuzz(*args: str) -> Any:
    return CliRunner().invoke(app, ["bench", "fuzz", *args])


def test_table_progress_and_snapshot(tmp_path: Path) -> None:
    snapshot = tmp_path / "out" / "fuzz.json"
    result = fuzz(
        "--messages", "6", "--seed", "3", "--episode", "3", "--progress-every", "3",
        "--snapshot", str(snapshot),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    # progress goes to stderr, once per 3 messages (one episode each)
    progress = [line for line in result.stderr.splitlines() if "messages/s" in line]
    assert len(progress) == 2
    assert progress[0].startswith("3 messages, ") and progress[1].startswith("6 messages, ")
    assert all(line.endswith(", 0 invariant breaks") for line in progress)
    assert "building the pool under fuzz..." in result.stderr
    out = result.stdout
    assert "fuzz messages per contract and op class (seed 3)" in out
    assert all(target in out for target in TARGETS)
    assert "accepted / refused" in out
    assert "invariant breaks: none" in out
    assert "stopped early" not in out
    data = json.loads(snapshot.read_text(encoding="utf-8"))
    assert data["messages"] == 6 and data["episodes"] == 2
    assert data["complete"] is True and data["stopped"] is None
    assert (data["requested_messages"], data["seed"], data["episode_length"]) == (6, 3, 3)
    assert data["workers"] == 1 and data["invariant_breaks"] == 0
    assert f"{data['messages']:,} messages ({data['synthetic_messages']:,} synthetic)" in out
    assert f"senders: {', '.join(f'{k} {v:,}' for k, v in data['by_sender'].items())}" in out


def test_same_seed_same_run() -> None:
    runs = [json.loads(fuzz("--messages", "4", "--seed", "9", "--json").stdout) for _ in "ab"]
    keys = ("by_contract", "by_kind", "by_sender", "accepted", "refused", "transactions")
    first, second = ({k: r[k] for k in keys} for r in runs)
    assert first == second


def test_time_limit_stops_early_and_says_so() -> None:
    result = fuzz("--messages", "50", "--max-seconds", "0", "--progress-every", "0")
    assert result.exit_code == 0, result.output
    assert "stopped early (time limit)" in result.stdout
    assert "0 messages (0 synthetic)" in result.stdout
    data = json.loads(fuzz("--messages", "50", "--max-seconds", "0", "--json").stdout)
    assert (data["messages"], data["complete"], data["stopped"]) == (0, False, "time limit")


def _interrupt_after(count: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C once ``count`` messages were sent: the engine's loop sees KeyboardInterrupt."""
    original = FuzzEngine.send

    def send(self: FuzzEngine, episode: Episode, msg: FuzzMessage) -> list[Violation]:
        if self.report.messages >= count:
            raise KeyboardInterrupt
        return original(self, episode, msg)

    monkeypatch.setattr(FuzzEngine, "send", send)


def test_ctrl_c_reports_what_was_sent(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _interrupt_after(3, monkeypatch)
    snapshot = tmp_path / "fuzz.json"
    result = fuzz("--messages", "10", "--episode", "5", "--json", "--snapshot", str(snapshot))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["messages"] == 3 and data["stopped"] == "interrupted" and not data["complete"]
    assert json.loads(snapshot.read_text(encoding="utf-8")) == data


def _break_message(index: int, invariant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Message ``index`` is reported as breaking ``invariant`` (its real checks still run):
    how the command reports a break is under test here, not the checks (tests/test_fuzz)."""
    original = FuzzEngine.send

    def send(self: FuzzEngine, episode: Episode, msg: FuzzMessage) -> list[Violation]:
        at = self.report.messages
        found = original(self, episode, msg)
        if at == index:
            marked = replace(msg, bounced=True) if invariant == "conservation" else msg
            extra = Violation(invariant, marked, f"made-up {invariant} break", at)
            self.report.record([extra])
            found = [*found, extra]
        return found

    monkeypatch.setattr(FuzzEngine, "send", send)


def test_an_invariant_break_is_printed_and_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    _break_message(1, "value", monkeypatch)
    result = fuzz("--messages", "3", "--seed", "5", "--progress-every", "0")
    assert result.exit_code == 1, result.output
    assert "invariant breaks: 1" in result.stdout
    assert "#1 value: " in result.stdout
    assert "made-up value break" in result.stdout
    data = json.loads(fuzz("--messages", "3", "--seed", "5", "--json").stdout)
    assert data["invariant_breaks"] == 1
    (violation,) = data["violations"]
    assert (violation["index"], violation["invariant"]) == (1, "value")


def test_informational_notes_are_counted_not_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A conservation difference after a synthetic message is informational: listed, exit 0."""
    _break_message(0, "conservation", monkeypatch)
    result = fuzz("--messages", "2", "--seed", "5", "--progress-every", "0")
    assert result.exit_code == 0, result.output
    assert "invariant breaks: none" in result.stdout
    notes = [line for line in result.stdout.splitlines() if line.startswith("informational: ")]
    assert len(notes) == 1
    assert notes[0].startswith("informational: conservation after synthetic messages to ")
    assert notes[0].endswith(": 1")


class _InProcessPool:
    """ProcessPoolExecutor's part the command uses, run in this process (the spawned workers
    would each build their own pool and Node helper)."""

    made: ClassVar[list[int]] = []

    def __init__(self, max_workers: int, mp_context: object) -> None:
        self.made.append(max_workers)

    def __enter__(self) -> _InProcessPool:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def map(self, fn: Callable[[Any], Any], jobs: Iterable[Any]) -> Iterator[Any]:
        return iter([fn(job) for job in jobs])


def test_workers_split_the_messages_and_seeds(monkeypatch: pytest.MonkeyPatch) -> None:
    jobs: list[tuple[int, int, int, float | None, int, int]] = []
    worker = bench_fuzz_cmd._worker

    def record(job: tuple[int, int, int, float | None, int, int]) -> dict[str, Any]:
        jobs.append(job)
        return worker(job)

    _InProcessPool.made.clear()
    monkeypatch.setattr(bench_fuzz_cmd, "ProcessPoolExecutor", _InProcessPool)
    monkeypatch.setattr(bench_fuzz_cmd, "_worker", record)
    result = fuzz(
        "--messages", "5", "--workers", "2", "--seed", "7", "--episode", "2",
        "--progress-every", "2", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert _InProcessPool.made == [2]
    stride = bench_fuzz_cmd.WORKER_SEED_STRIDE
    assert jobs == [(3, 7, 2, None, 2, 0), (2, 7 + stride, 2, None, 2, 1)]
    data = json.loads(result.stdout)
    assert data["workers"] == 2 and data["messages"] == 5 and data["complete"]
    assert data["episodes"] == 3  # 2 + 1 episodes of at most 2 messages
    assert "[worker 0] 2 messages, " in result.stderr
    assert "[worker 1] 2 messages, " in result.stderr
