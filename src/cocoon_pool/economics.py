"""Exact integer reference model of the pool's reward rules (DESIGN.md section 3).

Everything here is integer arithmetic on nanotons; ``//`` is floor division and no float is
ever produced. The contracts implement the same rules and must agree with this model to the
nanoton (see ``shared/economics-vectors.json``).

Flow of one epoch::

    aggr = EpochAggregates()                 # empty
    for each report: aggr = add_member(aggr, contribution(m), penalty_bps(m), bonus_bps(m))
    s = settle_epoch(received, commission_bps, reserve_in, aggr)   # aggregates frozen
    share = member_payout(s, aggr, c_i, P_i, B_i)                    # O(1) per claim

or all at once with :func:`simulate_epoch`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from cocoon_pool.errors import EconomicsError

# --- rule constants (basis points: 10_000 bps == 100 %) -------------------------------------

BPS = 10_000
UPTIME_BONUS_THRESHOLD_BPS = 9500
"""Uptime strictly above this earns the bonus; at or below it (and >= the floor) a minor penalty."""
UPTIME_MINOR_PENALTY_FLOOR_BPS = 8000
"""Uptime strictly below this is a major penalty."""
MINOR_PENALTY_BPS = 500
MAJOR_PENALTY_BPS = 2000
OUTAGE_PENALTY_BPS = 1000
MAX_OUTAGES_WITHOUT_PENALTY = 3
BONUS_BPS = 1000

COMMISSION_MIN_BPS = 500
COMMISSION_MAX_BPS = 1500
COMMISSION_DEFAULT_BPS = 1000

# --- input bounds ----------------------------------------------------------------------------

MAX_RUNNING_SECONDS = 2**32 - 1
"""Bound for ``t`` when no epoch length is given (fits uint32)."""
MAX_GPU_SCORE = 1_000_000
MAX_UPTIME_BPS = BPS
MAX_OUTAGES = 65_535
MAX_NANOTONS = 2**120 - 1
"""Largest amount a TON ``Coins`` field (VarUInteger 16) can hold."""
MAX_CONTRIBUTION = MAX_RUNNING_SECONDS * MAX_GPU_SCORE * MAX_UPTIME_BPS // BPS
"""Largest possible ``c_i`` (< 2**52)."""
MAX_PENALTY_BPS = MAJOR_PENALTY_BPS + OUTAGE_PENALTY_BPS


def _require_int(name: str, value: object, low: int, high: int, hint: str) -> int:
    """Return ``value`` if it is a plain int within ``[low, high]``, else raise EconomicsError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise EconomicsError(
            f"{name} must be an integer, got {type(value).__name__} {value!r}",
            f"pass {name} as a whole number (amounts in nanotons, rates in basis points)",
        )
    if not low <= value <= high:
        raise EconomicsError(f"{name} = {value} is outside {low}..{high}", hint)
    return value


# --- per member ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberMetrics:
    """What the oracle reports for one participant in one epoch.

    ``running_seconds`` (t), ``gpu_score`` (g), ``uptime_bps`` (u, 0..10000) and ``outages`` (o).
    The static bounds are checked on construction; :meth:`check_epoch` additionally bounds
    ``t`` by a concrete epoch length.
    """

    running_seconds: int
    gpu_score: int
    uptime_bps: int
    outages: int

    def __post_init__(self) -> None:
        _require_int(
            "running_seconds",
            self.running_seconds,
            0,
            MAX_RUNNING_SECONDS,
            f"running seconds must be between 0 and {MAX_RUNNING_SECONDS} (uint32)",
        )
        _require_int(
            "gpu_score",
            self.gpu_score,
            0,
            MAX_GPU_SCORE,
            f"the GPU score is bounded to 0..{MAX_GPU_SCORE}; clamp the oracle's value",
        )
        _require_int(
            "uptime_bps",
            self.uptime_bps,
            0,
            MAX_UPTIME_BPS,
            "uptime is in basis points: 0 (never up) to 10000 (always up)",
        )
        _require_int(
            "outages",
            self.outages,
            0,
            MAX_OUTAGES,
            f"the outage count must be between 0 and {MAX_OUTAGES} (uint16)",
        )

    def check_epoch(self, epoch_seconds: int | None) -> None:
        """Raise EconomicsError if ``running_seconds`` exceeds ``epoch_seconds`` (when given)."""
        if epoch_seconds is None:
            return
        _require_int(
            "epoch_seconds",
            epoch_seconds,
            1,
            MAX_RUNNING_SECONDS,
            f"the epoch length must be between 1 and {MAX_RUNNING_SECONDS} seconds",
        )
        _require_int(
            "running_seconds",
            self.running_seconds,
            0,
            epoch_seconds,
            "a member cannot run longer than the epoch; check the oracle's report",
        )


def contribution(m: MemberMetrics) -> int:
    """``c = t * g * u // 10000``."""
    return m.running_seconds * m.gpu_score * m.uptime_bps // BPS


def uptime_penalty_bps(m: MemberMetrics) -> int:
    """The uptime part of the penalty: 500 if 8000 <= u <= 9500, 2000 if u < 8000, else 0."""
    if m.uptime_bps < UPTIME_MINOR_PENALTY_FLOOR_BPS:
        return MAJOR_PENALTY_BPS
    if m.uptime_bps <= UPTIME_BONUS_THRESHOLD_BPS:
        return MINOR_PENALTY_BPS
    return 0


def has_outage_penalty(m: MemberMetrics) -> bool:
    """True when the member had more than ``MAX_OUTAGES_WITHOUT_PENALTY`` outages."""
    return m.outages > MAX_OUTAGES_WITHOUT_PENALTY


def penalty_bps(m: MemberMetrics) -> int:
    """``P``: the uptime penalty plus 1000 if ``o > 3``."""
    return uptime_penalty_bps(m) + (OUTAGE_PENALTY_BPS if has_outage_penalty(m) else 0)


def bonus_bps(m: MemberMetrics) -> int:
    """``B``: 1000 if ``u > 9500``, else 0."""
    return BONUS_BPS if m.uptime_bps > UPTIME_BONUS_THRESHOLD_BPS else 0


@dataclass(frozen=True)
class Tier:
    """Display classification of a member: ``name`` plus whether outages were penalised.

    ``name`` is one of "bonus", "standard", "minor-penalty", "major-penalty". With the current
    thresholds every uptime falls into bonus, minor or major; "standard" (no bonus, no uptime
    penalty) is kept for completeness.
    """

    name: str
    outage_penalty: bool

    @property
    def label(self) -> str:
        """Short text for tables, e.g. ``"minor-penalty+outages"``."""
        return f"{self.name}+outages" if self.outage_penalty else self.name


TIER_NAMES = ("bonus", "standard", "minor-penalty", "major-penalty")


def tier(m: MemberMetrics) -> Tier:
    """Classify a member for display."""
    uptime_p = uptime_penalty_bps(m)
    if bonus_bps(m) > 0:
        name = "bonus"
    elif uptime_p >= MAJOR_PENALTY_BPS:
        name = "major-penalty"
    elif uptime_p > 0:
        name = "minor-penalty"
    else:
        name = "standard"
    return Tier(name=name, outage_penalty=has_outage_penalty(m))


# --- per epoch -------------------------------------------------------------------------------


@dataclass(frozen=True)
class EpochAggregates:
    """Running sums over the epoch's reports: ``C``, ``CP``, ``CB`` and the member count."""

    contribution_sum: int = 0
    """``C = sum(c_i)``"""
    penalty_weight: int = 0
    """``CP = sum(c_i * P_i)``"""
    bonus_weight: int = 0
    """``CB = sum(c_i * B_i)``"""
    members: int = 0


def _check_member_terms(c: int, p: int, b: int) -> None:
    _require_int(
        "contribution",
        c,
        0,
        MAX_CONTRIBUTION,
        f"a contribution is t*g*u//10000 and lies in 0..{MAX_CONTRIBUTION}",
    )
    _require_int(
        "penalty_bps", p, 0, BPS, "a penalty is in basis points (0..10000); use penalty_bps()"
    )
    _require_int("bonus_bps", b, 0, BPS, "a bonus is in basis points (0..10000); use bonus_bps()")


def add_member(aggr: EpochAggregates, c: int, p: int, b: int) -> EpochAggregates:
    """Return ``aggr`` with one more report (contribution ``c``, penalty ``p``, bonus ``b``)."""
    _check_member_terms(c, p, b)
    return EpochAggregates(
        contribution_sum=aggr.contribution_sum + c,
        penalty_weight=aggr.penalty_weight + c * p,
        bonus_weight=aggr.bonus_weight + c * b,
        members=aggr.members + 1,
    )


def aggregate(members: Sequence[MemberMetrics]) -> EpochAggregates:
    """Batch form of :func:`add_member` over ``members``."""
    aggr = EpochAggregates()
    for m in members:
        aggr = add_member(aggr, contribution(m), penalty_bps(m), bonus_bps(m))
    return aggr


@dataclass(frozen=True)
class EpochSettlement:
    """The frozen result of closing an epoch; all amounts in nanotons."""

    received: int
    """``R``: all income of the epoch window."""
    commission_bps: int
    commission: int
    """``K = R * commission_bps // 10000``"""
    net: int
    """``N = R - K``"""
    reserve_in: int
    penalty_pool: int
    """``Pen = N * CP // (C * 10000)`` (0 when C == 0)"""
    bonus_demand: int
    """``D = N * CB // (C * 10000)`` (0 when C == 0)"""
    bonus_paid: int
    """``Bon = min(D, Pen + reserve_in)``"""
    claimable: int
    """``N - Pen + Bon`` when C > 0, else 0: the most members can claim in total."""
    reserve_out: int
    """``reserve_in + Pen - Bon`` (C > 0) or ``reserve_in + N`` (C == 0), before the dust sweep."""
    wind_down: bool = False
    """A winding-down pool (after ClosePool) with C > 0: ``N + reserve_in`` is paid by
    contribution alone (no penalty, no bonus) and ``reserve_out`` is 0."""


def settle_epoch(
    received: int,
    commission_bps: int,
    reserve_in: int,
    aggregates: EpochAggregates,
    *,
    wind_down: bool = False,
) -> EpochSettlement:
    """Close the epoch: commission, net, penalty pool, bonus and the reserve carried on.

    ``wind_down``: the pool is closing, so the reserve has no later epoch to fund bonuses in
    and leaves with this one (see :attr:`EpochSettlement.wind_down`).
    """
    _require_int(
        "received",
        received,
        0,
        MAX_NANOTONS,
        "income is a non-negative amount of nanotons that fits a Coins field (< 2**120)",
    )
    _require_int(
        "commission_bps",
        commission_bps,
        COMMISSION_MIN_BPS,
        COMMISSION_MAX_BPS,
        f"the commission must be {COMMISSION_MIN_BPS}..{COMMISSION_MAX_BPS} bps "
        f"(default {COMMISSION_DEFAULT_BPS})",
    )
    _require_int(
        "reserve_in",
        reserve_in,
        0,
        MAX_NANOTONS,
        "the carried reserve is a non-negative amount of nanotons (< 2**120)",
    )
    c_sum = aggregates.contribution_sum
    if c_sum < 0 or aggregates.penalty_weight < 0 or aggregates.bonus_weight < 0:
        raise EconomicsError(
            "epoch aggregates are negative", "build aggregates with add_member() or aggregate()"
        )
    commission = received * commission_bps // BPS
    net = received - commission
    if c_sum == 0 or wind_down:
        # Neither has a penalty or bonus pool. Nobody contributed: N joins the reserve.
        # Winding down (with contributors): N and the whole reserve are paid by contribution.
        flat = c_sum > 0
        return EpochSettlement(
            received=received,
            commission_bps=commission_bps,
            commission=commission,
            net=net,
            reserve_in=reserve_in,
            penalty_pool=0,
            bonus_demand=0,
            bonus_paid=0,
            claimable=net + reserve_in if flat else 0,
            reserve_out=0 if flat else reserve_in + net,
            wind_down=flat,
        )
    denominator = c_sum * BPS
    penalty_pool = net * aggregates.penalty_weight // denominator
    bonus_demand = net * aggregates.bonus_weight // denominator
    bonus_paid = min(bonus_demand, penalty_pool + reserve_in)
    return EpochSettlement(
        received=received,
        commission_bps=commission_bps,
        commission=commission,
        net=net,
        reserve_in=reserve_in,
        penalty_pool=penalty_pool,
        bonus_demand=bonus_demand,
        bonus_paid=bonus_paid,
        claimable=net - penalty_pool + bonus_paid,
        reserve_out=reserve_in + penalty_pool - bonus_paid,
    )


@dataclass(frozen=True)
class MemberShare:
    """One member's payout and its breakdown for display (nanotons)."""

    contribution: int
    penalty_bps: int
    bonus_bps: int
    base: int
    """``N * c // C``: the share before penalty and bonus."""
    penalty: int
    """``base - first`` where ``first = N * c * (10000 - P) // (C * 10000)``."""
    bonus: int
    """``Bon * c * B // CB`` (0 when CB == 0)."""
    payout: int
    """``first + bonus``"""


def member_payout(
    settlement: EpochSettlement, aggregates: EpochAggregates, c: int, p: int, b: int
) -> MemberShare:
    """O(1) payout of one member from the frozen aggregates (no loop over members)."""
    _check_member_terms(c, p, b)
    c_sum = aggregates.contribution_sum
    if c > c_sum or c * p > aggregates.penalty_weight or c * b > aggregates.bonus_weight:
        raise EconomicsError(
            "member terms are not part of these aggregates",
            "pass the same c, P and B that were added to the epoch's aggregates",
        )
    if c_sum == 0:
        return MemberShare(c, p, b, base=0, penalty=0, bonus=0, payout=0)
    if settlement.wind_down:
        flat = settlement.claimable * c // c_sum
        return MemberShare(c, p, b, base=flat, penalty=0, bonus=0, payout=flat)
    net = settlement.net
    base = net * c // c_sum
    first = net * c * (BPS - p) // (c_sum * BPS)
    cb = aggregates.bonus_weight
    bonus = settlement.bonus_paid * c * b // cb if cb > 0 else 0
    return MemberShare(
        contribution=c,
        penalty_bps=p,
        bonus_bps=b,
        base=base,
        penalty=base - first,
        bonus=bonus,
        payout=first + bonus,
    )


# --- whole epoch -----------------------------------------------------------------------------


def check_conservation(
    *,
    received: int,
    commission: int,
    payouts: Sequence[int],
    reserve_in: int,
    reserve_out: int,
    dust: int,
) -> None:
    """Raise EconomicsError unless ``received == commission + sum(payouts) + dReserve + dust``.

    ``reserve_out`` is the reserve before the dust sweep.
    """
    accounted = commission + sum(payouts) + (reserve_out - reserve_in) + dust
    if accounted != received:
        raise EconomicsError(
            f"conservation broken: received {received} != accounted {accounted} "
            f"(commission {commission}, paid {sum(payouts)}, "
            f"reserve {reserve_in} -> {reserve_out}, dust {dust})",
            "a payout formula or aggregate diverged from DESIGN.md section 3",
        )


@dataclass(frozen=True)
class EpochResult:
    """Everything one epoch produces, for tests, the CLI and the dashboard."""

    settlement: EpochSettlement
    aggregates: EpochAggregates
    shares: tuple[MemberShare, ...]
    payouts: tuple[int, ...] = field(init=False)
    dust: int = field(init=False)
    """``claimable - sum(payouts)``: rounding left over, swept into the reserve at retirement."""

    def __post_init__(self) -> None:
        payouts = tuple(s.payout for s in self.shares)
        object.__setattr__(self, "payouts", payouts)
        object.__setattr__(self, "dust", self.settlement.claimable - sum(payouts))

    @property
    def commission(self) -> int:
        return self.settlement.commission

    @property
    def reserve_out(self) -> int:
        """Reserve before the dust sweep."""
        return self.settlement.reserve_out

    @property
    def reserve_after_sweep(self) -> int:
        return self.settlement.reserve_out + self.dust

    def check_conservation(self) -> None:
        """Raise EconomicsError if this epoch does not conserve every nanoton."""
        check_conservation(
            received=self.settlement.received,
            commission=self.settlement.commission,
            payouts=self.payouts,
            reserve_in=self.settlement.reserve_in,
            reserve_out=self.settlement.reserve_out,
            dust=self.dust,
        )


def simulate_epoch(
    received: int,
    commission_bps: int,
    reserve_in: int,
    members: Sequence[MemberMetrics],
    *,
    epoch_seconds: int | None = None,
    wind_down: bool = False,
) -> EpochResult:
    """Run one whole epoch: aggregate the reports, settle, and pay every member.

    ``epoch_seconds``, when given, bounds every member's ``running_seconds``.
    """
    for m in members:
        if not isinstance(m, MemberMetrics):
            raise EconomicsError(
                f"expected MemberMetrics, got {type(m).__name__}",
                "build each member with MemberMetrics(running_seconds, gpu_score, uptime_bps, "
                "outages)",
            )
        m.check_epoch(epoch_seconds)
    terms = [(contribution(m), penalty_bps(m), bonus_bps(m)) for m in members]
    aggr = EpochAggregates()
    for c, p, b in terms:
        aggr = add_member(aggr, c, p, b)
    settlement = settle_epoch(received, commission_bps, reserve_in, aggr, wind_down=wind_down)
    shares = tuple(member_payout(settlement, aggr, c, p, b) for c, p, b in terms)
    return EpochResult(settlement=settlement, aggregates=aggr, shares=shares)
