"""The dashboard's demo: the indexer's demo pool on the embedded chain, indexed into a
database, plus a little of what a live pool has (income in the open epoch, a timelocked
commission change waiting), so every page shows something on a fresh machine."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cocoon_pool.contracts import messages as m
from cocoon_pool.contracts.constants import ton
from cocoon_pool.dashboard.data import Dashboard
from cocoon_pool.indexer import index_once, open_database, parse_address
from cocoon_pool.indexer.demo import DemoPool, build_demo

DEMO_OPEN_INCOME = ton(30)
DEMO_NEXT_COMMISSION_BPS = 1200


@dataclass
class Demo:
    pool: DemoPool
    engine: Engine
    sessions: sessionmaker[Session]
    board: Dashboard

    def close(self) -> None:
        self.engine.dispose()


def seed_demo(database_url: str, epochs: int = 3) -> Demo:
    """Build the demo pool, index it into ``database_url`` and return its dashboard data."""
    demo = build_demo(epochs)
    sb = demo.sandbox
    sb.pool.send_income(sb.proxy, DEMO_OPEN_INCOME).assert_success()
    change = m.ChangeCommission(bps=DEMO_NEXT_COMMISSION_BPS)
    sb.pool.propose_change(sb.admin, change).assert_success()
    engine, sessions = open_database(database_url)
    with sessions() as session:
        index_once(session, demo.source, [parse_address(demo.operator)])
    chain = sb.chain
    board = Dashboard(sessions=sessions, pool=sb.pool, network="embedded", clock=lambda: chain.now)
    return Demo(pool=demo, engine=engine, sessions=sessions, board=board)
