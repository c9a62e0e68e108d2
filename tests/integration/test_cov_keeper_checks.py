"""The keeper's pre-send checks against the real contracts' state, and what one action does
when its check raises or its message is refused (cocoon_pool.keeper.core).

Each check asks the chain before a message leaves; here the chain is put in each state the
check knows (paused, too early, the previous epoch not final, a member not verified or gone)
and the verdict is compared. Every test forks one small pool."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import select
from ton_core import begin_cell

from cocoon_pool.contracts import messages as m
from cocoon_pool.contracts.constants import ton
from cocoon_pool.contracts.storage import ParticipantStorage
from cocoon_pool.economics import MemberMetrics
from cocoon_pool.errors import GetMethodError
from cocoon_pool.keeper import Keeper, KeeperSettings, open_database
from cocoon_pool.keeper.core import (
    ActionKey,
    Check,
    Outcome,
    SignedReport,
    StepResult,
    Verdict,
)
from cocoon_pool.keeper.models import KIND_CLOSE, NO_MEMBER, Action
from cocoon_pool.sandbox import PoolSandbox
from cocoon_pool.tvm_coverage import throwing_code

METRICS = MemberMetrics(running_seconds=3_600, gpu_score=100, uptime_bps=9_900, outages=0)


class NoReports:
    def reports(self, epoch: int) -> Sequence[SignedReport]:
        return []


@pytest.fixture(scope="module")
def base() -> PoolSandbox:
    """A verified member, an unverified one, and income in the open epoch."""
    sb = PoolSandbox.create()
    sb.add_member("alice")
    sb.add_member("bob", verify=False)
    sb.pool.send_income(sb.proxy, ton(10)).assert_success()
    return sb


@pytest.fixture
def sb(base: PoolSandbox) -> PoolSandbox:
    return base.fork()


@pytest.fixture
def keeper(sb: PoolSandbox, tmp_path: Path) -> Iterator[Keeper]:
    engine, sessions = open_database(f"sqlite:///{tmp_path / 'keeper.db'}")
    try:
        yield Keeper(
            chain=sb.chain,
            wallet=sb.keeper,
            pool=sb.pool,
            sessions=sessions,
            reports=NoReports(),
            clock=lambda: sb.chain.now,
            settings=KeeperSettings(
                settle_seconds=0, backoff_base=60, backoff_max=60, slack_seconds=0
            ),
        )
    finally:
        engine.dispose()


def epoch_end(sb: PoolSandbox) -> int:
    ledger = sb.pool.ledger()
    return int(ledger.epoch_start + ledger.epoch_length)


def test_close_waits_for_the_end_of_the_epoch_and_an_unpaused_pool(
    sb: PoolSandbox, keeper: Keeper
) -> None:
    epoch = sb.pool.ledger().current_epoch
    assert keeper._close_check(epoch) == Check(Verdict.WAIT, "the epoch is not over")
    sb.chain.set_now(epoch_end(sb) + 1)
    assert keeper._close_check(epoch) == Check(Verdict.SEND)
    sb.pool.admin_call(sb.pauser, m.PausePool()).assert_success()
    assert keeper._close_check(epoch) == Check(Verdict.WAIT, "the pool is paused")
    sb.pool.admin_call(sb.admin, m.UnpausePool()).assert_success()
    sb.close_epoch()
    assert keeper._close_check(epoch) == Check(Verdict.DONE, "chain: the epoch is closed")
    # the next epoch is over too, but the one before it is still reporting
    sb.chain.set_now(epoch_end(sb) + 1)
    assert sb.pool.reporting_epoch().active
    assert keeper._close_check(epoch + 1) == Check(
        Verdict.WAIT, "the previous epoch is not final yet"
    )


def test_finalize_waits_for_the_window_and_an_unpaused_pool(
    sb: PoolSandbox, keeper: Keeper
) -> None:
    sb.close_epoch()
    reporting = sb.pool.reporting_epoch()
    epoch = reporting.epoch
    assert keeper._finalize_check(epoch) == Check(Verdict.WAIT, "the report window is open")
    sb.pool.admin_call(sb.pauser, m.PausePool()).assert_success()
    assert keeper._finalize_check(epoch) == Check(Verdict.WAIT, "the pool is paused")
    sb.pool.admin_call(sb.admin, m.UnpausePool()).assert_success()
    sb.chain.set_now(sb.pool.reporting_epoch().deadline + 1)
    assert keeper._finalize_check(epoch) == Check(Verdict.SEND)
    sb.pool.finalize_epoch(sb.keeper).assert_success()
    assert keeper._finalize_check(epoch) == Check(Verdict.DONE, "chain: the epoch is final")


def test_a_report_waits_for_verification_and_is_skipped_once_pointless(
    sb: PoolSandbox, keeper: Keeper
) -> None:
    alice, bob = sb.members["alice"], sb.members["bob"]
    sb.close_epoch()
    epoch = sb.pool.reporting_epoch().epoch
    assert keeper._report_check(bob.address, epoch) == Check(Verdict.WAIT, "member not verified")
    assert keeper._report_check(alice.address, epoch) == Check(Verdict.SEND)
    # a report for an epoch that is not the one reporting can never land
    assert keeper._report_check(alice.address, epoch + 3) == Check(
        Verdict.SKIP, "the report window is over"
    )
    sb.report(alice, epoch, METRICS).assert_success()
    assert keeper._report_check(alice.address, epoch) == Check(
        Verdict.DONE, "chain: the member's report is in"
    )

    # a Participant anyone deployed at a wallet's (public) address holds no member
    ghost = sb.wallet("ghost")
    init = (
        sb.pool.codes.participant_code,
        ParticipantStorage(registry=sb.pool.registry, member=ghost.address).to_cell(),
    )
    target = sb.pool.participant_address(ghost.address)
    sb.chain.send_internal(sb.keeper.address, target, ton(1), None, state_init=init)
    assert keeper._report_check(ghost.address, epoch) == Check(Verdict.SKIP, "not registered")
    # no contract at all: skipped, never retried
    stranger = sb.wallet("stranger")
    assert keeper._report_check(stranger.address, epoch) == Check(
        Verdict.SKIP, "not registered (no Participant contract)"
    )
    # a contract that is there but cannot answer: the error stands (retried with backoff)
    squatter = sb.wallet("squatter")
    squatted = sb.pool.participant_address(squatter.address)
    sb.chain.set_account(squatted, throwing_code(), begin_cell().end_cell(), ton(1))
    with pytest.raises(GetMethodError):
        keeper._report_check(squatter.address, epoch)


def test_a_check_that_raises_is_a_failure_retried_after_the_backoff(
    sb: PoolSandbox, keeper: Keeper
) -> None:
    key = ActionKey(KIND_CLOSE, 1, NO_MEMBER)
    result = StepResult()

    def broken() -> Check:
        raise RuntimeError("the API is down")

    with keeper.sessions() as session:
        outcome = keeper._perform(session, result, key, check=broken, send=sb.close_epoch)
        assert outcome is Outcome.FAILED
        assert result.failures == 1 and result.errors == ["close epoch 1: the API is down"]
        # within the backoff the action is not even checked again
        again = keeper._perform(session, result, key, check=broken, send=sb.close_epoch)
        assert again is Outcome.WAITING and result.waiting == 1
        row = session.scalars(select(Action)).one()
        assert (row.state, row.failures, row.last_error) == ("failed", 1, "the API is down")


def test_a_refused_message_is_recorded_as_a_failure(sb: PoolSandbox, keeper: Keeper) -> None:
    """Closing before the epoch is over: the contract refuses, the keeper records why."""
    key = ActionKey(KIND_CLOSE, 1, NO_MEMBER)
    result = StepResult()
    with keeper.sessions() as session:
        outcome = keeper._perform(
            session,
            result,
            key,
            check=lambda: Check(Verdict.SEND),
            send=lambda: sb.pool.close_epoch(sb.keeper),
        )
        assert outcome is Outcome.FAILED and result.closed == 0
        row = session.scalars(select(Action)).one()
        error = row.last_error or ""
        assert row.state == "failed" and error.startswith("refused: ")
        assert " exit " in error and row.tx_hash is not None
