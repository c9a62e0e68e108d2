"""Signed oracle reports: what the oracle keys sign and anyone may relay."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from nacl.signing import SigningKey
from ton_core import Address

from cocoon_pool.contracts.messages import (
    MetricsReport,
    OracleSignature,
    SignatureLink,
    SubmitReport,
)
from cocoon_pool.economics import MemberMetrics

MAINNET_GLOBAL_ID = -239
TESTNET_GLOBAL_ID = -3


@dataclass(frozen=True)
class OracleSigner:
    """An ed25519 key whose public half is one key of the pool's oracle set."""

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

    def submit_message(
        self, report: MetricsReport, query_id: int = 0, key_index: int = 0
    ) -> SubmitReport:
        """A report signed by this key alone (a 1-of-n quorum), as key ``key_index`` of the set."""
        return quorum_message(report, [(key_index, self)], query_id)


def quorum_message(
    report: MetricsReport, signers: Sequence[tuple[int, OracleSigner]], query_id: int = 0
) -> SubmitReport:
    """A report signed by several keys of the set, each given with its index in the set.

    The contract reads the signatures in strictly increasing index, so they are sorted here; the
    first goes in the message, the others in a chain of cells.
    """
    if not signers:
        raise ValueError("a report needs at least one signature")
    ordered = sorted(signers, key=lambda pair: pair[0])
    signatures = [OracleSignature(key_index=i, signature=s.sign(report)) for i, s in ordered]
    chain = None
    for signature in reversed(signatures[1:]):
        chain = SignatureLink(signature=signature, next=chain).to_cell()
    return SubmitReport(query_id=query_id, first=signatures[0], report=report, more=chain)


def build_report(
    distribution: Address,
    epoch: int,
    member: Address,
    metrics: MemberMetrics,
    global_id: int = MAINNET_GLOBAL_ID,
) -> MetricsReport:
    return MetricsReport(
        global_id=global_id,
        distribution=distribution,
        epoch=epoch,
        member=member,
        running_seconds=metrics.running_seconds,
        gpu_score=metrics.gpu_score,
        uptime_bps=metrics.uptime_bps,
        outages=metrics.outages,
    )
