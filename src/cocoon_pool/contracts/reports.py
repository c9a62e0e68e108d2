"""Signed oracle reports: what the oracle keys sign and anyone may relay."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

from nacl.signing import SigningKey
from ton_core import Address, Cell

from cocoon_pool.contracts.constants import fee, tolk_constants
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


MAX_REPORTS_PER_BATCH = tolk_constants("RewardDistribution.tolk")["MAX_REPORTS_PER_BATCH"]
"""Most reports one ``SubmitReport`` message may chain (one ApplyReport each, within a
transaction's 255 actions)."""


CHEAP_SIGNATURE_CHECKS = 10
"""The TVM charges 26 gas for each of a transaction's first 10 signature checks (CHKSIGNU) and
about 4,000 for every further one, so a batch pays off up to ``CHEAP_SIGNATURE_CHECKS`` checks."""


def cheap_batch_size(quorum: int) -> int:
    """The most reports one batch should carry at a k-of-n ``quorum`` (k checks per report)."""
    return max(1, CHEAP_SIGNATURE_CHECKS // max(1, quorum))


def report_value(count: int) -> int:
    """What relaying a batch of ``count`` reports must carry; the unspent part comes back."""
    return fee("REPORT_BATCH_FEE") + count * fee("REPORT_FEE")


def batch_message(reports: Sequence[SubmitReport], query_id: int = 0) -> SubmitReport:
    """Chain members' signed reports into one relayed batch, in the given order.

    Each report keeps its own signatures; only ``next`` (and the head's ``query_id``) change, so
    an oracle's per-member bodies are relayed as they are. Attach ``report_value(len(reports))``."""
    if not reports:
        raise ValueError("a batch needs at least one report")
    if len(reports) > MAX_REPORTS_PER_BATCH:
        raise ValueError(f"a batch holds at most {MAX_REPORTS_PER_BATCH} reports")
    chain: Cell | None = None
    for signed in reversed(reports[1:]):
        chain = replace(signed, query_id=0, next=chain).to_cell()
    return replace(reports[0], query_id=query_id, next=chain)


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
