"""What-if economics: the pool's real recorded epochs replayed with another commission or
other tier rates, next to what each member actually got.

The indexed history holds, per finalized epoch, the pot (``EpochClosed.received``), the
reserve carried in (``EpochFinalized.reserveIn``) and every counted report
(``ContributionRecorded``: contribution, penalty and bonus in bps), plus each member's
settled share (``RewardSettled``). That is everything the reference model
(:mod:`cocoon_pool.economics`) needs, so a replay with the recorded parameters reproduces
the recorded shares to the nanoton (``WhatIf.baseline_matches``), and a replay with other
parameters shows what members would have received instead.

A recorded penalty is split back into its uptime part (none, minor or major) and its outage
part, each of which a scenario may re-price; the thresholds (uptime 95 %/80 %, 3 outages)
stay those the reports were classified by, since the chain keeps the raw uptime of the
last few epochs only.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from cocoon_pool import economics as econ
from cocoon_pool.errors import CocoonPoolError, UsageError
from cocoon_pool.indexer.history import counted_reports
from cocoon_pool.indexer.models import EpochResult, IndexedContract, Payout


class WhatIfError(CocoonPoolError):
    """The recorded history cannot be replayed (no epochs, several pools, drifted rules)."""


@dataclass(frozen=True)
class TierRates:
    """What each tier earns or loses, in basis points of the member's base share."""

    bonus_bps: int = econ.BONUS_BPS
    minor_penalty_bps: int = econ.MINOR_PENALTY_BPS
    major_penalty_bps: int = econ.MAJOR_PENALTY_BPS
    outage_penalty_bps: int = econ.OUTAGE_PENALTY_BPS

    def __post_init__(self) -> None:
        for name in ("bonus_bps", "minor_penalty_bps", "major_penalty_bps", "outage_penalty_bps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= econ.BPS:
                raise UsageError(
                    f"{name.replace('_', ' ')} = {value!r} is outside 0..{econ.BPS}",
                    hint="rates are basis points of the base share: 10000 is 100 %",
                )
        worst = max(self.minor_penalty_bps, self.major_penalty_bps) + self.outage_penalty_bps
        if worst > econ.BPS:
            raise UsageError(
                f"an uptime penalty plus the outage penalty can reach {worst} bps",
                hint=f"keep the largest uptime penalty plus the outage penalty <= {econ.BPS}",
            )

    @property
    def is_default(self) -> bool:
        return self == TierRates()

    def reprice(self, penalty_bps: int, bonus_bps: int) -> tuple[int, int]:
        """The recorded ``(P, B)`` of a report under these rates."""
        uptime, outages = split_penalty(penalty_bps)
        new_uptime = {
            0: 0,
            econ.MINOR_PENALTY_BPS: self.minor_penalty_bps,
            econ.MAJOR_PENALTY_BPS: self.major_penalty_bps,
        }[uptime]
        new_penalty = new_uptime + (self.outage_penalty_bps if outages else 0)
        return new_penalty, self.bonus_bps if bonus_bps > 0 else 0


def split_penalty(penalty_bps: int) -> tuple[int, bool]:
    """A recorded penalty as (uptime part, outage penalty applied); the parts are unique
    because every sum of one uptime rate and the outage rate differs."""
    for uptime in (0, econ.MINOR_PENALTY_BPS, econ.MAJOR_PENALTY_BPS):
        for outages in (False, True):
            if uptime + (econ.OUTAGE_PENALTY_BPS if outages else 0) == penalty_bps:
                return uptime, outages
    raise WhatIfError(
        f"a recorded penalty of {penalty_bps} bps matches no tier of the reward rules",
        "the contracts' rules differ from cocoon_pool.economics: update the package",
    )


def tier_label(penalty_bps: int, bonus_bps: int) -> str:
    """The display tier of a recorded report (as :func:`cocoon_pool.economics.tier`)."""
    uptime, outages = split_penalty(penalty_bps)
    if bonus_bps > 0:
        name = "bonus"
    elif uptime == econ.MAJOR_PENALTY_BPS:
        name = "major-penalty"
    elif uptime == econ.MINOR_PENALTY_BPS:
        name = "minor-penalty"
    else:
        name = "standard"
    return econ.Tier(name, outages).label


@dataclass(frozen=True)
class RecordedReport:
    member: str
    contribution: int
    penalty_bps: int
    bonus_bps: int


@dataclass(frozen=True)
class RecordedEpoch:
    """One finalized epoch as indexed."""

    epoch: int
    received: int
    commission: int
    reserve_in: int
    dust: int
    reports: tuple[RecordedReport, ...]
    settled: dict[str, int] = field(default_factory=dict)
    """Member -> the share the chain settled (paid now or kept pending)."""

    @property
    def commission_bps(self) -> int:
        """The rate this epoch was closed with: the smallest allowed rate that gives the
        recorded commission (any rate gives 0 on an empty pot)."""
        for bps in range(econ.COMMISSION_MIN_BPS, econ.COMMISSION_MAX_BPS + 1):
            if self.received * bps // econ.BPS == self.commission:
                return bps
        raise WhatIfError(
            f"epoch {self.epoch}: commission {self.commission} of {self.received} matches no "
            "allowed rate",
            "the contracts' rules differ from cocoon_pool.economics: update the package",
        )


def only_pool(session: Session, pool: str | None) -> str:
    """``pool``, or the one pool of the database."""
    if pool is not None:
        return pool
    try:
        pools = sorted(session.scalars(select(IndexedContract.pool).distinct()))
    except SQLAlchemyError as exc:
        raise WhatIfError(
            f"cannot read the indexer database: {exc}",
            "check --database; run `cocoon-pool index` first to create it",
        ) from exc
    if len(pools) != 1:
        raise WhatIfError(
            f"the database holds {len(pools)} pools" if pools else "the database holds no pool",
            "run `cocoon-pool index` for the pool first"
            if not pools
            else "name one with --pool (its PoolOperator address)",
        )
    return pools[0]


def load_epochs(session: Session, pool: str) -> list[RecordedEpoch]:
    """The pool's finalized epochs, oldest first, with their reports and settled shares."""
    try:
        rows = session.scalars(
            select(EpochResult)
            .where(EpochResult.pool == pool, EpochResult.finalized_at.is_not(None))
            .order_by(EpochResult.epoch)
        ).all()
        events = counted_reports(session, pool)
        payouts = session.scalars(
            select(Payout).where(Payout.pool == pool, Payout.kind == "reward")
        ).all()
    except SQLAlchemyError as exc:
        raise WhatIfError(
            f"cannot read the indexer database: {exc}",
            "check --database; run `cocoon-pool index` first to create it",
        ) from exc
    reports: dict[int, list[RecordedReport]] = {}
    for e in events:
        f = e.fields
        reports.setdefault(int(f["epoch"]), []).append(
            RecordedReport(
                str(f["member"]), int(f["contribution"]), int(f["penalty_bps"]), int(f["bonus_bps"])
            )
        )
    settled: dict[int, dict[str, int]] = {}
    for p in payouts:
        if p.epoch is not None:
            settled.setdefault(p.epoch, {})[p.member] = p.amount
    return [
        RecordedEpoch(
            epoch=r.epoch,
            received=r.received or 0,
            commission=r.commission or 0,
            reserve_in=r.reserve_in or 0,
            dust=r.dust or 0,
            reports=tuple(reports.get(r.epoch, ())),
            settled=settled.get(r.epoch, {}),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class MemberEpoch:
    """One member in one epoch: the recorded share, the model's with the recorded
    parameters (``baseline``) and with the scenario's (``whatif``)."""

    epoch: int
    member: str
    contribution: int
    tier: str
    actual: int | None
    """What the chain settled; None while the share is not settled yet."""
    baseline: int
    whatif: int

    @property
    def difference(self) -> int:
        return self.whatif - self.baseline


@dataclass(frozen=True)
class EpochComparison:
    epoch: int
    received: int
    commission_bps: int
    whatif_commission_bps: int
    commission: int
    whatif_commission: int
    reserve_out: int
    whatif_reserve_out: int
    members: tuple[MemberEpoch, ...]


@dataclass(frozen=True)
class MemberTotal:
    member: str
    epochs: int
    actual: int
    """Sum of the settled shares."""
    baseline: int
    whatif: int
    unsettled: int
    """Epochs whose share is not settled yet (counted in baseline and whatif only)."""

    @property
    def difference(self) -> int:
        return self.whatif - self.baseline


@dataclass(frozen=True)
class WhatIf:
    pool: str
    commission_bps: int | None
    """The scenario's commission (None: each epoch's recorded one)."""
    rates: TierRates
    epochs: tuple[EpochComparison, ...]
    members: tuple[MemberTotal, ...]

    @property
    def baseline_matches(self) -> bool:
        """Every settled share equals the model replayed with the recorded parameters."""
        return all(
            m.actual is None or m.actual == m.baseline for e in self.epochs for m in e.members
        )

    @property
    def commission(self) -> tuple[int, int]:
        """(recorded, scenario) commission over the replayed epochs."""
        return (
            sum(e.commission for e in self.epochs),
            sum(e.whatif_commission for e in self.epochs),
        )

    def to_json(self) -> dict[str, object]:
        recorded, scenario = self.commission
        return {
            "pool": self.pool,
            "scenario": {
                "commission_bps": self.commission_bps,
                "bonus_bps": self.rates.bonus_bps,
                "minor_penalty_bps": self.rates.minor_penalty_bps,
                "major_penalty_bps": self.rates.major_penalty_bps,
                "outage_penalty_bps": self.rates.outage_penalty_bps,
            },
            "baseline_matches": self.baseline_matches,
            "commission_nanoton": {"recorded": recorded, "whatif": scenario},
            "epochs": [
                {
                    "epoch": e.epoch,
                    "received_nanoton": e.received,
                    "commission_bps": e.commission_bps,
                    "whatif_commission_bps": e.whatif_commission_bps,
                    "commission_nanoton": e.commission,
                    "whatif_commission_nanoton": e.whatif_commission,
                    "reserve_out_nanoton": e.reserve_out,
                    "whatif_reserve_out_nanoton": e.whatif_reserve_out,
                    "members": [
                        {
                            "member": m.member,
                            "contribution": m.contribution,
                            "tier": m.tier,
                            "actual_nanoton": m.actual,
                            "baseline_nanoton": m.baseline,
                            "whatif_nanoton": m.whatif,
                        }
                        for m in e.members
                    ],
                }
                for e in self.epochs
            ],
            "members": [
                {
                    "member": t.member,
                    "epochs": t.epochs,
                    "actual_nanoton": t.actual,
                    "baseline_nanoton": t.baseline,
                    "whatif_nanoton": t.whatif,
                    "difference_nanoton": t.difference,
                    "unsettled_epochs": t.unsettled,
                }
                for t in self.members
            ],
        }


CSV_COLUMNS = (
    "epoch",
    "member",
    "tier",
    "contribution",
    "actual_nanoton",
    "baseline_nanoton",
    "whatif_nanoton",
    "difference_nanoton",
)


def csv_text(result: WhatIf) -> str:
    """One row per member and epoch; ``actual_nanoton`` empty while unsettled."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in result.epochs:
        for m in e.members:
            writer.writerow(
                [
                    e.epoch,
                    m.member,
                    m.tier,
                    m.contribution,
                    "" if m.actual is None else m.actual,
                    m.baseline,
                    m.whatif,
                    m.difference,
                ]
            )
    return buffer.getvalue()


def _run(
    epoch: RecordedEpoch,
    commission_bps: int,
    reserve_in: int,
    terms: Sequence[tuple[int, int, int]],
) -> econ.EpochResult:
    aggr = econ.EpochAggregates()
    for c, p, b in terms:
        aggr = econ.add_member(aggr, c, p, b)
    settlement = econ.settle_epoch(epoch.received, commission_bps, reserve_in, aggr)
    shares = tuple(econ.member_payout(settlement, aggr, c, p, b) for c, p, b in terms)
    return econ.EpochResult(settlement=settlement, aggregates=aggr, shares=shares)


def replay(
    pool: str,
    epochs: Iterable[RecordedEpoch],
    *,
    commission_bps: int | None = None,
    rates: TierRates | None = None,
) -> WhatIf:
    """Replay ``epochs`` with the recorded parameters and with the scenario's.

    The scenario's reserve follows its own epochs: the recorded reserve carried into each
    epoch plus the difference between the scenario's reserve and the recorded one after the
    epoch before (dust swept), so a scenario that pays more bonus has less reserve later.
    """
    rates = rates or TierRates()
    if commission_bps is not None and not (
        econ.COMMISSION_MIN_BPS <= commission_bps <= econ.COMMISSION_MAX_BPS
    ):
        raise UsageError(
            f"commission {commission_bps} bps is outside "
            f"{econ.COMMISSION_MIN_BPS}..{econ.COMMISSION_MAX_BPS}",
            hint="the contracts accept 500..1500 bps (5-15 %); 1000 is 10 %",
        )
    compared: list[EpochComparison] = []
    carry = 0
    totals: dict[str, list[int]] = {}
    for epoch in epochs:
        recorded_bps = epoch.commission_bps if epoch.received else econ.COMMISSION_DEFAULT_BPS
        scenario_bps = recorded_bps if commission_bps is None else commission_bps
        terms = [(r.contribution, r.penalty_bps, r.bonus_bps) for r in epoch.reports]
        base = _run(epoch, recorded_bps, epoch.reserve_in, terms)
        new_terms = [(c, *rates.reprice(p, b)) for c, p, b in terms]
        scenario = _run(epoch, scenario_bps, max(epoch.reserve_in + carry, 0), new_terms)
        # Each reserve already carries the difference of the epochs before it.
        carry = scenario.reserve_after_sweep - base.reserve_after_sweep
        members: list[MemberEpoch] = []
        for report, b_share, w_share in zip(
            epoch.reports, base.shares, scenario.shares, strict=True
        ):
            actual = epoch.settled.get(report.member)
            members.append(
                MemberEpoch(
                    epoch=epoch.epoch,
                    member=report.member,
                    contribution=report.contribution,
                    tier=tier_label(report.penalty_bps, report.bonus_bps),
                    actual=actual,
                    baseline=b_share.payout,
                    whatif=w_share.payout,
                )
            )
            t = totals.setdefault(report.member, [0, 0, 0, 0, 0])
            t[0] += 1
            t[1] += actual or 0
            t[2] += b_share.payout
            t[3] += w_share.payout
            t[4] += actual is None
        compared.append(
            EpochComparison(
                epoch=epoch.epoch,
                received=epoch.received,
                commission_bps=recorded_bps,
                whatif_commission_bps=scenario_bps,
                commission=base.commission,
                whatif_commission=scenario.commission,
                reserve_out=base.reserve_after_sweep,
                whatif_reserve_out=scenario.reserve_after_sweep,
                members=tuple(members),
            )
        )
    return WhatIf(
        pool=pool,
        commission_bps=commission_bps,
        rates=rates,
        epochs=tuple(compared),
        members=tuple(MemberTotal(m, *t) for m, t in sorted(totals.items())),
    )


def what_if(
    session: Session,
    *,
    pool: str | None = None,
    commission_bps: int | None = None,
    rates: TierRates | None = None,
) -> WhatIf:
    """Load the pool's recorded epochs from the indexer database and replay them."""
    pool = only_pool(session, pool)
    epochs = load_epochs(session, pool)
    if not epochs:
        raise WhatIfError(
            "no finalized epoch is indexed for this pool yet",
            "index the pool again once an epoch has been finalized (cocoon-pool index)",
        )
    return replay(pool, epochs, commission_bps=commission_bps, rates=rates)
