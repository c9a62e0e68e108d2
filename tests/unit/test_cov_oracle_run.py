"""The oracle daemon's loop on a pool large enough for the lean HTTP client (64+ workers,
served by the benchmark's fake workers): the schedule, the summary, the skipped automatic
report of an epoch sampled late, and stopping on a signal."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from cocoon_pool.cli.bench_oracle_cmd import FakeWorkers, bench_config, fake_workers
from cocoon_pool.oracle.config import EpochConfig
from cocoon_pool.oracle.poller import LEAN_CLIENT_MIN_MEMBERS
from cocoon_pool.oracle.service import Oracle, RunSummary, StopFlag, stop_on_signals

MEMBERS = LEAN_CLIENT_MIN_MEMBERS


@pytest.fixture(scope="module")
def workers() -> Iterator[FakeWorkers]:
    with fake_workers(1) as fake:
        yield fake


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return True


def test_polls_on_schedule_and_skips_an_epoch_it_did_not_sample_from_its_start(
    workers: FakeWorkers,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("COCOON_BENCH_ORACLE_SEED", "11" * 32)
    config = dataclasses.replace(
        bench_config(workers, MEMBERS, f"sqlite:///{tmp_path / 'o.db'}", 16, interval=60),
        auto_report=True,
        epoch=EpochConfig(start=0, length=3600),
    )
    # epoch 1 has begun; epoch 0 ended, but the oracle never sampled its first slot
    clock = Clock(3600 + 120)
    caplog.set_level(logging.INFO, logger="cocoon_pool.oracle")
    with Oracle(config, clock=clock) as oracle:
        summary = oracle.run(StopFlag(), iterations=3, sleep=clock.sleep)
    assert summary == RunSummary(
        polls=3, samples=3 * MEMBERS, down=0, reports=0, stopped=False, discarded=0
    )
    assert clock.waits == [60, 60]  # one poll_interval between polls
    skipped = [r.getMessage() for r in caplog.records if "not reported automatically" in r.msg]
    assert skipped == [
        "epoch 0 not reported automatically: sampling began after its first slot; "
        "run `cocoon-pool oracle report --epoch 0` to report it anyway"
    ]  # said once, not on every poll
    polls = [r.getMessage() for r in caplog.records if r.getMessage().startswith("poll ")]
    assert polls == [f"poll {i}: {MEMBERS} up, 0 down" for i in (1, 2, 3)]


def test_a_stop_while_waiting_ends_the_run(workers: FakeWorkers, tmp_path: Path) -> None:
    config = bench_config(workers, MEMBERS, f"sqlite:///{tmp_path / 'o.db'}", 16)
    stop = StopFlag()
    clock = Clock(1_000_000)

    def stopped_sleep(seconds: float) -> bool:
        stop.set()
        return stop.sleep(seconds)

    with Oracle(config, clock=clock) as oracle:
        summary = oracle.run(stop, sleep=stopped_sleep)
    assert (summary.polls, summary.samples, summary.stopped) == (1, MEMBERS, True)


def test_sigterm_sets_the_stop_flag(caplog: pytest.LogCaptureFixture) -> None:
    stop = StopFlag()
    assert stop.sleep(0.001)  # not set: the whole wait passes
    caplog.set_level(logging.INFO, logger="cocoon_pool.oracle")
    with stop_on_signals(stop):
        os.kill(os.getpid(), signal.SIGTERM)
    assert stop.is_set() and not stop.sleep(5)
    assert "received SIGTERM: finishing the current poll" in caplog.text
