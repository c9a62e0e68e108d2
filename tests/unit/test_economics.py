"""Tests of the integer reward model (DESIGN.md section 3) against the shared vectors and
properties that must hold for every input."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cocoon_pool.economics import (
    BONUS_BPS,
    BPS,
    COMMISSION_DEFAULT_BPS,
    COMMISSION_MAX_BPS,
    COMMISSION_MIN_BPS,
    MAJOR_PENALTY_BPS,
    MAX_CONTRIBUTION,
    MAX_GPU_SCORE,
    MAX_NANOTONS,
    MAX_OUTAGES,
    MAX_RUNNING_SECONDS,
    MINOR_PENALTY_BPS,
    OUTAGE_PENALTY_BPS,
    EpochAggregates,
    MemberMetrics,
    add_member,
    aggregate,
    bonus_bps,
    check_conservation,
    contribution,
    member_payout,
    penalty_bps,
    settle_epoch,
    simulate_epoch,
    tier,
)
from cocoon_pool.errors import EconomicsError

# --- shared vectors --------------------------------------------------------------------------

VECTORS_NAME = "economics-vectors.json"


# A copy lives in the repository so a bare clone runs all vectors; when the brief's own
# folder is beside the checkout, the copy must still be identical to it.
VECTORS_COPY = Path(__file__).resolve().parents[1] / "fixtures" / VECTORS_NAME


def _shared_vectors_path() -> Path:
    override = os.environ.get("COCOON_POOL_SHARED_DIR")
    shared = Path(override) if override else Path(__file__).resolve().parents[3] / "shared"
    return shared / VECTORS_NAME


def _vector_params() -> list[Any]:
    cases = json.loads(VECTORS_COPY.read_text(encoding="utf-8"))["cases"]
    return [
        pytest.param(case, id=f"case{i:02d}-{len(case['members'])}m")
        for i, case in enumerate(cases)
    ]


def test_vector_copy_matches_the_brief() -> None:
    shared = _shared_vectors_path()
    if not shared.is_file():
        pytest.skip(f"{VECTORS_NAME} of the brief not found at {shared}")
    assert json.loads(shared.read_text(encoding="utf-8")) == json.loads(
        VECTORS_COPY.read_text(encoding="utf-8")
    )


def _members(raw: list[dict[str, int]]) -> list[MemberMetrics]:
    return [MemberMetrics(m["t"], m["g"], m["u"], m["o"]) for m in raw]


@pytest.mark.parametrize("case", _vector_params())
def test_shared_vector(case: dict[str, Any]) -> None:
    result = simulate_epoch(
        case["received"], case["commission_bps"], case["reserve_in"], _members(case["members"])
    )
    expected = case["expected"]
    assert result.commission == expected["commission"]
    assert list(result.payouts) == expected["payouts"]
    assert result.reserve_out == expected["reserve_out"]
    assert result.dust == expected["dust"]
    result.check_conservation()


# --- tiers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uptime", "p", "b", "name"),
    [
        (0, MAJOR_PENALTY_BPS, 0, "major-penalty"),
        (7999, MAJOR_PENALTY_BPS, 0, "major-penalty"),
        (8000, MINOR_PENALTY_BPS, 0, "minor-penalty"),
        (9500, MINOR_PENALTY_BPS, 0, "minor-penalty"),
        (9501, 0, BONUS_BPS, "bonus"),
        (10000, 0, BONUS_BPS, "bonus"),
    ],
)
@pytest.mark.parametrize("outages", [0, 3, 4, MAX_OUTAGES])
def test_tier_boundaries(uptime: int, p: int, b: int, name: str, outages: int) -> None:
    m = MemberMetrics(running_seconds=3600, gpu_score=10, uptime_bps=uptime, outages=outages)
    outage_hit = outages > 3
    assert penalty_bps(m) == p + (OUTAGE_PENALTY_BPS if outage_hit else 0)
    assert bonus_bps(m) == b
    t = tier(m)
    assert t.name == name
    assert t.outage_penalty is outage_hit
    assert t.label == (f"{name}+outages" if outage_hit else name)


def test_contribution_formula() -> None:
    assert contribution(MemberMetrics(604800, 100, 9000, 0)) == 604800 * 100 * 9000 // BPS
    assert contribution(MemberMetrics(3, 7, 3333, 0)) == 6  # 69993 // 10000, floored
    top = MemberMetrics(MAX_RUNNING_SECONDS, MAX_GPU_SCORE, BPS, MAX_OUTAGES)
    assert contribution(top) == MAX_CONTRIBUTION < 2**52


def test_worked_example_from_docs() -> None:
    """The numbers printed in docs/economics.md."""
    members = [
        MemberMetrics(604_800, 100, 9_900, 0),  # bonus
        MemberMetrics(604_800, 100, 9_000, 0),  # minor penalty
        MemberMetrics(302_400, 100, 7_000, 5),  # major penalty + outages
    ]
    r = simulate_epoch(10_000_000_000, COMMISSION_DEFAULT_BPS, 1_000, members)
    s = r.settlement
    assert r.aggregates == EpochAggregates(135_475_200, 90_720_000_000, 59_875_200_000, 3)
    assert (s.commission, s.net) == (1_000_000_000, 9_000_000_000)
    assert (s.penalty_pool, s.bonus_demand, s.bonus_paid) == (
        602_678_571,
        397_767_857,
        397_767_857,
    )
    assert s.claimable == 8_795_089_286
    assert [(x.base, x.penalty, x.bonus, x.payout) for x in r.shares] == [
        (3_977_678_571, 0, 397_767_857, 4_375_446_428),
        (3_616_071_428, 180_803_571, 0, 3_435_267_857),
        (1_406_250_000, 421_875_000, 0, 984_375_000),
    ]
    assert [tier(m).label for m in members] == [
        "bonus",
        "minor-penalty",
        "major-penalty+outages",
    ]
    assert r.dust == 1
    assert (r.reserve_out, r.reserve_after_sweep) == (204_911_714, 204_911_715)
    r.check_conservation()


def test_zero_contribution_sends_net_to_reserve() -> None:
    for members in ([], [MemberMetrics(0, 100, 10000, 0), MemberMetrics(3600, 0, 9000, 9)]):
        r = simulate_epoch(1_000_000, 1000, 77, members)
        assert r.settlement.claimable == 0
        assert r.payouts == (0,) * len(members)
        assert r.dust == 0
        assert r.reserve_out == 77 + 900_000
        r.check_conservation()


def test_shortfall_scales_bonus_pro_rata() -> None:
    # Everyone earns the bonus, nobody is penalised and the reserve is small: Bon == reserve.
    members = [MemberMetrics(100, 1, 10000, 0), MemberMetrics(300, 1, 9600, 0)]
    r = simulate_epoch(10_000_000, 1000, 5_000, members)
    s = r.settlement
    assert s.penalty_pool == 0
    assert s.bonus_demand > s.reserve_in
    assert s.bonus_paid == 5_000
    assert r.reserve_out == 0
    assert sum(x.bonus for x in r.shares) <= 5_000
    r.check_conservation()


# --- properties ------------------------------------------------------------------------------

FAST = settings(max_examples=200, deadline=None)

members_st = st.builds(
    MemberMetrics,
    running_seconds=st.one_of(
        st.integers(0, 10), st.integers(0, 604_800), st.integers(0, MAX_RUNNING_SECONDS)
    ),
    gpu_score=st.one_of(st.integers(0, 10), st.integers(0, MAX_GPU_SCORE)),
    uptime_bps=st.one_of(st.sampled_from([0, 7999, 8000, 9500, 9501, 10000]), st.integers(0, BPS)),
    outages=st.one_of(st.integers(0, 6), st.integers(0, MAX_OUTAGES)),
)
member_lists = st.lists(members_st, min_size=0, max_size=12)
amounts = st.one_of(
    st.integers(0, 1_000),
    st.integers(0, 10**15),
    st.integers(0, MAX_NANOTONS),
)
commissions = st.integers(COMMISSION_MIN_BPS, COMMISSION_MAX_BPS)


@FAST
@given(received=amounts, k=commissions, reserve_in=amounts, members=member_lists)
def test_epoch_invariants(
    received: int, k: int, reserve_in: int, members: list[MemberMetrics]
) -> None:
    r = simulate_epoch(received, k, reserve_in, members)
    s = r.settlement
    # conservation to the nanoton
    r.check_conservation()
    assert received == r.commission + sum(r.payouts) + (r.reserve_out - reserve_in) + r.dust
    # dust bound, payouts bounded by what is claimable
    assert 0 <= r.dust <= 2 * len(members)
    assert all(p >= 0 for p in r.payouts)
    assert sum(r.payouts) <= s.claimable
    # bonuses are funded by penalties and the reserve only
    assert s.bonus_paid <= s.penalty_pool + reserve_in
    assert sum(x.bonus for x in r.shares) <= s.bonus_paid
    # the reserve never goes negative
    assert r.reserve_out >= 0
    assert r.reserve_after_sweep == r.reserve_out + r.dust
    # display breakdown adds up
    for x in r.shares:
        assert x.payout == x.base - x.penalty + x.bonus
        assert x.penalty >= 0


@FAST
@given(members=member_lists)
def test_incremental_aggregates_equal_batch(members: list[MemberMetrics]) -> None:
    aggr = EpochAggregates()
    for m in members:
        aggr = add_member(aggr, contribution(m), penalty_bps(m), bonus_bps(m))
    cs = [contribution(m) for m in members]
    batch = EpochAggregates(
        contribution_sum=sum(cs),
        penalty_weight=sum(c * penalty_bps(m) for c, m in zip(cs, members, strict=True)),
        bonus_weight=sum(c * bonus_bps(m) for c, m in zip(cs, members, strict=True)),
        members=len(members),
    )
    assert aggr == batch == aggregate(members) == aggregate(members[::-1])


@FAST
@given(
    received=amounts,
    k=commissions,
    reserve_in=amounts,
    members=st.lists(members_st, min_size=1, max_size=12),
    data=st.data(),
)
def test_payout_independent_of_order(
    received: int, k: int, reserve_in: int, members: list[MemberMetrics], data: st.DataObject
) -> None:
    order = data.draw(st.permutations(range(len(members))))
    a = simulate_epoch(received, k, reserve_in, members)
    b = simulate_epoch(received, k, reserve_in, [members[i] for i in order])
    assert b.settlement == a.settlement
    assert b.dust == a.dust
    for pos, i in enumerate(order):
        assert b.shares[pos] == a.shares[i]


@FAST
@given(
    received=amounts,
    k=commissions,
    reserve_in=amounts,
    members=st.lists(
        st.builds(
            MemberMetrics,
            running_seconds=st.just(0),
            gpu_score=st.integers(0, MAX_GPU_SCORE),
            uptime_bps=st.integers(0, BPS),
            outages=st.integers(0, MAX_OUTAGES),
        ),
        max_size=5,
    ),
)
def test_zero_contribution_property(
    received: int, k: int, reserve_in: int, members: list[MemberMetrics]
) -> None:
    r = simulate_epoch(received, k, reserve_in, members)
    assert r.reserve_out == reserve_in + r.settlement.net
    assert r.payouts == (0,) * len(members)
    assert r.dust == 0
    assert r.settlement.claimable == 0


# --- invalid inputs --------------------------------------------------------------------------


def _assert_hinted(exc: pytest.ExceptionInfo[EconomicsError]) -> None:
    assert exc.value.hint.strip()
    assert exc.value.message.strip()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"running_seconds": -1},
        {"running_seconds": MAX_RUNNING_SECONDS + 1},
        {"gpu_score": -1},
        {"gpu_score": MAX_GPU_SCORE + 1},
        {"uptime_bps": -1},
        {"uptime_bps": BPS + 1},
        {"outages": -1},
        {"outages": MAX_OUTAGES + 1},
        {"uptime_bps": 9500.0},
        {"gpu_score": True},
        {"running_seconds": "60"},
    ],
    ids=lambda kw: "-".join(f"{k}={v!r}" for k, v in kw.items()),
)
def test_invalid_member_metrics(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "running_seconds": 60,
        "gpu_score": 1,
        "uptime_bps": 9000,
        "outages": 0,
    }
    fields.update(kwargs)
    with pytest.raises(EconomicsError) as exc:
        MemberMetrics(**fields)  # type: ignore[arg-type]
    _assert_hinted(exc)


def test_running_seconds_bounded_by_epoch() -> None:
    m = MemberMetrics(604_801, 1, 10000, 0)
    with pytest.raises(EconomicsError) as exc:
        simulate_epoch(1000, 1000, 0, [m], epoch_seconds=604_800)
    _assert_hinted(exc)
    with pytest.raises(EconomicsError) as exc:
        m.check_epoch(0)
    _assert_hinted(exc)
    simulate_epoch(1000, 1000, 0, [m], epoch_seconds=604_801).check_conservation()


@pytest.mark.parametrize(
    ("received", "k", "reserve_in"),
    [
        (1000, COMMISSION_MIN_BPS - 1, 0),
        (1000, COMMISSION_MAX_BPS + 1, 0),
        (1000, 0, 0),
        (-1, 1000, 0),
        (1000, 1000, -1),
        (MAX_NANOTONS + 1, 1000, 0),
        (1000.0, 1000, 0),
        (1000, 1000, None),
    ],
)
def test_invalid_epoch_inputs(received: object, k: object, reserve_in: object) -> None:
    with pytest.raises(EconomicsError) as exc:
        simulate_epoch(received, k, reserve_in, [MemberMetrics(1, 1, 1, 0)])  # type: ignore[arg-type]
    _assert_hinted(exc)


@pytest.mark.parametrize(
    ("c", "p", "b"),
    [(-1, 0, 0), (MAX_CONTRIBUTION + 1, 0, 0), (1, -500, 0), (1, BPS + 1, 0), (1, 0, -1)],
)
def test_invalid_member_terms(c: int, p: int, b: int) -> None:
    with pytest.raises(EconomicsError) as exc:
        add_member(EpochAggregates(), c, p, b)
    _assert_hinted(exc)


def test_member_payout_rejects_foreign_terms() -> None:
    aggr = add_member(EpochAggregates(), 100, MINOR_PENALTY_BPS, 0)
    s = settle_epoch(1_000, 1000, 0, aggr)
    assert member_payout(s, aggr, 100, MINOR_PENALTY_BPS, 0).payout == 855
    with pytest.raises(EconomicsError) as exc:
        member_payout(s, aggr, 101, MINOR_PENALTY_BPS, 0)
    _assert_hinted(exc)
    with pytest.raises(EconomicsError) as exc:
        member_payout(s, aggr, 100, 0, BONUS_BPS)
    _assert_hinted(exc)


def test_check_conservation_detects_a_lost_nanoton() -> None:
    check_conservation(
        received=100, commission=10, payouts=[80], reserve_in=5, reserve_out=14, dust=1
    )
    with pytest.raises(EconomicsError) as exc:
        check_conservation(
            received=100, commission=10, payouts=[80], reserve_in=5, reserve_out=14, dust=0
        )
    _assert_hinted(exc)
