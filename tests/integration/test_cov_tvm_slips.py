"""The TVM-coverage driver's newer scenarios on the real contracts: every shape a member's
slips can take, messages held back and delivered late, batches of reports and their late
refusals, and the refusal matrix's set-up (on two of its bodies). As in
test_cov_tvm_driver.py, every step must still run on the current contracts."""

from __future__ import annotations

import pytest

from cocoon_pool import tvm_coverage as tc
from cov_helpers import run_recorded


def test_every_shape_of_a_members_slips_runs_every_step() -> None:
    log, percent = run_recorded(tc._slip_shapes)
    assert log.failed_steps == []
    assert log.traces > 80
    assert percent["Participant"] > 40, percent


def test_messages_held_back_and_delivered_late_run_every_step() -> None:
    log, _ = run_recorded(tc._held_back)
    assert log.failed_steps == []
    assert log.traces > 30


def test_report_batches_and_late_refusals_run_every_step() -> None:
    """Batches (several reports, one too many, too little value) and replays whose refusals
    are held back and delivered before and after finalize, on the latest and an older final
    epoch, as the last slip, after a flat finalize and for an epoch without a record."""
    log, percent = run_recorded(tc._report_batches)
    assert log.failed_steps == []
    assert log.traces > 45
    assert percent["RewardDistribution"] > 40, percent


def test_the_refusal_matrix_machinery_on_two_bodies(monkeypatch: pytest.MonkeyPatch) -> None:
    """The matrix sends every struct (about forty) from every role; here two of them, which
    is enough to run its set-up (a stranger-deployed Participant, the odd and truncated
    bodies) on the real contracts."""
    every = tc.sample_bodies
    chosen = ("ClaimRewards", "PausePool")
    monkeypatch.setattr(
        tc, "sample_bodies", lambda addr: [(n, b) for n, b in every(addr) if n in chosen]
    )
    log, _ = run_recorded(tc._refusal_matrix)
    assert log.failed_steps == []
    # set-up (member, income, fresh participant and its three getters), then per body and
    # target 5 wallets + 1 nanoton + 5 contracts, then 2 odd + 2 truncated bodies x 5 targets
    assert log.traces == 6 + 2 * 5 * (5 + 1 + 5) + 4 * 5
