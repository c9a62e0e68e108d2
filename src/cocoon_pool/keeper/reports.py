"""The oracle's stored signed reports, read from the oracle's own database.

The keeper only reads: it never migrates or writes the oracle's schema, so it can point at a
database another host's oracle owns (read access is enough).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker
from ton_core import Address

from cocoon_pool.chain.types import raw_address
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
