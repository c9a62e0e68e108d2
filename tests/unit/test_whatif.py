"""The what-if replay on made-up recorded epochs, against the reference model."""

from __future__ import annotations

import pytest

from cocoon_pool import economics as econ
from cocoon_pool.errors import UsageError
from cocoon_pool.whatif import (
    RecordedEpoch,
    RecordedReport,
    TierRates,
    WhatIfError,
    csv_text,
    replay,
    split_penalty,
    tier_label,
)

METRICS = (
    ("a", econ.MemberMetrics(running_seconds=600_000, gpu_score=1000, uptime_bps=9900, outages=0)),
    ("b", econ.MemberMetrics(running_seconds=500_000, gpu_score=900, uptime_bps=9000, outages=1)),
    ("c", econ.MemberMetrics(running_seconds=80_000, gpu_score=200, uptime_bps=7000, outages=5)),
)


def recorded(received: int, bps: int = 1000, reserve_in: int = 0, epoch: int = 1) -> RecordedEpoch:
    """An epoch as the chain would have settled it (the model with ``bps``)."""
    result = econ.simulate_epoch(received, bps, reserve_in, [m for _, m in METRICS])
    reports = tuple(
        RecordedReport(name, s.contribution, s.penalty_bps, s.bonus_bps)
        for (name, _), s in zip(METRICS, result.shares, strict=True)
    )
    return RecordedEpoch(
        epoch=epoch,
        received=received,
        commission=result.commission,
        reserve_in=reserve_in,
        dust=result.dust,
        reports=reports,
        settled={name: s.payout for (name, _), s in zip(METRICS, result.shares, strict=True)},
    )


def test_baseline_reproduces_the_settled_shares() -> None:
    epochs = [recorded(120 * 10**9, 1100, 7), recorded(45 * 10**9 + 1, 1100, 9, epoch=2)]
    result = replay("pool", epochs)
    assert result.baseline_matches
    for e in result.epochs:
        assert e.commission_bps == e.whatif_commission_bps == 1100
        for m in e.members:
            assert m.actual == m.baseline == m.whatif and m.difference == 0
    assert [t.difference for t in result.members] == [0, 0, 0]


def test_commission_change_equals_the_model_with_the_reserve_carried() -> None:
    members = [m for _, m in METRICS]
    base1 = econ.simulate_epoch(120 * 10**9, 1000, 5, members)
    base2 = econ.simulate_epoch(80 * 10**9, 1000, base1.reserve_after_sweep, members)
    first = recorded(120 * 10**9, reserve_in=5)
    second = recorded(80 * 10**9, reserve_in=base1.reserve_after_sweep, epoch=2)
    result = replay("pool", [first, second], commission_bps=1500)
    one = econ.simulate_epoch(first.received, 1500, 5, members)
    two = econ.simulate_epoch(second.received, 1500, one.reserve_after_sweep, members)
    assert [m.whatif for m in result.epochs[0].members] == list(one.payouts)
    assert [m.whatif for m in result.epochs[1].members] == list(two.payouts)
    assert result.commission == (
        base1.commission + base2.commission,
        one.commission + two.commission,
    )
    assert result.members[0].whatif == one.payouts[0] + two.payouts[0]
    assert all(t.difference < 0 for t in result.members)  # a higher commission pays less


def test_tier_rates_reprice_each_report() -> None:
    rates = TierRates(
        bonus_bps=2000, minor_penalty_bps=100, major_penalty_bps=3000, outage_penalty_bps=500
    )
    assert rates.reprice(0, 1000) == (0, 2000)
    assert rates.reprice(500, 0) == (100, 0)
    assert rates.reprice(1500, 0) == (600, 0)
    assert rates.reprice(3000, 0) == (3500, 0)
    assert rates.reprice(1000, 1000) == (500, 2000)
    assert TierRates().is_default and not rates.is_default
    result = replay("pool", [recorded(10**11)], rates=rates)
    epoch = recorded(10**11)
    terms = [(r.contribution, *rates.reprice(r.penalty_bps, r.bonus_bps)) for r in epoch.reports]
    aggr = econ.EpochAggregates()
    for c, p, b in terms:
        aggr = econ.add_member(aggr, c, p, b)
    settlement = econ.settle_epoch(epoch.received, 1000, 0, aggr)
    expected = [econ.member_payout(settlement, aggr, c, p, b).payout for c, p, b in terms]
    assert [m.whatif for m in result.epochs[0].members] == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bonus_bps": -1}, "bonus bps = -1 is outside 0..10000"),
        ({"outage_penalty_bps": True}, "outage penalty bps = True"),
        ({"major_penalty_bps": 9500}, "can reach 10500 bps"),
    ],
)
def test_tier_rates_bounds(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        TierRates(**kwargs)


def test_labels_and_bad_records() -> None:
    assert tier_label(0, 1000) == "bonus"
    assert tier_label(0, 0) == "standard"
    assert tier_label(1500, 0) == "minor-penalty+outages"
    assert tier_label(2000, 0) == "major-penalty"
    assert split_penalty(3000) == (2000, True)
    with pytest.raises(WhatIfError, match="700 bps matches no tier"):
        split_penalty(700)
    odd = RecordedEpoch(epoch=1, received=10**9, commission=1, reserve_in=0, dust=0, reports=())
    with pytest.raises(WhatIfError, match="matches no allowed rate"):
        replay("pool", [odd])
    with pytest.raises(UsageError, match=r"outside 500\.\.1500"):
        replay("pool", [], commission_bps=499)


def test_empty_epoch_and_unsettled_shares() -> None:
    # No income: any rate fits; no report: the net joins the reserve.
    empty = RecordedEpoch(epoch=1, received=0, commission=0, reserve_in=3, dust=0, reports=())
    pending = recorded(10**11, epoch=2)
    pending = RecordedEpoch(
        epoch=2,
        received=pending.received,
        commission=pending.commission,
        reserve_in=3,
        dust=0,
        reports=pending.reports,
        settled={},
    )
    result = replay("pool", [empty, pending], commission_bps=600)
    assert result.epochs[0].members == () and result.epochs[0].whatif_reserve_out == 3
    assert all(m.actual is None for m in result.epochs[1].members)
    assert [t.unsettled for t in result.members] == [1, 1, 1]
    assert result.baseline_matches
    data = result.to_json()
    assert data["scenario"] == {
        "commission_bps": 600,
        "bonus_bps": 1000,
        "minor_penalty_bps": 500,
        "major_penalty_bps": 2000,
        "outage_penalty_bps": 1000,
    }
    lines = csv_text(result).splitlines()
    assert lines[0] == (
        "epoch,member,tier,contribution,actual_nanoton,baseline_nanoton,whatif_nanoton,"
        "difference_nanoton"
    )
    assert len(lines) == 4 and lines[1].split(",")[4] == ""


def test_a_wrong_settled_share_is_reported() -> None:
    epoch = recorded(10**11)
    wrong = RecordedEpoch(
        epoch=1,
        received=epoch.received,
        commission=epoch.commission,
        reserve_in=0,
        dust=0,
        reports=epoch.reports,
        settled={**epoch.settled, "a": epoch.settled["a"] + 1},
    )
    assert not replay("pool", [wrong]).baseline_matches


def test_unreadable_database() -> None:
    from sqlalchemy import create_engine  # noqa: PLC0415
    from sqlalchemy.orm import Session  # noqa: PLC0415

    from cocoon_pool.whatif import load_epochs, only_pool, what_if  # noqa: PLC0415

    engine = create_engine("sqlite://")  # no tables at all
    with Session(engine) as session:
        with pytest.raises(WhatIfError, match="cannot read the indexer database"):
            only_pool(session, None)
        with pytest.raises(WhatIfError, match="cannot read the indexer database"):
            load_epochs(session, "0:" + "00" * 32)
        with pytest.raises(WhatIfError, match="cannot read"):
            what_if(session)
