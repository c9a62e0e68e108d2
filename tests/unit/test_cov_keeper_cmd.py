"""`cocoon-pool keeper run`'s clock and signal handling (cocoon_pool.cli.keeper_cmd)."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import cast

import pytest

from cocoon_pool.cli import keeper_cmd
from cocoon_pool.pool_config import PoolFile
from local_http import closed_port_url


@dataclass
class Where:
    """The two fields of a pool.toml the clock reads."""

    network: str
    endpoint: str | None


def clock_of(network: str, endpoint: str | None) -> float:
    return keeper_cmd.chain_clock(cast(PoolFile, Where(network, endpoint)))()


def test_real_networks_and_a_local_node_that_is_not_our_devnet_follow_the_wall_clock() -> None:
    before = int(time.time())
    assert before <= clock_of("testnet", "https://testnet.toncenter.com/api/v2") <= time.time()
    assert before <= clock_of("local", None) <= time.time()
    # a local endpoint that does not answer /devnet/info: the wall clock, not an error
    dead = closed_port_url().removesuffix("/jsonstats") + "/api/v2"
    assert before <= clock_of("local", dead) <= time.time()


def test_sigterm_ends_the_loop_after_the_step(caplog: pytest.LogCaptureFixture) -> None:
    stop = threading.Event()
    caplog.set_level(logging.INFO)
    with keeper_cmd._stop_on_signals(stop):
        os.kill(os.getpid(), signal.SIGTERM)
    assert stop.is_set()
    (record,) = [r for r in caplog.records if r.getMessage() == "stopping after this step"]
    assert record.__dict__["signal"] == signal.SIGTERM
