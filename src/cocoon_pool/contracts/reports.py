"""Signed oracle reports: what the oracle key signs and anyone may relay."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from nacl.signing import SigningKey
from ton_core import Address

from cocoon_pool.contracts.messages import MetricsReport, SubmitReport
from cocoon_pool.economics import MemberMetrics


@dataclass(frozen=True)
class OracleSigner:
    """An ed25519 key whose public half the pool stores as its oracle key."""

    seed: bytes

    @classmethod
    def from_seed_text(cls, text: str) -> OracleSigner:
        """A deterministic key for tests and simulations (never for real money)."""
        return cls(hashlib.sha256(text.encode()).digest())

    @property
    def _key(self) -> SigningKey:
        return SigningKey(self.seed)

    @property
    def public_key(self) -> int:
        return int.from_bytes(bytes(self._key.verify_key), "big")

    def sign(self, report: MetricsReport) -> bytes:
        """Signature over the report cell's hash, as RewardDistribution checks it."""
        return bytes(self._key.sign(report.to_cell().hash).signature)

    def submit_message(self, report: MetricsReport, query_id: int = 0) -> SubmitReport:
        return SubmitReport(query_id=query_id, signature=self.sign(report), report=report)


def build_report(
    distribution: Address, epoch: int, member: Address, metrics: MemberMetrics
) -> MetricsReport:
    return MetricsReport(
        distribution=distribution,
        epoch=epoch,
        member=member,
        running_seconds=metrics.running_seconds,
        gpu_score=metrics.gpu_score,
        uptime_bps=metrics.uptime_bps,
        outages=metrics.outages,
    )
