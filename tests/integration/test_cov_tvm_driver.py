"""The TVM-coverage driver's two long scenarios on the real contracts: the pool's whole life
(members, epochs, claims, admin changes under the timelock, closing) and the bounce handlers
(each contract in turn refusing everything). Every step must still make sense on the current
contracts: a step that raises in Python is listed in ``failed_steps`` and fails here, long
before `cocoon-pool bench coverage` would show a drop.

The instructions they execute are checked per contract against a floor well under what the
whole driver reaches (docs/coverage.md), so a contract change that makes a scenario miss its
target shows here too. Each scenario runs once for the module."""

from __future__ import annotations

import pytest

from cocoon_pool import tvm_coverage as tc
from cocoon_pool.contracts.build import POOL_CONTRACTS
from cov_helpers import run_recorded


@pytest.mark.slow
def test_the_pools_life_runs_every_step() -> None:
    log, percent = run_recorded(tc._life)
    assert log.failed_steps == []
    assert log.traces > 400
    assert all(percent[name] > 50 for name in POOL_CONTRACTS), percent


@pytest.mark.slow
def test_every_refusing_peer_scenario_runs_every_step() -> None:
    log, percent = run_recorded(tc._refusing_peers)
    assert log.failed_steps == []
    assert log.traces > 250
    assert all(percent[name] > 40 for name in POOL_CONTRACTS), percent
