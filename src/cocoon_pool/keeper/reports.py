"""The oracle's stored signed reports, read from the oracle's own database.

The keeper only reads: it never migrates or writes the oracle's schema, so it can point at a
database another host's oracle owns (read access is enough).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker
from ton_core import Address, Cell

from cocoon_pool.chain.types import raw_address
from cocoon_pool.contracts.messages import (
    MetricsReport,
    OracleSignature,
    SignatureLink,
    SubmitReport,
)
from cocoon_pool.keeper.core import SignedReport
from cocoon_pool.keeper.db import make_engine
from cocoon_pool.keeper.errors import KeeperDatabaseError
from cocoon_pool.oracle.reports import decode_body, stored_reports


class OracleReports:
    """``ReportSource`` over the oracle's database: the reports signed for this pool."""

    def __init__(self, url: str, distribution: Address) -> None:
        self.url = url
        self.distribution = raw_address(distribution)
        self.engine: Engine = make_engine(url)
        self._sessions = sessionmaker(self.engine)

    def reports(self, epoch: int) -> Sequence[SignedReport]:
        try:
            with self._sessions() as session:
                rows = stored_reports(session, epoch)
        except SQLAlchemyError as exc:
            raise KeeperDatabaseError(
                f"cannot read the oracle's reports of epoch {epoch}: {exc}",
                "check --oracle-db: the oracle's database URL (the oracle must have run once)",
            ) from exc
        # A database may hold reports of several pools: relay only this pool's. (The contract
        # would refuse the others anyway, REPORT_FOR_OTHER_POOL, for a fee.)
        return [
            SignedReport(row.epoch, Address(row.member), decode_body(row.body_boc))
            for row in rows
            if raw_address(row.distribution) == self.distribution
        ]

    def close(self) -> None:
        self.engine.dispose()


class QuorumReports:
    """``ReportSource`` for a k-of-n oracle set: each oracle keeps its own database and signs
    alone, so the keeper gathers, per member, the signatures of the same report cell from
    every oracle's database and relays one message that carries ``quorum`` of them.

    A member whose oracles disagree (different metrics, so different cells) is relayed only if
    one version has ``quorum`` signatures: no single oracle can push its own view through.
    """

    def __init__(self, sources: Sequence[OracleReports], quorum: int) -> None:
        self.sources = list(sources)
        self.quorum = quorum

    def reports(self, epoch: int) -> Sequence[SignedReport]:
        # member -> report cell hash -> (report, {key index: signature})
        gathered: dict[str, dict[bytes, tuple[MetricsReport, dict[int, OracleSignature]]]] = {}
        for source in self.sources:
            for signed in source.reports(epoch):
                body = SubmitReport.from_cell(signed.body)
                versions = gathered.setdefault(raw_address(signed.member), {})
                report, signatures = versions.setdefault(
                    body.report.to_cell().hash, (body.report, {})
                )
                for signature in _signatures(body):
                    signatures.setdefault(signature.key_index, signature)
        found: list[SignedReport] = []
        for member, versions in gathered.items():
            report, signatures = max(versions.values(), key=lambda version: len(version[1]))
            if len(signatures) < self.quorum:
                continue  # no quorum for any version: the oracles must agree first
            chosen = [signatures[i] for i in sorted(signatures)][: self.quorum]
            found.append(SignedReport(epoch, Address(member), _quorum_body(report, chosen, epoch)))
        return found

    def close(self) -> None:
        for source in self.sources:
            source.close()


def _signatures(body: SubmitReport) -> list[OracleSignature]:
    found = [body.first]
    link = body.more
    while link is not None:
        parsed = SignatureLink.from_cell(link)
        found.append(parsed.signature)
        link = parsed.next
    return found


def _quorum_body(
    report: MetricsReport, signatures: Sequence[OracleSignature], query_id: int
) -> Cell:
    chain: Cell | None = None
    for signature in reversed(signatures[1:]):
        chain = SignatureLink(signature=signature, next=chain).to_cell()
    return SubmitReport(query_id=query_id, first=signatures[0], report=report, more=chain).to_cell()
