"""Stateful model test: random interleavings of every member, epoch, pause and timelock
operation on the real contracts, with messages held back and delivered late, checked after
every step against the reference model (tests/stateful_model.py on top of economics.py).

Each rule first asks the model what must happen: refused (by which contract, with which named
exit code) or accepted (and what it changes, with every share from economics.member_payout).
Then it sends the operation on the embedded chain and checks the chain agrees. After every step:

* every get-method field the model knows equals the model (epochs, reporting sums, frozen
  epochs, reserve, commission, every member's status, stake, slips and pending...);
* a refused operation changed nothing, and its payer lost exactly the fees of its trace;
* the books balance (DESIGN.md §3, ``PoolSandbox.assert_conserved``);
* each member's paid (RewardPayout amounts the chain sent) plus pending plus amounts still
  on their way equals the sum of its shares in economics.py, to the nanoton;
* no contract holds less than it owes: the distribution its obligations (and its storage
  floor, less the storage paid since income last refilled it), each participant its stake,
  PoolOperator the operator stake, the registry its floor less storage since the last join.

CI runs a small derandomized budget; ``STATEFUL_EXAMPLES=2000 STATEFUL_STEPS=80`` (and
``STATEFUL_RANDOM=1`` for fresh random draws) runs longer. docs/testing.md has the details.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from ton_core import Address

from cocoon_pool import economics as econ
from cocoon_pool.chain.emulator import Wallet
from cocoon_pool.chain.types import OutMessage, Trace, raw_address
from cocoon_pool.contracts import messages as m
from cocoon_pool.contracts.codec import TlbStruct
from cocoon_pool.contracts.constants import fee, ton
from cocoon_pool.contracts.events import (
    ContributionRefused,
    EpochClosed,
    EpochFinalized,
    RewardSettled,
    trace_events,
)
from cocoon_pool.contracts.exit_codes import code, describe
from cocoon_pool.contracts.pool import PoolParams
from cocoon_pool.contracts.reports import OracleSigner
from cocoon_pool.sandbox import PoolSandbox
from stateful_model import (
    ACTIVE,
    NONE,
    POOL_ACTIVE,
    POOL_PAUSED,
    UNBONDING,
    WITHDRAWN,
    ChainView,
    ChangeModel,
    MemberModel,
    PayoutFollower,
    PoolModel,
    Refusal,
    ReportingModel,
    Slip,
    hold,
    hold_apply,
    hold_bounce,
    mismatches,
    read_view,
)
from tracing import payer_cost, storage_paid

HOUR = 3_600
DAY = 24 * HOUR
EPOCH = DAY  # short epochs, so a few dozen steps see several of them
GRACE = 6 * HOUR
MEMBERS = 8
PRESET = 3  # members registered, bound and verified in the base pool
ORACLE_SEED = "cocoon-pool-oracle"
PARAMS = PoolParams(
    oracle_key=OracleSigner.from_seed_text(ORACLE_SEED).public_key,
    epoch_length=EPOCH,
    report_grace=GRACE,
    timelock_seconds=2 * HOUR,
    unbonding_seconds=DAY,
)
INCOME_KINDS = ("payout", "payout", "excesses", "comment", "empty")
NAMES = tuple(f"m{i}" for i in range(MEMBERS))

EXAMPLES = int(os.environ.get("STATEFUL_EXAMPLES", "5"))
STEPS = int(os.environ.get("STATEFUL_STEPS", "25"))
RANDOM = os.environ.get("STATEFUL_RANDOM", "") not in ("", "0")
LOG = os.environ.get("STATEFUL_LOG", "")
"""A file to append one JSON line per example to: steps, seconds and each rule's outcomes."""


BASE_REPORTS = (  # epoch 1 of the base pool: one member per tier
    econ.MemberMetrics(EPOCH, 1_000, 9_900, 0),
    econ.MemberMetrics(EPOCH // 2, 2_000, 9_000, 1),
    econ.MemberMetrics(EPOCH // 3, 1_500, 7_000, 5),
)


@cache
def _base() -> PoolSandbox:
    sb = PoolSandbox.create(params=PARAMS, oracle_seed=ORACLE_SEED)
    for i, name in enumerate(NAMES):
        if i < PRESET:
            sb.add_member(name)
        else:
            sb.wallet(name)
    # Epoch 1 closed with income in its pot: every example starts with reports to make.
    sb.pool.send_income(sb.proxy, ton(100)).assert_success()
    sb.close_epoch()
    for name, report in zip(NAMES, BASE_REPORTS, strict=False):
        sb.report(sb.chain.wallets[name], 1, report).assert_success()
    return sb


uptimes = st.one_of(
    st.sampled_from([0, 7_999, 8_000, 9_500, 9_501, 10_000]),
    st.integers(9_501, 10_000),
    st.integers(8_000, 9_500),
    st.integers(0, 7_999),
)
metrics = st.builds(
    econ.MemberMetrics,
    running_seconds=st.one_of(
        st.just(EPOCH),
        st.just(EPOCH),
        st.integers(0, EPOCH),
        st.integers(0, EPOCH),
        st.integers(EPOCH + 1, 3 * EPOCH),  # more than an epoch: refused unless it spans two
    ),
    gpu_score=st.one_of(st.just(econ.MAX_GPU_SCORE), st.integers(0, econ.MAX_GPU_SCORE)),
    uptime_bps=uptimes,
    outages=st.one_of(st.integers(0, 3), st.integers(4, 65_535)),
)
names = st.sampled_from(NAMES)
report_epochs = st.sampled_from(["reporting"] * 6 + ["previous", "open"])
report_holds = st.sampled_from(["", "", "", "apply", "bounce"])
claim_holds = st.sampled_from([False, False, False, True])


def has_slips(mm: MemberModel) -> bool:
    return bool(mm.slips)


def slip_of(metrics: econ.MemberMetrics) -> Slip:
    return Slip(econ.contribution(metrics), econ.penalty_bps(metrics), econ.bonus_bps(metrics))


@dataclass
class Held:
    """A message cut out of its trace, to be delivered later."""

    kind: str  # "apply", "refused-report", "settle", "pay"
    member: str
    message: OutMessage
    epoch: int = 0
    slip: Slip | None = None
    carry: int = 0
    own_claim: bool = False


class PoolMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.sb = _base().fork()
        self.chain = self.sb.chain
        self.pool = self.sb.pool
        self.wallets = {name: self.chain.wallets[name] for name in NAMES}
        self.addresses = {name: w.address for name, w in self.wallets.items()}
        ledger = self.pool.ledger()
        members = {name: MemberModel(name) for name in NAMES}
        for name in NAMES[:PRESET]:
            members[name] = MemberModel(
                name,
                deployed=True,
                status=ACTIVE,
                bound=True,
                verified=True,
                stake=PARAMS.min_stake,
            )
        self.model = PoolModel(
            now=self.chain.now,
            epoch_length=PARAMS.epoch_length,
            report_grace=PARAMS.report_grace,
            timelock=PARAMS.timelock_seconds,
            unbonding=PARAMS.unbonding_seconds,
            min_payout=PARAMS.min_payout,
            min_stake=PARAMS.min_stake,
            commission_bps=PARAMS.commission_bps,
            operator_commission_bps=PARAMS.commission_bps,
            epoch_start=ledger.epoch_start,
            members=members,
            member_count=PRESET,
            total_stake=PRESET * PARAMS.min_stake,
            current_epoch=ledger.current_epoch,
            commission=ledger.commission,
            epochs_closed=ledger.epochs_closed,
        )
        r = self.pool.reporting_epoch()
        self.model.reporting = ReportingModel(
            r.epoch, r.start, r.end, r.deadline, ledger.received, PARAMS.commission_bps, r.net
        )
        for name, report in zip(NAMES, BASE_REPORTS, strict=False):
            slip = slip_of(report)
            self.model.count_report(slip)
            self.model.apply_report(members[name], 1, slip)
        self.follower = PayoutFollower(self.chain, self.pool.distribution)
        self.held: list[Held] = []
        self.view: ChainView | None = None
        self.unchanged: ChainView | None = None
        """Set by a refused operation: the state it must not have changed."""
        self.changed = False
        """Whether an operation of this step was accepted."""
        self.steps = 0
        self.dent_allowance = 0  # distribution storage paid since its open income was >= 0
        self.registry_storage = 0  # registry storage paid since the last join topped it up
        self.query = 0
        self.advanced_at = -10
        self.outcomes: Counter[str] = Counter()
        self.started = time.monotonic()

    # -- helpers -------------------------------------------------------------------------

    def read(self) -> ChainView:
        return read_view(self.pool, self.model, self.addresses)

    def member(self, name: str) -> MemberModel:
        return self.model.members[name]

    def some(self, fits: Callable[[MemberModel], bool]) -> bool:
        """Preconditions: the rule makes sense for at least one member (it may still pick
        another, to cover the refusals)."""
        return any(fits(mm) for mm in self.model.members.values())

    def payable(self) -> bool:
        """Some member holds a slip of a frozen epoch."""
        return self.some(lambda mm: any(e in self.model.finals for e in mm.slips))

    def pick(self, data: st.DataObject, fits: Callable[[MemberModel], bool]) -> str:
        """Mostly a member the operation makes sense for, so that a few dozen steps reach deep
        states; sometimes anyone, so that every refusal stays covered."""
        fitting = [name for name in NAMES if fits(self.member(name))]
        if fitting and data.draw(st.integers(0, 4), label="fitting") > 0:
            return data.draw(st.sampled_from(fitting), label="member")
        return data.draw(names, label="member")

    def contract(self, refusal: Refusal, member: str | None) -> Address:
        if refusal.contract == "participant":
            assert member is not None
            return self.pool.participant_address(self.addresses[member])
        return {
            "operator": self.pool.operator,
            "registry": self.pool.registry,
            "distribution": self.pool.distribution,
        }[refusal.contract]

    def assert_refused_at(self, trace: Trace, refusal: Refusal, member: str | None) -> None:
        failed = trace.failed()
        assert failed, f"expected a refusal ({refusal}), all succeeded:\n{trace.describe()}"
        tx = failed[0]
        assert tx.address_raw == raw_address(self.contract(refusal, member)), (
            f"expected {refusal}, got {tx.describe()}\n{trace.describe()}"
        )
        if refusal.error is None:
            assert tx.compute_skipped is not None, tx.describe()
        else:
            assert tx.exit_code == code(refusal.error), (
                f"expected {refusal}, got {describe(tx.exit_code or 0)}\n{trace.describe()}"
            )
        assert tx.bounced, tx.describe()

    def send(
        self,
        send: Callable[[], Trace],
        refusal: Refusal | None,
        payer: Wallet,
        member: str | None = None,
    ) -> Trace:
        """Run one operation; if the model says it is refused, check where and why, that the
        pool's contracts kept nothing of it (the registry may take its storage top-up; a
        refused verification's value goes back to the admin) and that the payer lost exactly
        the rest of the fees and kept values."""
        # A refused operation must leave the state as it found it: the state the last step's
        # check read, unless this rule already changed it (advance_epoch's unpause), in which
        # case it is read here and compared at once.
        inline = self.read() if refusal is not None and self.changed else None
        watched = [self.pool.operator, self.pool.registry, self.pool.distribution]
        if member is not None:
            watched.append(self.pool.participant_address(self.addresses[member]))
        before = {raw_address(a): self.chain.get_balance(a) for a in watched}
        payer_before = payer.balance
        trace = send()
        # The rule's name (the caller) and the outcome, for the run's statistics.
        self.outcomes[f"{sys._getframe(1).f_code.co_name}: {refusal or 'ok'}"] += 1
        if refusal is None:
            trace.assert_success()
            self.changed, self.unchanged = True, None
            return trace
        self.assert_refused_at(trace, refusal, member)
        if inline is not None:
            assert self.read() == inline, "a refused operation changed the pool's state"
        else:
            self.unchanged = self.view
        kept = 0
        for address in watched:
            gain = self.chain.get_balance(address) - before[raw_address(address)]
            gain += storage_paid(trace, address)
            if address is not watched[1]:  # all but the registry's storage top-up
                assert gain == 0, f"{address} kept {gain} of a refused message\n{trace.describe()}"
            assert gain >= 0, trace.describe()
            kept += gain
        assert payer_before - payer.balance == payer_cost(trace, payer.address) + kept, (
            trace.describe()
        )
        return trace

    def next_query(self) -> int:
        self.query += 1
        return self.query

    def admin(self, wallet: Wallet, body: TlbStruct) -> Callable[[], Trace]:
        return lambda: self.pool.admin_call(wallet, body)

    def check_finalized(self, trace: Trace, epoch: int, s: econ.EpochSettlement) -> None:
        (event,) = trace_events(trace, EpochFinalized)
        final = self.model.finals.get(epoch)
        reporters = final.aggr.members if final is not None else 0
        expected = (epoch, s.reserve_in, s.penalty_pool, s.bonus_paid, s.claimable, reporters)
        got = (
            event.epoch,
            event.reserve_in,
            event.penalty_pool,
            event.bonus_paid,
            event.claimable,
            event.reporters,
        )
        assert got == expected, f"EpochFinalized {got} != model {expected}"

    # -- members ---------------------------------------------------------------------------

    @rule(data=st.data(), stake=st.sampled_from(["below", "min", "min", "more"]))
    def register(self, data: st.DataObject, stake: str) -> None:
        name = self.pick(data, lambda mm: mm.status in (NONE, WITHDRAWN))
        mm, wallet = self.member(name), self.wallets[name]
        amount = {
            "below": self.model.min_stake - 1,
            "min": self.model.min_stake,
            "more": self.model.min_stake + ton(7),
        }[stake]
        refusal = self.model.register_refusal(mm, amount)
        self.send(lambda: self.pool.register(wallet, amount), refusal, wallet, name)
        if refusal is None:
            self.model.register(mm, amount)
            self.registry_storage = 0

    @precondition(lambda self: self.some(lambda mm: mm.deployed and not mm.bound))
    @rule(data=st.data())
    def bind(self, data: st.DataObject) -> None:
        name = self.pick(data, lambda mm: mm.deployed and not mm.bound)
        mm, wallet = self.member(name), self.wallets[name]
        refusal = None
        if not mm.deployed:
            refusal = Refusal("participant", None)
        elif mm.bound:
            refusal = Refusal("participant", "ALREADY_BOUND")
        self.send(lambda: self.pool.bind_worker(wallet, wallet.address), refusal, wallet, name)
        if refusal is None:
            mm.bound = True

    @rule(data=st.data(), verified=st.sampled_from([True, True, True, False]))
    def verify(self, data: st.DataObject, verified: bool) -> None:
        name = self.pick(data, lambda mm: mm.bound and mm.verified != verified)
        mm = self.member(name)
        refusal = None
        if not mm.deployed:
            refusal = Refusal("participant", None)
        elif verified and not mm.bound:
            refusal = Refusal("participant", "NOT_BOUND")
        address = self.addresses[name]
        self.send(
            lambda: self.pool.verify_member(self.sb.admin, address, verified=verified),
            refusal,
            self.sb.admin,
            name,
        )
        if refusal is None:
            mm.verified = verified

    @precondition(lambda self: self.some(lambda mm: mm.status == ACTIVE))
    @rule(data=st.data())
    def unregister(self, data: st.DataObject) -> None:
        name = self.pick(data, lambda mm: mm.status == ACTIVE)
        mm, wallet = self.member(name), self.wallets[name]
        refusal = self.model.unregister_refusal(mm)
        self.send(lambda: self.pool.unregister(wallet), refusal, wallet, name)
        if refusal is None:
            self.model.unregister(mm)

    @precondition(lambda self: self.some(lambda mm: mm.status == UNBONDING))
    @rule(data=st.data())
    def withdraw(self, data: st.DataObject) -> None:
        name = self.pick(data, lambda mm: mm.status == UNBONDING)
        mm, wallet = self.member(name), self.wallets[name]
        refusal = self.model.withdraw_refusal(mm)
        stake = mm.stake
        before = wallet.balance
        trace = self.send(lambda: self.pool.withdraw_stake(wallet), refusal, wallet, name)
        if refusal is None:
            pending = self.model.withdraw(mm)
            # The stake and the pending amount reach the member; it pays only the fees.
            assert wallet.balance - before == stake + pending - payer_cost(trace, wallet.address)

    @precondition(lambda self: self.some(lambda mm: mm.pending > 0))
    @rule(data=st.data(), held=st.sampled_from([False, False, True]))
    def claim_pending(self, data: st.DataObject, held: bool) -> None:
        name = self.pick(data, lambda mm: mm.pending > 0)
        mm, wallet = self.member(name), self.wallets[name]
        refusal = None
        if not mm.deployed:
            refusal = Refusal("participant", None)
        elif mm.pending == 0:
            refusal = Refusal("participant", "NOTHING_TO_CLAIM")
        if refusal is not None:
            self.send(lambda: self.pool.claim_pending(wallet), refusal, wallet, name)
            return
        amount, mm.pending = mm.pending, 0
        mm.carried += amount
        if held:
            (msg,) = hold(self.chain, lambda: self.pool.claim_pending(wallet), 2)
            assert msg.op == m.PayPending.PREFIX
            self.held.append(Held("pay", name, msg, carry=amount))
            self.outcomes["claim_pending: held"] += 1
            return
        self.send(lambda: self.pool.claim_pending(wallet), None, wallet, name)
        mm.carried -= amount
        mm.paid += amount

    # -- income, reports, epochs -----------------------------------------------------------

    @rule(
        value=st.one_of(
            st.sampled_from([0, 1, 300_000]),
            st.integers(300_001, ton("0.5")),  # shares below the minimum payout
            st.integers(ton("0.5"), ton(500)),
        ),
        kind=st.sampled_from(INCOME_KINDS),
    )
    def income(self, value: int, kind: str) -> None:
        trace = self.pool.send_income(self.sb.proxy, value, kind)
        self.outcomes[f"income: {kind}"] += 1
        for tx in trace.find_all(self.pool.distribution):
            assert not tx.bounced, tx.describe()  # income is never refused

    # Without a reporting epoch every report is refused the same way: try that only sometimes.
    @precondition(lambda self: self.model.reporting is not None or self.steps % 4 == 0)
    @rule(data=st.data(), which=report_epochs, report=metrics, held=report_holds)
    def report(
        self, data: st.DataObject, which: str, report: econ.MemberMetrics, held: str
    ) -> None:
        model = self.model
        reporting = model.reporting.epoch if model.reporting else max(model.current_epoch - 1, 1)
        name = self.pick(
            data, lambda mm: mm.verified and mm.status != WITHDRAWN and mm.last_reported < reporting
        )
        mm = self.member(name)
        epoch = {
            "reporting": reporting,
            "previous": max(reporting - 1, 1),
            "open": model.current_epoch,
        }[which]
        address, keeper = self.addresses[name], self.sb.keeper

        def send() -> Trace:
            return self.pool.submit_report(keeper, self.sb.signer, address, epoch, report)

        refused = model.submit_refusal(epoch, report)
        if refused is not None:
            self.send(send, Refusal("distribution", refused), keeper, name)
            return
        # Admitted: it counts at once, whatever the member's contract says later.
        slip = slip_of(report)
        model.count_report(slip)
        if held == "apply":  # ApplyReport held on its way to the member's contract
            msg = hold_apply(self.chain, send)
            self.held.append(Held("apply", name, msg, epoch, slip))
            self.outcomes["report: ApplyReport held"] += 1
            return
        refusal = model.apply_refusal(mm, epoch)
        if held == "bounce":  # the refusal held on its way back
            if refusal is None:
                # Accepted; then the same signed report relayed again: a replay, whose
                # refusal is held.
                self.send(send, None, keeper, name)
                model.apply_report(mm, epoch, slip)
                model.count_report(slip)
                refusal = model.apply_refusal(mm, epoch)
                assert refusal is not None
            bounce = hold_bounce(self.chain, hold_apply(self.chain, send))
            tx = self.chain.transactions[-1]
            self.assert_refused_at(Trace((tx,)), refusal, name)
            self.held.append(Held("refused-report", name, bounce, epoch, slip))
            self.outcomes[f"report: refusal held ({refusal})"] += 1
            return
        trace = self.send(send, refusal, keeper, name)
        if refusal is None:
            model.apply_report(mm, epoch, slip)
        else:
            # The bounce came straight back, the epoch still reporting: the report is out again.
            self.check_refused_report(trace, epoch, slip)

    def check_refused_report(self, trace: Trace, epoch: int, slip: Slip) -> None:
        """A refused report's bounce reached the distribution in ``trace``: the model takes
        it out of the sums (or settles its share into the reserve), the event says so."""
        (refused,) = trace_events(trace, ContributionRefused)
        got = (refused.epoch, refused.contribution, refused.penalty_bps, refused.bonus_bps)
        assert got == (epoch, slip.c, slip.p, slip.b), f"ContributionRefused {got}"
        settled = self.model.refuse_report(epoch, slip)
        self.outcomes[f"refusal: {'into the reserve' if settled is not None else 'taken out'}"] += 1

    @rule()
    def close(self) -> None:
        model, keeper = self.model, self.sb.keeper
        refused = model.close_refusal()
        if refused is not None:
            self.send(
                lambda: self.pool.close_epoch(keeper), Refusal("distribution", refused), keeper
            )
            return
        open_income = self.pool.ledger().open_income
        finalizing = model.reporting.epoch if model.reporting else None
        epoch, end, commission, net = 0, 0, 0, 0
        trace = self.send(lambda: self.pool.close_epoch(keeper), None, keeper)
        close_tx = trace.find(self.pool.distribution)
        # The pot is what the balance holds beyond the contract's obligations.
        received = max(open_income - close_tx.storage_fees, 0)
        settled = None
        if finalizing is not None:
            reserve_in = model.reserve
            settled = model.finalize()
            assert settled.reserve_in == reserve_in
        epoch, end, commission, net = model.close(received)
        if settled is not None and finalizing is not None:
            self.check_finalized(trace, finalizing, settled)
        (closed,) = trace_events(trace, EpochClosed)
        got = (closed.epoch, closed.end, closed.received, closed.commission, closed.net)
        assert got == (epoch, end, received, commission, net), f"EpochClosed {got}"

    @precondition(lambda self: self.model.reporting is not None or self.steps % 4 == 0)
    @rule(data=st.data(), which=report_epochs, report=metrics, held=report_holds)
    def report_more(
        self, data: st.DataObject, which: str, report: econ.MemberMetrics, held: str
    ) -> None:
        """Reports are most of a pool's traffic: this makes them twice as likely."""
        self.report(data, which, report, held)

    # Never twice in a row: with few rules enabled (hypothesis switches rules off at random per
    # example) a run of nothing but closes would spend the budget on empty epochs.
    @precondition(lambda self: self.steps != self.advanced_at + 1)
    @rule()
    def advance_epoch(self) -> None:
        """Time travel to when the open epoch can close (past the reporting epoch's window
        too), then close it: most steps then happen in a pool with epochs behind it."""
        model = self.model
        self.advanced_at = self.steps
        if model.status == POOL_PAUSED:
            self.unpause()  # as an operator would: a paused pool closes no epoch
        when = model.epoch_start + model.epoch_length
        if model.reporting is not None:
            when = max(when, model.reporting.deadline + 1)
        if when > model.now:
            self.chain.set_now(when)
            model.now = when
        self.close()

    @rule(wait=st.sampled_from([True, True, False]))
    def finalize(self, wait: bool) -> None:
        """FinalizeEpoch; ``wait``: first travel to just after the report deadline."""
        model, keeper = self.model, self.sb.keeper
        if wait and model.reporting is not None and model.now <= model.reporting.deadline:
            model.now = model.reporting.deadline + 1
            self.chain.set_now(model.now)
        refused = "NO_REPORTING_EPOCH" if model.reporting is None else model.finalize_refusal()
        if refused is not None:
            self.send(
                lambda: self.pool.finalize_epoch(keeper), Refusal("distribution", refused), keeper
            )
            return
        assert model.reporting is not None
        epoch = model.reporting.epoch
        trace = self.send(lambda: self.pool.finalize_epoch(keeper), None, keeper)
        self.check_finalized(trace, epoch, model.finalize())

    @precondition(lambda self: self.payable() or (self.steps % 4 == 0 and self.some(has_slips)))
    @rule(data=st.data(), own=st.booleans(), held=claim_holds)
    def claim(self, data: st.DataObject, own: bool, held: bool) -> None:
        """A member's own ClaimRewards, or anyone's CrankPayout for the member."""
        model = self.model
        name = self.pick(data, lambda mm: any(e in model.finals for e in mm.slips))
        mm, wallet = self.member(name), self.wallets[name]
        payable = sorted(e for e in mm.slips if e in model.finals)
        candidates = set(mm.slips) | {model.current_epoch, model.latest_final or 1}
        if model.reporting is not None:
            candidates.add(model.reporting.epoch)
        if payable and data.draw(st.integers(0, 3), label="payable") > 0:
            epoch = data.draw(st.sampled_from(payable), label="epoch")
        else:
            epoch = data.draw(st.sampled_from(sorted(candidates)), label="epoch")
        payer = wallet if own else self.sb.keeper

        def send() -> Trace:
            if own:
                return self.pool.claim_rewards(wallet, epoch)
            return self.pool.crank_payout(self.sb.keeper, wallet.address, epoch)

        refusal = model.claim_refusal(mm, epoch)
        if refusal is not None and refusal.contract == "participant":
            self.send(send, refusal, payer, name)
            return
        # The member's contract hands over the slip and the pending amount.
        slip = mm.slips.pop(epoch)
        carry, mm.pending = mm.pending, 0
        mm.carried += carry
        if held:
            (msg,) = hold(self.chain, send, 2)
            assert msg.op == m.SettleClaim.PREFIX
            self.held.append(Held("settle", name, msg, epoch, slip, carry, own))
            self.outcomes["claim: SettleClaim held"] += 1
            return
        if refusal is not None:
            # Refused by the distribution: the bounce gives the slip and pending back.
            mm.slips[epoch], mm.pending, mm.carried = slip, mm.pending + carry, mm.carried - carry
            self.send(send, refusal, payer, name)
            return
        trace = self.send(send, None, payer, name)
        self.check_settled(trace, mm, epoch=epoch, slip=slip, carry=carry, own=own)

    @precondition(lambda self: self.payable() or (self.steps % 4 == 0 and self.some(has_slips)))
    @rule(data=st.data(), own=st.booleans(), held=claim_holds)
    def claim_more(self, data: st.DataObject, own: bool, held: bool) -> None:
        self.claim(data, own, held)

    def check_settled(
        self, trace: Trace, mm: MemberModel, *, epoch: int, slip: Slip, carry: int, own: bool
    ) -> None:
        model = self.model
        finalizing = model.reporting is not None and model.reporting.epoch == epoch
        reserve_in = model.reserve
        payout, paid_now = model.settle(mm, epoch, slip, carry, own)
        (settled,) = trace_events(trace, RewardSettled)
        got = (settled.epoch, settled.payout, settled.pending_carry, settled.paid_now)
        assert got == (epoch, payout, carry, paid_now), f"RewardSettled {got}"
        if finalizing:
            final = model.finals.get(epoch)
            (event,) = trace_events(trace, EpochFinalized)
            assert event.reserve_in == reserve_in
            if final is not None:
                s = final.settlement
                assert (event.penalty_pool, event.bonus_paid, event.claimable) == (
                    s.penalty_pool,
                    s.bonus_paid,
                    s.claimable,
                )

    @precondition(lambda self: bool(self.held))
    @rule(data=st.data())
    def deliver_more(self, data: st.DataObject) -> None:
        """Held messages pile up otherwise: this makes delivering them twice as likely."""
        self.deliver(data)

    @precondition(lambda self: bool(self.held))
    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        """Deliver one held message, in any order, whatever happened since."""
        index = data.draw(st.integers(0, len(self.held) - 1), label="held")
        self.deliver_held(index)

    def deliver_held(self, index: int) -> None:
        model = self.model
        self.changed, self.unchanged = True, None
        h = self.held.pop(index)
        mm = self.member(h.member)
        trace = self.chain.send_message(h.message.cell)
        self.outcomes[f"deliver: {h.kind}"] += 1
        if h.kind == "apply":
            # Counted at submit; the member's contract decides now, whatever happened since.
            assert h.slip is not None
            refusal = model.apply_refusal(mm, h.epoch)
            if refusal is None:
                trace.assert_success()
                assert len(trace) == 1, trace.describe()  # accepted: no answer
                model.apply_report(mm, h.epoch, h.slip)
            else:
                self.assert_refused_at(trace, refusal, h.member)
                self.check_refused_report(trace, h.epoch, h.slip)
        elif h.kind == "refused-report":
            assert h.slip is not None
            trace.assert_success()
            self.check_refused_report(trace, h.epoch, h.slip)
        elif h.kind == "settle":
            assert h.slip is not None
            refused = model.settle_refusal(h.epoch)
            if refused is None:
                trace.assert_success()
                self.check_settled(
                    trace, mm, epoch=h.epoch, slip=h.slip, carry=h.carry, own=h.own_claim
                )
            else:
                self.assert_refused_at(trace, Refusal("distribution", refused), h.member)
                mm.slips[h.epoch] = h.slip
                mm.pending += h.carry
                mm.carried -= h.carry
        else:  # "pay"
            trace.assert_success()
            mm.carried -= h.carry
            mm.paid += h.carry

    # -- operator --------------------------------------------------------------------------

    @rule(wrong=st.sampled_from([False, False, False, True]))
    def toggle_pause(self, wrong: bool) -> None:
        """Pause a running pool, unpause a paused one: one rule, so that no example stays
        paused for good because it drew no unpause. ``wrong``: send the other one instead
        (pause a paused pool, unpause a running one), which must be refused."""
        if (self.model.status == POOL_PAUSED) != wrong:
            self.unpause()
        else:
            self.pause()

    def pause(self) -> None:
        refused = self.model.pause_refusal()
        body = m.PausePool(query_id=self.next_query())
        refusal = Refusal("operator", refused) if refused else None
        self.send(self.admin(self.sb.pauser, body), refusal, self.sb.pauser)
        if refusal is None:
            self.model.pause()

    def unpause(self) -> None:
        refusal = None if self.model.status == POOL_PAUSED else Refusal("operator", "NOT_PAUSED")
        body = m.UnpausePool(query_id=self.next_query())
        self.send(self.admin(self.sb.admin, body), refusal, self.sb.admin)
        if refusal is None:
            self.model.unpause()

    @rule(
        change=st.one_of(
            st.tuples(
                st.just("commission"), st.sampled_from([499, 500, 800, 1000, 1200, 1500, 1501])
            ),
            st.tuples(
                st.just("min_stake"), st.sampled_from([ton("0.09"), ton(5), ton(10), ton(20)])
            ),
        )
    )
    def propose(self, change: tuple[str, int]) -> None:
        kind, value = change
        parameter: m.ParameterChange
        if kind == "commission":
            parameter = m.ChangeCommission(bps=value)
        else:
            parameter = m.ChangeMinStake(amount=value)
        refused = None
        if self.model.change is not None:
            refused = "CHANGE_ALREADY_PENDING"
        elif (
            kind == "commission" and not econ.COMMISSION_MIN_BPS <= value <= econ.COMMISSION_MAX_BPS
        ):
            refused = "COMMISSION_OUT_OF_RANGE"
        elif kind == "min_stake" and value < ton("0.1"):
            refused = "MIN_STAKE_TOO_LOW"
        refusal = Refusal("operator", refused) if refused else None
        self.send(
            lambda: self.pool.propose_change(self.sb.admin, parameter), refusal, self.sb.admin
        )
        if refusal is None:
            self.model.change = ChangeModel(kind, value, self.model.now + self.model.timelock)

    @precondition(lambda self: self.model.change is not None or self.steps % 3 == 0)
    @rule()
    def apply_change(self) -> None:
        refused = self.model.apply_refusal_change()
        refusal = Refusal("operator", refused) if refused else None
        body = m.ApplyChange(query_id=self.next_query())
        self.send(self.admin(self.sb.admin, body), refusal, self.sb.admin)
        if refusal is None:
            self.model.apply_change()

    @precondition(lambda self: self.model.change is not None or self.steps % 5 == 0)
    @rule()
    def cancel_change(self) -> None:
        refusal = None if self.model.change else Refusal("operator", "NO_PENDING_CHANGE")
        body = m.CancelChange(query_id=self.next_query())
        self.send(self.admin(self.sb.admin, body), refusal, self.sb.admin)
        if refusal is None:
            self.model.change = None

    @precondition(lambda self: self.steps >= 25)
    @rule()
    def close_pool(self) -> None:
        """ClosePool: no more members, and the reserve leaves with the next settled epoch."""
        model = self.model
        refusal = None if model.status == POOL_ACTIVE else Refusal("operator", "POOL_NOT_ACTIVE")
        body = m.ClosePool(query_id=self.next_query())
        self.send(self.admin(self.sb.admin, body), refusal, self.sb.admin)
        if refusal is None:
            model.status = 3
            model.winding_down = True

    # -- time ------------------------------------------------------------------------------

    @rule(
        to=st.sampled_from(
            [
                "second",
                "minutes",
                "hours",
                "epoch_end",
                "deadline",
                "after_deadline",
                "unbond",
                "timelock",
                "week",
            ]
        )
    )
    def travel(self, to: str) -> None:
        model, now = self.model, self.model.now
        r = model.reporting
        unbonds = [mm.unbond_at for mm in model.members.values() if mm.unbond_at > now]
        when = {
            "second": now + 1,
            "minutes": now + 600,
            "hours": now + 5 * HOUR,
            "epoch_end": model.epoch_start + model.epoch_length,
            "deadline": r.deadline if r else now,
            "after_deadline": r.deadline + 1 if r else now + 1,
            "unbond": min(unbonds) if unbonds else now,
            "timelock": model.change.apply_after if model.change else now,
            "week": now + 7 * DAY,
        }[to]
        when = max(when, now)
        self.outcomes[f"travel: {to}"] += 1
        self.chain.set_now(when)
        model.now = when

    # -- invariants ------------------------------------------------------------------------

    def teardown(self) -> None:
        if LOG:
            line = {
                "steps": self.steps,
                "seconds": round(time.monotonic() - self.started, 2),
                "epochs_closed": self.model.epochs_closed,
                "held_left": len(self.held),
                "outcomes": dict(sorted(self.outcomes.items())),
            }
            with open(LOG, "a") as out:
                out.write(json.dumps(line) + "\n")

    @initialize()
    def start(self) -> None:
        self.view = self.read()

    @invariant()
    def chain_agrees_with_model(self) -> None:
        if self.view is None:
            return  # before initialize
        self.steps += 1
        model = self.model
        txs = self.follower.new_transactions()
        view = self.read()
        if self.unchanged is not None:
            assert view == self.unchanged, "a refused operation changed the pool's state"
        self.unchanged, self.changed = None, False
        problems = mismatches(model, view)
        assert not problems, "chain and model disagree:\n" + "\n".join(problems)
        self.view = view
        conservation = self.sb.assert_conserved()

        for name, mm in model.members.items():
            raw = raw_address(self.addresses[name])
            assert self.follower.paid.get(raw, 0) == mm.paid, f"{name}: paid"
            assert mm.paid + mm.pending + mm.carried == mm.earned, f"{name}: settled shares"

        # Nothing is owed that is not there, and the floors hold.
        ledger = replace(view.ledger, open_income=view.open_income)
        obligations = ledger.reserve + ledger.pending_credit + ledger.commission_unpaid
        obligations += ledger.unsettled
        distribution = self.pool.distribution
        assert self.chain.get_balance(distribution) >= obligations
        self.dent_allowance += sum(storage_paid(Trace((tx,)), distribution) for tx in txs)
        if ledger.open_income >= 0:
            self.dent_allowance = 0
        else:
            assert -ledger.open_income <= self.dent_allowance, (ledger, self.dent_allowance)
        assert conservation.open_income == ledger.open_income
        self.registry_storage += sum(storage_paid(Trace((tx,)), self.pool.registry) for tx in txs)
        registry_floor = fee("REGISTRY_STORAGE_FLOOR")
        assert self.chain.get_balance(self.pool.registry) + self.registry_storage >= registry_floor
        assert self.chain.get_balance(self.pool.operator) >= view.pool.operator_stake
        for name, mm in model.members.items():
            if mm.deployed and mm.stake:
                participant = self.pool.participant_address(self.addresses[name])
                assert self.chain.get_balance(participant) >= mm.stake, f"{name}: stake"


PoolMachine.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    derandomize=not RANDOM,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)
TestPoolStateMachine = PoolMachine.TestCase
