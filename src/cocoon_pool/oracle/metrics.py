"""Epoch metrics from stored samples: pure functions on integers (see ``docs/oracle.md``).

An epoch ``[start, start + length)`` is cut into slots of ``interval`` seconds (the last
slot may be shorter). The oracle takes one sample per member per slot. Per slot:

- **up** when the slot holds at least one sample and every sample in it is up;
- **down** otherwise; a slot without any sample (missing) is down;
- **discarded** when it has no counted sample but holds a discarded poll (the oracle's own
  failure): neither up nor down, it is left out of the sequence below.

From the slot sequence:

- ``running_seconds`` = total duration of the up slots (at most the epoch length);
- ``uptime_bps`` = ``up_slots * 10000 // (expected_slots - discarded_slots)``;
- ``outages`` = number of maximal runs of consecutive down slots, skipping discarded ones;
- ``gpu_score`` = ``min(1_000_000, max(model_score, throughput_score))`` where
  ``throughput_score = mean_mtps * points_per_tps // 1000`` over the up samples and
  ``model_score`` comes from the GPU table for the model reported most often.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cocoon_pool.economics import (
    BPS,
    MAX_GPU_SCORE,
    MAX_OUTAGES,
    MAX_RUNNING_SECONDS,
    MemberMetrics,
)

DEFAULT_POINTS_PER_TPS = 100
"""Score points per token per second of measured throughput."""

DEFAULT_GPU_TABLE: tuple[tuple[str, int], ...] = (
    ("B200", 239_000),
    ("H100", 100_000),
    ("H100 NVL", 116_000),
    ("H100 PCIE", 60_000),
    ("H200", 143_000),
)
"""Score by GPU model, proportional to HBM bandwidth (what bounds token generation), with
H100 SXM (3.35 TB/s) = 100 000. Keys match as upper-case substrings of the reported name;
the longest matching key wins (``NVIDIA H100 PCIe`` -> ``H100 PCIE``)."""


@dataclass(frozen=True)
class Scoring:
    points_per_tps: int = DEFAULT_POINTS_PER_TPS
    gpu_table: tuple[tuple[str, int], ...] = DEFAULT_GPU_TABLE

    def model_score(self, model: str | None) -> int:
        if not model:
            return 0
        name = model.upper()
        matches = [(len(key), key, score) for key, score in self.gpu_table if key in name]
        if not matches:
            return 0
        # Longest key first; among equal lengths the alphabetically first, for determinism.
        best = min(matches, key=lambda m: (-m[0], m[1]))
        return best[2]


@dataclass(frozen=True)
class Observation:
    """What the metrics need of one stored sample."""

    taken_at: int
    ok: bool
    throughput_mtps: int | None = None
    gpu_model: str | None = None


@dataclass(frozen=True)
class EpochWindow:
    epoch: int
    start: int
    length: int
    interval: int

    def __post_init__(self) -> None:
        if self.length < 1 or self.interval < 1:
            raise ValueError("epoch length and interval must be positive")

    @property
    def end(self) -> int:
        return self.start + self.length

    @property
    def expected_slots(self) -> int:
        return -(-self.length // self.interval)

    def slot_of(self, t: int) -> int | None:
        if not self.start <= t < self.end:
            return None
        return (t - self.start) // self.interval

    def slot_seconds(self, slot: int) -> int:
        return min(self.interval, self.end - (self.start + slot * self.interval))


@dataclass(frozen=True)
class GpuScore:
    model: str | None
    model_score: int
    mean_mtps: int
    throughput_score: int
    score: int


@dataclass(frozen=True)
class EpochResult:
    metrics: MemberMetrics
    expected_slots: int
    up_slots: int
    samples: int
    gpu: GpuScore
    discarded_slots: int = 0

    @property
    def counted_slots(self) -> int:
        """The slots uptime and outages are judged on."""
        return self.expected_slots - self.discarded_slots


def slot_states(observations: Iterable[Observation], window: EpochWindow) -> list[bool]:
    """Up (True) or down (False) for every slot of the window."""
    seen = [False] * window.expected_slots
    all_ok = [True] * window.expected_slots
    for obs in observations:
        slot = window.slot_of(obs.taken_at)
        if slot is None:
            continue
        seen[slot] = True
        all_ok[slot] = all_ok[slot] and obs.ok
    return [s and ok for s, ok in zip(seen, all_ok, strict=True)]


def running_seconds(states: Sequence[bool], window: EpochWindow) -> int:
    total = sum(window.slot_seconds(k) for k, up in enumerate(states) if up)
    return min(total, window.length, MAX_RUNNING_SECONDS)


def uptime_bps(states: Sequence[bool]) -> int:
    if not states:
        return 0
    return sum(states) * BPS // len(states)


def count_outages(states: Sequence[bool]) -> int:
    """Maximal runs of consecutive down slots (a run at the epoch's edge counts too)."""
    runs = sum(1 for k, up in enumerate(states) if not up and (k == 0 or states[k - 1]))
    return min(runs, MAX_OUTAGES)


def gpu_score(up_observations: Sequence[Observation], scoring: Scoring) -> GpuScore:
    throughputs = [o.throughput_mtps for o in up_observations if o.throughput_mtps is not None]
    mean_mtps = sum(throughputs) // len(throughputs) if throughputs else 0
    throughput_score = mean_mtps * scoring.points_per_tps // 1000
    models = Counter(o.gpu_model for o in up_observations if o.gpu_model)
    model = min(models, key=lambda m: (-models[m], m)) if models else None
    model_score = scoring.model_score(model)
    score = min(MAX_GPU_SCORE, max(model_score, throughput_score))
    return GpuScore(model, model_score, mean_mtps, throughput_score, score)


def discarded_slots(
    discarded_at: Iterable[int], observations: Iterable[Observation], window: EpochWindow
) -> frozenset[int]:
    """Slots holding a discarded poll and no counted sample of this member.

    A counted sample in the same slot (a second poll that went through) still decides it.
    """
    seen = {slot for o in observations if (slot := window.slot_of(o.taken_at)) is not None}
    held = {slot for t in discarded_at if (slot := window.slot_of(t)) is not None}
    return frozenset(held - seen)


def epoch_metrics(
    observations: Iterable[Observation],
    window: EpochWindow,
    scoring: Scoring | None = None,
    discarded_at: Iterable[int] = (),
) -> EpochResult:
    """The four reported numbers of one member for one epoch, with the details behind them.

    ``observations`` are the counted samples only; ``discarded_at`` are the start times of
    discarded polls, whose slots are neither up nor down.
    """
    slotted = [(slot, o) for o in observations if (slot := window.slot_of(o.taken_at)) is not None]
    inside = [o for _, o in slotted]
    states = slot_states(inside, window)
    skipped = discarded_slots(discarded_at, inside, window)
    # A discarded slot is not up (it has no counted sample), so running_seconds already
    # gives it nothing; uptime and outages must not see it as down either.
    counted = [up for k, up in enumerate(states) if k not in skipped]
    up_obs = [o for slot, o in slotted if states[slot]]
    gpu = gpu_score(up_obs, scoring or Scoring())
    metrics = MemberMetrics(
        running_seconds=running_seconds(states, window),
        gpu_score=gpu.score,
        uptime_bps=uptime_bps(counted),
        outages=count_outages(counted),
    )
    return EpochResult(
        metrics=metrics,
        expected_slots=window.expected_slots,
        up_slots=sum(states),
        samples=len(inside),
        gpu=gpu,
        discarded_slots=len(skipped),
    )
