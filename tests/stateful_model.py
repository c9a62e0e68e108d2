"""The expected state of a whole pool, for the stateful model test
(tests/integration/test_stateful.py).

``PoolModel`` restates, in plain Python, what each contract does with each operation: which
check refuses it (and with which named exit code, from cocoon_pool.contracts.exit_codes) or
what it changes. Money always goes through the reference model ``cocoon_pool.economics``:
an epoch is settled with ``settle_epoch`` and every share with ``member_payout``, so
"the chain agrees with the model" means the contracts pay what economics.py says, to the
nanoton. Nothing here reads the chain; ``ChainView`` is what the test reads from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pytest
from ton_core import Address

from cocoon_pool import economics as econ
from cocoon_pool.chain.emulator import EmulatedChain
from cocoon_pool.chain.types import OutMessage, Trace, Transaction, raw_address
from cocoon_pool.contracts import messages as m
from cocoon_pool.contracts import storage as st
from cocoon_pool.contracts import views as v
from cocoon_pool.contracts.pool import Pool
from cocoon_pool.errors import ChainError, GetMethodError

NONE, ACTIVE, UNBONDING, WITHDRAWN = 0, st.MEMBER_ACTIVE, st.MEMBER_UNBONDING, st.MEMBER_WITHDRAWN
POOL_ACTIVE, POOL_PAUSED, POOL_CLOSING = st.STATUS_ACTIVE, st.STATUS_PAUSED, st.STATUS_CLOSING


# ---------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class Refusal:
    """Where an operation is expected to stop: the contract (``"operator"``, ``"registry"``,
    ``"distribution"``, ``"participant"``) and the ``ERR_`` name, or ``None`` for a message to
    a contract that does not exist (no compute phase; the message bounces)."""

    contract: str
    error: str | None

    def __str__(self) -> str:
        return f"{self.contract}: {self.error or 'no such contract'}"


# ---------------------------------------------------------------- model state


@dataclass(frozen=True)
class Slip:
    """A member's unclaimed share of one epoch: contribution, penalty and bonus rates."""

    c: int
    p: int
    b: int


@dataclass
class MemberModel:
    name: str
    deployed: bool = False
    """Whether the member's Participant contract exists (it does from the first join on)."""
    status: int = NONE
    bound: bool = False
    verified: bool = False
    stake: int = 0
    unbond_at: int = 0
    last_reported: int = 0
    pending: int = 0
    slips: dict[int, Slip] = field(default_factory=dict)
    earned: int = 0
    """The sum of this member's settled shares, each computed by economics.member_payout."""
    paid: int = 0
    """What the distribution has sent the member (RewardPayout amounts)."""
    carried: int = 0
    """Amounts on their way: pending carried by a held SettleClaim or PayPending."""


@dataclass
class ReportingModel:
    epoch: int
    start: int
    end: int
    deadline: int
    received: int
    commission_bps: int
    net: int
    aggr: econ.EpochAggregates = field(default_factory=econ.EpochAggregates)


@dataclass
class FinalModel:
    settlement: econ.EpochSettlement
    aggr: econ.EpochAggregates
    remaining: int
    claims_left: int


@dataclass
class ChangeModel:
    kind: str  # "commission" or "min_stake"
    value: int
    apply_after: int


@dataclass
class PoolModel:
    now: int
    epoch_length: int
    report_grace: int
    timelock: int
    unbonding: int
    min_payout: int
    min_stake: int
    commission_bps: int
    """The distribution's rate for the open epoch."""
    operator_commission_bps: int
    """PoolOperator's configured rate (applied at once; the distribution defers it)."""
    epoch_start: int
    members: dict[str, MemberModel]
    current_epoch: int = 1
    next_commission_bps: int = 0
    next_commission_epoch: int = 0
    status: int = POOL_ACTIVE
    paused_at: int = 0
    winding_down: bool = False
    reserve: int = 0
    commission: int = 0
    dust_swept: int = 0
    epochs_closed: int = 0
    reporting: ReportingModel | None = None
    finals: dict[int, FinalModel] = field(default_factory=dict)
    latest_final: int = 0
    change: ChangeModel | None = None
    member_count: int = 0
    total_stake: int = 0

    # -- derived -------------------------------------------------------------------------

    @property
    def paid(self) -> int:
        return sum(mm.paid for mm in self.members.values())

    @property
    def pending_credit(self) -> int:
        return sum(mm.pending + mm.carried for mm in self.members.values())

    @property
    def unsettled(self) -> int:
        open_net = self.reporting.net if self.reporting is not None else 0
        return open_net + sum(f.remaining for f in self.finals.values())

    # -- epochs ----------------------------------------------------------------------------

    def finalize_refusal(self) -> str | None:
        """checkCanFinalize on the reporting epoch (which must exist)."""
        r = self.reporting
        assert r is not None
        if self.now <= r.deadline:
            return "REPORT_WINDOW_OPEN"
        if self.paused_at and self.paused_at <= r.deadline:
            return "DISTRIBUTION_PAUSED"
        return None

    def finalize(self) -> econ.EpochSettlement:
        """Freeze the reporting epoch (its checks passed) with the reference model."""
        r = self.reporting
        assert r is not None
        self.reporting = None
        s = econ.settle_epoch(
            r.received, r.commission_bps, self.reserve, r.aggr, wind_down=self.winding_down
        )
        assert s.net == r.net
        self.reserve = s.reserve_out
        if r.aggr.contribution_sum == 0:
            return s
        self.finals[r.epoch] = FinalModel(s, r.aggr, s.claimable, r.aggr.members)
        self.latest_final = r.epoch
        return s

    def close_refusal(self) -> str | None:
        if self.paused_at:
            return "DISTRIBUTION_PAUSED"
        if self.now - self.epoch_start < self.epoch_length:
            return "EPOCH_NOT_OVER"
        if self.reporting is not None:
            if self.now <= self.reporting.deadline:
                return "PREVIOUS_EPOCH_STILL_REPORTING"
            return self.finalize_refusal()
        return None

    def close(self, received: int) -> tuple[int, int, int, int]:
        """Close the open epoch with ``received`` reconciled; returns (epoch, end, K, N)."""
        if self.reporting is not None:
            self.finalize()
        epoch = self.current_epoch
        if self.next_commission_epoch and epoch >= self.next_commission_epoch:
            self.commission_bps = self.next_commission_bps
            self.next_commission_bps = self.next_commission_epoch = 0
        periods = (self.now - self.epoch_start) // self.epoch_length
        end = self.epoch_start + periods * self.epoch_length
        commission = received * self.commission_bps // econ.BPS
        net = received - commission
        self.commission += commission
        self.epochs_closed += 1
        self.reporting = ReportingModel(
            epoch,
            self.epoch_start,
            end,
            self.now + self.report_grace,
            received,
            self.commission_bps,
            net,
        )
        self.current_epoch = epoch + 1
        self.epoch_start = end
        return epoch, end, commission, net

    # -- reports ---------------------------------------------------------------------------

    def submit_refusal(self, epoch: int, metrics: econ.MemberMetrics) -> str | None:
        """RewardDistribution's checks of a relayed report (the signature is always good): the
        batch's own first (pause, reporting epoch, window), then the report's."""
        if self.paused_at:
            return "DISTRIBUTION_PAUSED"
        r = self.reporting
        if r is None:
            return "NO_REPORTING_EPOCH"
        if self.now > r.deadline:
            return "REPORT_WINDOW_CLOSED"
        if epoch != r.epoch:
            return "WRONG_REPORT_EPOCH"
        if metrics.running_seconds > r.end - r.start:
            return "RUNNING_TIME_OUT_OF_RANGE"
        return None

    def apply_refusal(self, member: MemberModel, epoch: int) -> Refusal | None:
        """The member's contract deciding on ApplyReport."""
        if not member.deployed:
            return Refusal("participant", None)
        if not member.verified:
            return Refusal("participant", "NOT_VERIFIED")
        if member.status == WITHDRAWN:
            return Refusal("participant", "NOT_ACTIVE")
        if epoch <= member.last_reported:
            return Refusal("participant", "REPORT_REPLAYED")
        return None

    def apply_report(self, member: MemberModel, epoch: int, slip: Slip) -> None:
        """The member's contract accepted: it records the slip and answers nothing."""
        member.slips[epoch] = slip
        member.last_reported = epoch

    def count_report(self, slip: Slip) -> None:
        """The distribution admitted the report (its checks passed): it enters the sums at
        once, before the member's contract has seen it."""
        r = self.reporting
        assert r is not None
        r.aggr = econ.add_member(r.aggr, slip.c, slip.p, slip.b)

    def refuse_report(self, epoch: int, slip: Slip) -> int | None:
        """The bounce of a refused ApplyReport reached the distribution. While its epoch still
        reports, the report leaves the sums as it came in. Once the epoch is final its sums are
        frozen: the refused share, which nobody can claim, is settled into the reserve as a
        claim would settle it (the epoch retires with its last slip). An epoch nobody
        contributed to has no record: nothing to settle. Returns the share put in the reserve."""
        r = self.reporting
        if r is not None and r.epoch == epoch:
            a = r.aggr
            r.aggr = econ.EpochAggregates(
                contribution_sum=a.contribution_sum - slip.c,
                penalty_weight=a.penalty_weight - slip.c * slip.p,
                bonus_weight=a.bonus_weight - slip.c * slip.b,
                members=a.members - 1,
            )
            return None
        final = self.finals.get(epoch)
        if final is None:
            return None
        share = econ.member_payout(final.settlement, final.aggr, slip.c, slip.p, slip.b)
        self.settle_slip(epoch, share.payout)
        self.reserve += share.payout
        return share.payout

    # -- settlement ------------------------------------------------------------------------

    def settle_refusal(self, epoch: int) -> str | None:
        """RewardDistribution's checks of a SettleClaim (finalizing on the way if it can)."""
        r = self.reporting
        if r is not None and r.epoch == epoch:
            if self.now <= r.deadline:
                return "EPOCH_NOT_FINAL"
            refusal = self.finalize_refusal()
            if refusal is not None:
                return refusal
            # Finalizing an epoch nobody contributed to leaves no record to claim from.
            if r.aggr.contribution_sum == 0:
                return "UNKNOWN_EPOCH"
            return None
        if epoch not in self.finals:
            return "UNKNOWN_EPOCH"
        return None

    def settle(
        self, member: MemberModel, epoch: int, slip: Slip, carry: int, own_claim: bool
    ) -> tuple[int, bool]:
        """Pay or credit one slip (its checks passed); returns (payout, paid now)."""
        r = self.reporting
        if r is not None and r.epoch == epoch:
            self.finalize()
        final = self.finals[epoch]
        share = econ.member_payout(final.settlement, final.aggr, slip.c, slip.p, slip.b)
        self.settle_slip(epoch, share.payout)
        member.earned += share.payout
        total = share.payout + carry
        member.carried -= carry
        if own_claim or total >= self.min_payout:
            member.paid += total
            return share.payout, True
        member.pending += total
        return share.payout, False

    def settle_slip(self, epoch: int, payout: int) -> None:
        """Take one slip's ``payout`` out of its final epoch; the last slip retires the epoch
        and sweeps what rounding left into the reserve."""
        final = self.finals[epoch]
        final.remaining -= payout
        final.claims_left -= 1
        if final.claims_left == 0:
            self.reserve += final.remaining
            self.dust_swept += final.remaining
            del self.finals[epoch]
            if self.latest_final == epoch:
                self.latest_final = 0

    def claim_refusal(self, member: MemberModel, epoch: int) -> Refusal | None:
        """The member's contract on CrankPayout / ClaimRewards (the value always suffices)."""
        if not member.deployed:
            return Refusal("participant", None)
        if epoch not in member.slips:
            return Refusal("participant", "NOTHING_TO_CLAIM")
        refusal = self.settle_refusal(epoch)
        return None if refusal is None else Refusal("distribution", refusal)

    # -- members ---------------------------------------------------------------------------

    def register_refusal(self, member: MemberModel, stake: int) -> Refusal | None:
        if self.status == POOL_PAUSED:
            return Refusal("registry", "REGISTRATION_PAUSED")
        if self.status == POOL_CLOSING:
            return Refusal("registry", "POOL_CLOSING")
        if stake < self.min_stake:
            return Refusal("registry", "STAKE_BELOW_MINIMUM")
        if member.deployed and member.status != WITHDRAWN:
            return Refusal("participant", "ALREADY_REGISTERED")
        return None

    def register(self, member: MemberModel, stake: int) -> None:
        member.deployed = True
        member.status = ACTIVE
        member.stake = stake
        member.unbond_at = 0
        self.member_count += 1
        self.total_stake += stake

    def unregister_refusal(self, member: MemberModel) -> Refusal | None:
        if not member.deployed:
            return Refusal("participant", None)
        if member.status != ACTIVE:
            return Refusal("participant", "NOT_ACTIVE")
        return None

    def unregister(self, member: MemberModel) -> None:
        member.status = UNBONDING
        member.unbond_at = self.now + self.unbonding
        self.member_count -= 1
        self.total_stake -= member.stake

    def withdraw_refusal(self, member: MemberModel) -> Refusal | None:
        if not member.deployed:
            return Refusal("participant", None)
        if member.status != UNBONDING:
            return Refusal("participant", "NOT_UNBONDING")
        if self.now < member.unbond_at:
            return Refusal("participant", "UNBONDING_NOT_OVER")
        return None

    def withdraw(self, member: MemberModel) -> int:
        """Stake and pending leave; returns the pending amount paid with it."""
        pending = member.pending
        member.paid += pending
        member.pending = 0
        member.stake = 0
        member.status = WITHDRAWN
        return pending

    # -- pause, wind-down, timelock --------------------------------------------------------

    def pause_refusal(self) -> str | None:
        if self.status == POOL_PAUSED:
            return "POOL_ALREADY_PAUSED"
        if self.status != POOL_ACTIVE:
            return "POOL_NOT_ACTIVE"
        return None

    def pause(self) -> None:
        self.status = POOL_PAUSED
        if not self.paused_at:
            self.paused_at = self.now

    def unpause(self) -> None:
        self.status = POOL_ACTIVE
        r = self.reporting
        if r is not None and self.paused_at <= r.deadline:
            r.deadline += self.now - self.paused_at
        self.paused_at = 0

    def apply_refusal_change(self) -> str | None:
        if self.change is None:
            return "NO_PENDING_CHANGE"
        if self.now < self.change.apply_after:
            return "TIMELOCK_NOT_EXPIRED"
        return None

    def apply_change(self) -> None:
        change = self.change
        assert change is not None
        self.change = None
        if change.kind == "min_stake":
            self.min_stake = change.value
            return
        self.operator_commission_bps = change.value
        # UpdateDistributionConfig: the new rate starts with the next epoch.
        if change.value == self.commission_bps:
            self.next_commission_bps = self.next_commission_epoch = 0
        elif change.value != self.next_commission_bps or self.next_commission_epoch == 0:
            self.next_commission_bps = change.value
            self.next_commission_epoch = self.current_epoch + 1


# ---------------------------------------------------------------- reading the chain


@dataclass(frozen=True)
class ChainView:
    """Everything the test compares with the model after a step (``open_income`` left out:
    storage fees move it on every transaction, and the conservation check covers it)."""

    ledger: v.Ledger
    open_income: int = field(compare=False)
    reporting: v.ReportingView
    registry: v.RegistryInfo
    pool: v.PoolInfo
    change: v.PendingChangeView
    finals: tuple[tuple[int, v.FinalEpochView], ...]
    participants: tuple[tuple[str, v.ParticipantInfo | None], ...]
    slips: tuple[tuple[str, int, v.UnclaimedView], ...]


def read_view(pool: Pool, model: PoolModel, addresses: dict[str, Address]) -> ChainView:
    # The model's frozen epochs and the last two closed ones (one of which it may have
    # retired or never frozen): every epoch a step can have changed.
    recent = {e for e in (model.current_epoch - 1, model.current_epoch - 2) if e > 0}
    epochs = sorted(set(model.finals) | recent)
    participants: list[tuple[str, v.ParticipantInfo | None]] = []
    slips: list[tuple[str, int, v.UnclaimedView]] = []
    for name, address in addresses.items():
        info: v.ParticipantInfo | None = None
        participant = pool.participant_address(address)
        if model.members[name].deployed or pool.chain.get_balance(participant) > 0:
            try:
                info = pool.participant_info(address)
            except GetMethodError:
                info = None
        participants.append((name, info))
        for epoch in sorted(model.members[name].slips):
            slips.append((name, epoch, pool.unclaimed(address, epoch)))
    ledger = pool.ledger()
    return ChainView(
        ledger=replace(ledger, open_income=0),
        open_income=ledger.open_income,
        reporting=pool.reporting_epoch(),
        registry=pool.registry_info(),
        pool=pool.pool_info(),
        change=pool.pending_change(),
        finals=tuple((e, pool.final_epoch(e)) for e in epochs),
        participants=tuple(participants),
        slips=tuple(slips),
    )


def mismatches(model: PoolModel, view: ChainView) -> list[str]:
    """Every difference between the model and the chain, as readable lines (empty: agree)."""
    out: list[str] = []

    def check(what: str, chain: object, expected: object) -> None:
        if chain != expected:
            out.append(f"{what}: chain {chain!r}, model {expected!r}")

    led = view.ledger
    check("paused", led.paused, model.paused_at != 0)
    check("paused_at", led.paused_at, model.paused_at)
    check("winding_down", led.winding_down, model.winding_down)
    check("current_epoch", led.current_epoch, model.current_epoch)
    check("epoch_start", led.epoch_start, model.epoch_start)
    check("commission_bps", led.commission_bps, model.commission_bps)
    check("next_commission_bps", led.next_commission_bps, model.next_commission_bps)
    check("next_commission_epoch", led.next_commission_epoch, model.next_commission_epoch)
    check("reserve", led.reserve, model.reserve)
    check("pending_credit", led.pending_credit, model.pending_credit)
    check("commission (total)", led.commission, model.commission)
    check("commission_unpaid", led.commission_unpaid, model.commission)
    check("unsettled", led.unsettled, model.unsettled)
    check("paid (total)", led.paid, model.paid)
    check("dust_swept", led.dust_swept, model.dust_swept)
    check("epochs_closed", led.epochs_closed, model.epochs_closed)

    rep, r = view.reporting, model.reporting
    check("reporting.active", rep.active, r is not None)
    if r is not None:
        got = (rep.epoch, rep.start, rep.end, rep.deadline, rep.net)
        check(
            "reporting epoch/start/end/deadline/net",
            got,
            (r.epoch, r.start, r.end, r.deadline, r.net),
        )
        sums = (rep.contribution_sum, rep.penalty_weight, rep.bonus_weight, rep.reporters)
        a = r.aggr
        check(
            "reporting C/CP/CB/n",
            sums,
            (a.contribution_sum, a.penalty_weight, a.bonus_weight, a.members),
        )

    for epoch, f in view.finals:
        fm = model.finals.get(epoch)
        check(f"final {epoch} found", f.found, fm is not None)
        if fm is None:
            continue
        s = fm.settlement
        flat = s.wind_down
        expected = (
            s.claimable if flat else s.net,
            fm.aggr.contribution_sum,
            0 if flat else fm.aggr.bonus_weight,
            s.bonus_paid,
            flat,
            fm.remaining,
            fm.claims_left,
        )
        got_f = (
            f.net,
            f.contribution_sum,
            f.bonus_weight,
            f.bonus_paid,
            f.flat,
            f.remaining,
            f.claims_left,
        )
        check(f"final {epoch} net/C/CB/Bon/flat/remaining/claims", got_f, expected)

    reg = view.registry
    check("registry paused", reg.paused, model.status == POOL_PAUSED)
    check("registry closing", reg.closing, model.status == POOL_CLOSING)
    check("registry min_stake", reg.min_stake, model.min_stake)
    check("registry member_count", reg.member_count, model.member_count)
    check("registry total_stake", reg.total_stake, model.total_stake)
    pool = view.pool
    check("pool status", pool.status, model.status)
    check("pool commission_bps", pool.commission_bps, model.operator_commission_bps)
    check("pool min_stake", pool.min_stake, model.min_stake)
    check("change pending", view.change.exists, model.change is not None)
    if model.change is not None:
        check("change apply_after", view.change.apply_after, model.change.apply_after)

    for name, info in view.participants:
        mm = model.members[name]
        check(f"{name} deployed", info is not None, mm.deployed)
        if info is None:
            continue
        got_p = (
            info.status,
            info.verified,
            info.worker is not None,
            info.stake,
            info.unbond_at,
            info.last_reported_epoch,
            info.pending,
        )
        want = (
            mm.status,
            mm.verified,
            mm.bound,
            mm.stake,
            mm.unbond_at,
            mm.last_reported,
            mm.pending,
        )
        check(f"{name} status/verified/bound/stake/unbond_at/last_reported/pending", got_p, want)
    for name, epoch, found in view.slips:
        slip = model.members[name].slips[epoch]
        check(
            f"{name} slip {epoch}",
            (found.found, found.contribution, found.penalty_bps, found.bonus_bps),
            (True, slip.c, slip.p, slip.b),
        )
    return out


class PayoutFollower:
    """What the distribution really sent each member: the amount of every RewardPayout it
    emitted (a member's own claim carries the caller's change in the same message, so the
    message's value is not the payout)."""

    def __init__(self, chain: EmulatedChain, distribution: Address) -> None:
        self.chain = chain
        self.distribution_raw = raw_address(distribution)
        self.seen = len(chain.transactions)
        self.paid: dict[str, int] = {}

    def new_transactions(self) -> list[Transaction]:
        txs = self.chain.transactions[self.seen :]
        self.seen = len(self.chain.transactions)
        for tx in txs:
            if tx.address_raw != self.distribution_raw:
                continue
            for out in tx.internal_out:
                if out.op == m.RewardPayout.PREFIX and out.dest_raw is not None:
                    amount = m.RewardPayout.from_cell(out.body).amount
                    self.paid[out.dest_raw] = self.paid.get(out.dest_raw, 0) + amount
        return txs


def hold(chain: EmulatedChain, send: Callable[[], Trace], transactions: int) -> list[OutMessage]:
    """Run ``send`` but stop its trace after ``transactions`` transactions and return the
    internal messages the last one sent: a test delivers them later (``chain.send_message``),
    which is how an adversary or a slow network reorders messages."""
    limit = chain.max_trace_transactions
    chain.max_trace_transactions = transactions
    try:
        with pytest.raises(ChainError):
            send()
    finally:
        chain.max_trace_transactions = limit
    return list(chain.transactions[-1].internal_out)


def hold_apply(chain: EmulatedChain, send: Callable[[], Trace]) -> OutMessage:
    """Relay one report but stop after the distribution's SubmitReport transaction (the
    relayer's wallet, then the distribution): the report is counted, its ApplyReport is
    returned, held, and the relayer's change is delivered at once."""
    out = hold(chain, send, 2)
    assert chain.transactions[-1].op == m.SubmitReport.PREFIX, chain.transactions[-1].describe()
    applies = [msg for msg in out if msg.op == m.ApplyReport.PREFIX]
    for msg in out:
        if msg.op == m.ReturnExcesses.PREFIX:
            chain.send_message(msg.cell).assert_success()
    (apply,) = applies
    return apply


def hold_bounce(chain: EmulatedChain, apply: OutMessage) -> OutMessage:
    """Deliver an ApplyReport the member's contract refuses and hold the bounce it sends back
    to the distribution."""
    (bounce,) = hold(chain, lambda: chain.send_message(apply.cell), 1)
    assert bounce.bounced and chain.transactions[-1].bounced, chain.transactions[-1].describe()
    return bounce
