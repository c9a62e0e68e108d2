"""Epoch metrics from samples: exact numbers for every definition in docs/oracle.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cocoon_pool.economics import MAX_GPU_SCORE, MemberMetrics
from cocoon_pool.oracle.jsonstats import StatsFormatError, parse_health, parse_jsonstats
from cocoon_pool.oracle.metrics import (
    EpochWindow,
    Observation,
    Scoring,
    count_outages,
    discarded_slots,
    epoch_metrics,
    gpu_score,
    running_seconds,
    slot_states,
    uptime_bps,
)

START = 1_000_000
HOUR = EpochWindow(epoch=7, start=START, length=3600, interval=600)


def up(
    slot: int, mtps: int = 0, gpu: str | None = "NVIDIA H100 80GB HBM3", dt: int = 0
) -> Observation:
    return Observation(START + slot * 600 + dt, True, mtps, gpu)


def down(slot: int, dt: int = 0) -> Observation:
    return Observation(START + slot * 600 + dt, False)


def test_worked_example_from_docs() -> None:
    observations = [
        up(0, 2000),
        up(1, 3000),
        down(2),  # slot 3 has no sample at all
        up(4, 4000),
        up(5, 9000),
        down(5, dt=300),  # one down sample makes the whole slot down
        up(6, 99_000),  # after the epoch: ignored
        down(-1),  # before the epoch: ignored
    ]
    result = epoch_metrics(observations, HOUR)
    assert slot_states(observations, HOUR) == [True, True, False, False, True, False]
    assert result.expected_slots == 6 and result.up_slots == 3 and result.samples == 6
    assert result.gpu.mean_mtps == 3000  # (2000 + 3000 + 4000) // 3, slot 5 excluded
    assert result.gpu.throughput_score == 300
    assert result.gpu.model == "NVIDIA H100 80GB HBM3" and result.gpu.model_score == 100_000
    assert result.metrics == MemberMetrics(
        running_seconds=1800, gpu_score=100_000, uptime_bps=5000, outages=2
    )


def test_no_samples_is_all_down() -> None:
    result = epoch_metrics([], HOUR)
    assert result.metrics == MemberMetrics(running_seconds=0, gpu_score=0, uptime_bps=0, outages=1)


def at(slot: int) -> int:
    """Start time of a poll in ``slot`` of HOUR."""
    return START + slot * 600


def test_a_discarded_slot_is_neither_up_nor_down() -> None:
    observations = [up(k, 1000) for k in (0, 1, 3, 4, 5)]  # slot 2: only a discarded poll
    counted = epoch_metrics(observations, HOUR, discarded_at=[at(2)])
    assert counted.metrics == MemberMetrics(
        running_seconds=3000, gpu_score=100_000, uptime_bps=10_000, outages=0
    )
    assert (counted.expected_slots, counted.discarded_slots, counted.counted_slots) == (6, 1, 5)
    assert counted.up_slots == 5
    # The same samples without the discard: slot 2 is missing, so down, and one outage.
    plain = epoch_metrics(observations, HOUR)
    assert plain.metrics == MemberMetrics(
        running_seconds=3000, gpu_score=100_000, uptime_bps=8333, outages=1
    )
    assert plain.discarded_slots == 0


def test_down_runs_join_across_a_discarded_slot() -> None:
    observations = [up(0), down(1), down(3), up(4), up(5)]
    result = epoch_metrics(observations, HOUR, discarded_at=[at(2) + 5])
    assert result.metrics.outages == 1  # slots 1 and 3 are one outage, not two
    assert result.metrics.uptime_bps == 6000  # 3 up of 5 counted slots
    assert result.metrics.running_seconds == 1800
    assert result.discarded_slots == 1


def test_a_counted_sample_decides_a_slot_that_also_holds_a_discarded_poll() -> None:
    observations = [up(k) for k in range(6)] + [down(2, dt=300)]
    assert discarded_slots([at(2)], observations, HOUR) == frozenset()
    result = epoch_metrics(observations, HOUR, discarded_at=[at(2)])
    assert result.discarded_slots == 0
    assert result.metrics.uptime_bps == 8333 and result.metrics.outages == 1


def test_discards_outside_the_epoch_and_a_fully_discarded_epoch() -> None:
    assert discarded_slots([at(-1), at(6), at(1)], [], HOUR) == frozenset({1})
    result = epoch_metrics([], HOUR, discarded_at=[at(k) for k in range(6)])
    # No counted slot at all: nothing was observed, so nothing is credited.
    assert result.metrics == MemberMetrics(running_seconds=0, gpu_score=0, uptime_bps=0, outages=0)
    assert (result.discarded_slots, result.counted_slots) == (6, 0)


def test_all_up() -> None:
    result = epoch_metrics([up(k, 1000) for k in range(6)], HOUR)
    assert result.metrics == MemberMetrics(
        running_seconds=3600, gpu_score=100_000, uptime_bps=10_000, outages=0
    )


def test_partial_last_slot_and_floor_of_uptime() -> None:
    window = EpochWindow(epoch=0, start=START, length=3700, interval=600)
    assert window.expected_slots == 7 and window.slot_seconds(6) == 100
    states = [True, True, True, True, True, True, False]
    assert running_seconds(states, window) == 3600
    assert uptime_bps(states) == 8571  # 6 * 10000 // 7
    assert running_seconds([True] * 7, window) == 3700  # capped by the epoch length


@pytest.mark.parametrize(
    ("states", "outages"),
    [
        ([True] * 5, 0),
        ([False] * 5, 1),
        ([False, True, False, True, False], 3),
        ([True, False, False, True, True, False], 2),
        ([], 0),
    ],
)
def test_outages_are_maximal_down_runs(states: list[bool], outages: int) -> None:
    assert count_outages(states) == outages


def test_uptime_rounds_down() -> None:
    assert uptime_bps([True, True, False]) == 6666
    assert uptime_bps([]) == 0


def test_throughput_beats_the_table_and_is_clamped() -> None:
    fast = gpu_score([up(0, 1_500_000), up(1, 1_500_001)], Scoring())
    assert fast.mean_mtps == 1_500_000 and fast.throughput_score == 150_000
    assert fast.score == 150_000
    huge = gpu_score([up(0, 20_000_000, gpu=None)], Scoring())
    assert huge.throughput_score == 2_000_000 and huge.score == MAX_GPU_SCORE


def test_gpu_table_lookup() -> None:
    scoring = Scoring()
    assert scoring.model_score("NVIDIA H100 PCIe") == 60_000  # longest key wins
    assert scoring.model_score("NVIDIA H100 NVL") == 116_000
    assert scoring.model_score("NVIDIA H200") == 143_000
    assert scoring.model_score("NVIDIA B200") == 239_000
    assert scoring.model_score("Tesla T4") == 0
    assert scoring.model_score(None) == 0
    custom = Scoring(points_per_tps=10, gpu_table=(("T4", 5_000),))
    assert gpu_score([up(0, 1000, gpu="Tesla T4")], custom).score == 5_000


def test_most_reported_model_wins_ties_alphabetically() -> None:
    obs = [up(0, gpu="NVIDIA H200"), up(1, gpu="NVIDIA B200"), up(2, gpu="NVIDIA H200")]
    assert gpu_score(obs, Scoring()).model == "NVIDIA H200"
    tie = [up(0, gpu="NVIDIA H200"), up(1, gpu="NVIDIA B200")]
    assert gpu_score(tie, Scoring()).model == "NVIDIA B200"


def test_jsonstats_parse_is_exact() -> None:
    text = (Path(__file__).parents[1] / "fixtures/jsonstats/healthy.json").read_text()
    stats = parse_jsonstats(text)
    assert stats.tokens_total == 4_803_000
    assert stats.throughput_mtps == 2_057_612  # floor(1234567.5 * 1000 / 600)
    assert stats.earned_tokens == 4_750_000
    assert (stats.queries_total, stats.success_total, stats.failed_total) == (1520, 1510, 10)
    assert stats.owner_address == "__OWNER_ADDRESS__"
    assert stats.ai_model == "Qwen/Qwen3-32B" and stats.wallet_balance == 2_500_000_000


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("[1, 2]", "top level is not an object"),
        ('{"stats": {}}', "missing field stats.queries"),
        ('{"stats": {"queries": [1, 2]}}', "must be a list of 7 numbers"),
        ("{", "malformed JSON"),
        ('{"stats": {"queries": [1, 2, 3, 4, 5, 6, "x"]}}', "stats.queries[6] is not a number"),
        ('{"stats": {"queries": [-1, 0, 0, 0, 0, 0, 0]}}', "must be a finite number >= 0"),
    ],
)
def test_jsonstats_errors_name_the_problem(body: str, reason: str) -> None:
    with pytest.raises(StatsFormatError, match=re.escape(reason)):
        parse_jsonstats(body)


def test_health_formats() -> None:
    text = parse_health("Status: OK - All critical services active\n  Model:  NVIDIA H100\n")
    assert text.healthy and text.gpu_model == "NVIDIA H100" and text.gpu_utilization is None
    bad = parse_health("Status: ERROR - 1 service(s) failing\n")
    assert not bad.healthy and bad.detail == "ERROR - 1 service(s) failing"
    js = parse_health('{"status": "ok", "gpus": [{"name": "NVIDIA H200", "utilization": 64}]}')
    assert js.healthy and js.gpu_model == "NVIDIA H200" and js.gpu_utilization == 64
    assert not parse_health('{"ok": false}').healthy
    with pytest.raises(StatsFormatError, match="no 'Status:' line"):
        parse_health("<html>hello</html>")
