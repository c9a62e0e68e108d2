"""What the dashboard's pages show, read from the indexer database and the chain's
get-methods (and the keeper's and oracle's metrics endpoints when given).

Everything is plain numbers (nanoton, unix seconds) and strings; the templates format them.
Chain reads go through one lock: the embedded chain is one Node process that answers one
request at a time, and the server handles requests on a thread pool.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from ton_core import Address

from cocoon_pool import economics as econ
from cocoon_pool import member_links as links
from cocoon_pool.cli.status_cmd import health, oracle_health, pool_status
from cocoon_pool.contracts import messages as m
from cocoon_pool.contracts.addresses import friendly, raw
from cocoon_pool.contracts.pool import Pool
from cocoon_pool.contracts.storage import HISTORY_SLOTS, MEMBER_STATUS_NAMES, STATUS_NAMES
from cocoon_pool.contracts.views import ParticipantInfo
from cocoon_pool.errors import CocoonPoolError, UsageError
from cocoon_pool.indexer.history import (
    EXPLORERS,
    History,
    counted_reports,
    csv_rows,
    csv_text,
    explorer_url,
)
from cocoon_pool.indexer.history import load_history as _load_history
from cocoon_pool.indexer.models import IndexedEvent, Payout
from cocoon_pool.whatif import TierRates, WhatIf, tier_label, what_if


class MemberNotFound(CocoonPoolError):
    """The address is no member of this pool, now or in the indexed history."""


@dataclass(frozen=True)
class Link:
    name: str
    url: str


@dataclass(frozen=True)
class PayoutRow:
    utime: int
    epoch: int | None
    member: str
    kind: str
    amount: int
    pending_carry: int
    paid_now: bool
    transferred: int
    tx_hash: str
    links: tuple[Link, ...]


@dataclass(frozen=True)
class EpochPoint:
    """One epoch of a member: the counted report and, while the chain's history ring still
    holds it, the raw metrics the oracle reported."""

    epoch: int
    contribution: int
    penalty_bps: int
    bonus_bps: int
    tier: str
    share: int | None
    uptime_bps: int | None = None
    gpu_score: int | None = None
    running_seconds: int | None = None
    outages: int | None = None


@dataclass(frozen=True)
class Action:
    """A member operation as a transfer: TON Connect sends it, the link is the fallback."""

    action: str
    title: str
    destination: str
    amount: int
    payload: str
    """The body as a standard base64 BOC (what TON Connect's ``payload`` takes)."""
    link: str
    tonkeeper_link: str
    returns: str


@dataclass
class MemberView:
    address: str
    friendly: str
    registered: bool
    status: str
    verified: bool
    stake: int
    pending: int
    joined_at: int
    unbond_at: int
    epochs_reported: int
    worker: str | None
    tier: str | None
    tier_reasons: list[str]
    points: list[EpochPoint]
    payouts: list[PayoutRow]
    total_received: int
    estimate: int | None
    estimate_basis: str
    actions: list[Action] = field(default_factory=list)


@dataclass(frozen=True)
class ServiceHealth:
    name: str
    url: str | None
    ok: bool | None
    """None: not configured."""
    details: str
    metrics: dict[str, float]


def _explain_tier(metrics: econ.MemberMetrics) -> list[str]:
    u = metrics.uptime_bps
    reasons = [f"uptime {u / 100:g} %"]
    if u > econ.UPTIME_BONUS_THRESHOLD_BPS:
        reasons.append(
            f"above {econ.UPTIME_BONUS_THRESHOLD_BPS / 100:g} %: bonus of "
            f"{econ.BONUS_BPS / 100:g} % of the base share"
        )
    elif u >= econ.UPTIME_MINOR_PENALTY_FLOOR_BPS:
        reasons.append(
            f"{econ.UPTIME_MINOR_PENALTY_FLOOR_BPS / 100:g}-"
            f"{econ.UPTIME_BONUS_THRESHOLD_BPS / 100:g} %: minor penalty of "
            f"{econ.MINOR_PENALTY_BPS / 100:g} %"
        )
    else:
        reasons.append(
            f"below {econ.UPTIME_MINOR_PENALTY_FLOOR_BPS / 100:g} %: major penalty of "
            f"{econ.MAJOR_PENALTY_BPS / 100:g} %"
        )
    if econ.has_outage_penalty(metrics):
        reasons.append(
            f"{metrics.outages} outages (more than {econ.MAX_OUTAGES_WITHOUT_PENALTY}): "
            f"{econ.OUTAGE_PENALTY_BPS / 100:g} % more penalty"
        )
    else:
        reasons.append(f"{metrics.outages} outages: no outage penalty")
    return reasons


def parse_metrics(text: str) -> dict[str, float]:
    """Samples of a Prometheus text exposition without labels (what our services expose)."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#") or "{" in line:
            continue
        parts = line.split()
        if len(parts) >= 2:
            try:
                values[parts[0]] = float(parts[1])
            except ValueError:
                continue
    return values


def service_health(name: str, url: str | None) -> ServiceHealth:
    """``/healthz`` and ``/metrics`` of a service (not configured: ``ok`` is None)."""
    if url is None:
        return ServiceHealth(name, None, None, "not configured", {})
    answer = health(url)
    metrics: dict[str, float] = {}
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/metrics", timeout=5) as response:
            metrics = parse_metrics(response.read().decode())
    except (urllib.error.URLError, OSError):
        pass
    return ServiceHealth(name, url, bool(answer["ok"]), str(answer["details"]), metrics)


class Dashboard:
    """The data behind every page: one pool, its indexer database and its chain."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        pool: Pool,
        network: str,
        clock: Callable[[], int],
        keeper_url: str | None = None,
        oracle_url: str | None = None,
        oracle_db: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.pool = pool
        self.network = network
        """The indexer's network name: mainnet, testnet, local or embedded."""
        self.clock = clock
        self.keeper_url = keeper_url
        self.oracle_url = oracle_url
        self.oracle_db = oracle_db
        self.pool_raw = raw(pool.operator)
        self._lock = threading.RLock()

    @property
    def address_network(self) -> str:
        """User-friendly addresses: mainnet form on mainnet, test-only form elsewhere."""
        return "mainnet" if self.network == "mainnet" else "testnet"

    def friendly(self, address: Address | str, *, bounceable: bool = True) -> str:
        a = Address(address) if isinstance(address, str) else address
        return friendly(a, self.address_network, bounceable=bounceable)

    @contextmanager
    def chain(self) -> Iterator[Pool]:
        with self._lock:
            yield self.pool

    def history(self, member: str | None = None) -> History:
        with self.sessions() as session:
            return _load_history(session, member, self.pool_raw)

    def _payout_row(self, p: Payout) -> PayoutRow:
        return PayoutRow(
            utime=p.utime,
            epoch=p.epoch,
            member=p.member,
            kind=p.kind,
            amount=p.amount,
            pending_carry=p.pending_carry,
            paid_now=p.paid_now,
            transferred=p.transferred,
            tx_hash=p.tx_hash,
            links=tuple(
                Link(e, url)
                for e in EXPLORERS
                if (url := explorer_url(self.network, p.tx_hash, e)) is not None
            ),
        )

    # -- pages ----------------------------------------------------------------------------

    def pool_page(self) -> dict[str, Any]:
        now = self.clock()
        with self.chain() as pool:
            status = pool_status(pool, now)
            info = pool.pool_info()
        history = self.history()
        payouts = [self._payout_row(p) for p in history.payouts]
        return {
            "now": now,
            "status": status,
            "info": info,
            "operator": self.friendly(self.pool.operator),
            "epochs": list(reversed(history.epochs)),
            "recent_payouts": list(reversed(payouts))[:10],
            "members": sorted({p.member for p in history.payouts} | self._joined(history)),
            "join": self.register_action(info.min_stake),
        }

    @staticmethod
    def _joined(history: History) -> set[str]:
        left = {s.member for s in history.stakes if s.kind in ("left", "withdrawn")}
        return {s.member for s in history.stakes if s.kind == "joined"} - left

    def member_page(self, address: str) -> MemberView:
        try:
            member = Address(address.strip())
        except Exception as exc:  # ton_core raises several types for malformed text
            raise UsageError(
                f"{address!r} is not a TON address",
                hint="give it raw (0:<64 hex>) or user-friendly (EQ…/UQ…)",
            ) from exc
        member_raw = raw(member)
        history = self.history(member_raw)
        with self.chain() as pool:
            try:
                info: ParticipantInfo | None = pool.participant_info(member)
            except CocoonPoolError:  # no Participant contract: never joined (or not yet)
                info = None
            if info is None and not history.payouts and not history.stakes:
                raise MemberNotFound(
                    f"{self.friendly(member, bounceable=False)} is not a member of this pool",
                    hint="check the address, or join the pool from its home page",
                )
            points = self._points(pool, member, member_raw, info)
            ledger = pool.ledger()
            pool_info = pool.pool_info()
            actions = self._member_actions(pool, member, info, pool_info) if info else []
        payouts = [self._payout_row(p) for p in reversed(history.payouts)]
        latest = next((p for p in reversed(points) if p.uptime_bps is not None), None)
        tier, reasons = None, []
        if latest is not None:
            assert latest.uptime_bps is not None and latest.outages is not None
            metrics = econ.MemberMetrics(
                running_seconds=latest.running_seconds or 0,
                gpu_score=latest.gpu_score or 0,
                uptime_bps=latest.uptime_bps,
                outages=latest.outages,
            )
            tier = econ.tier(metrics).label
            first, *rest = _explain_tier(metrics)
            reasons = [f"epoch {latest.epoch}: {first}", *rest]
        estimate, basis = self._estimate(member_raw, ledger)
        return MemberView(
            address=member_raw,
            friendly=self.friendly(member, bounceable=False),
            registered=bool(info and info.registered),
            status=MEMBER_STATUS_NAMES.get(info.status, str(info.status)) if info else "left",
            verified=bool(info and info.verified),
            stake=info.stake if info else 0,
            pending=info.pending if info else 0,
            joined_at=info.joined_at if info else 0,
            unbond_at=info.unbond_at if info else 0,
            epochs_reported=info.epochs_reported if info else len(points),
            worker=self.friendly(info.worker) if info and info.worker else None,
            tier=tier,
            tier_reasons=reasons,
            points=points,
            payouts=payouts,
            total_received=sum(p.transferred for p in history.payouts),
            estimate=estimate,
            estimate_basis=basis,
            actions=actions,
        )

    def _reports(self, session: Session, member: str | None = None) -> list[IndexedEvent]:
        return counted_reports(session, self.pool_raw, member)

    def _points(self, pool: Pool, member: Address, member_raw: str, info: Any) -> list[EpochPoint]:
        with self.sessions() as session:
            reports = self._reports(session, member_raw)
            shares = {
                p.epoch: p.amount
                for p in session.scalars(
                    select(Payout).where(
                        Payout.pool == self.pool_raw,
                        Payout.member == member_raw,
                        Payout.kind == "reward",
                    )
                )
            }
        points: list[EpochPoint] = []
        recent = {int(e.fields["epoch"]) for e in reports[-HISTORY_SLOTS:]}
        for e in reports:
            f = e.fields
            epoch = int(f["epoch"])
            point = EpochPoint(
                epoch=epoch,
                contribution=int(f["contribution"]),
                penalty_bps=int(f["penalty_bps"]),
                bonus_bps=int(f["bonus_bps"]),
                tier=tier_label(int(f["penalty_bps"]), int(f["bonus_bps"])),
                share=shares.get(epoch),
            )
            if info is not None and epoch in recent:
                record = pool.epoch_record(member, epoch)
                if record.found:
                    point = EpochPoint(
                        **{
                            **point.__dict__,
                            "uptime_bps": record.uptime_bps,
                            "gpu_score": record.gpu_score,
                            "running_seconds": record.running_seconds,
                            "outages": record.outages,
                        }
                    )
            points.append(point)
        return points

    def _estimate(self, member: str, ledger: Any) -> tuple[int | None, str]:
        """The member's share if the open epoch closed now with the last finalized epoch's
        reports (same contributions and tiers), at the commission it would close with."""
        with self.sessions() as session:
            reports = self._reports(session)
        if not reports:
            return None, "no report counted yet"
        last_epoch = max(int(e.fields["epoch"]) for e in reports)
        terms = [
            (
                str(e.member),
                int(e.fields["contribution"]),
                e.fields["penalty_bps"],
                e.fields["bonus_bps"],
            )
            for e in reports
            if int(e.fields["epoch"]) == last_epoch
        ]
        mine = next((t for t in terms if t[0] == member), None)
        if mine is None:
            return None, f"no report of this member in epoch {last_epoch}"
        aggr = econ.EpochAggregates()
        for _, c, p, b in terms:
            aggr = econ.add_member(aggr, c, int(p), int(b))
        bps = ledger.commission_bps
        if ledger.next_commission_epoch and ledger.current_epoch >= ledger.next_commission_epoch:
            bps = ledger.next_commission_bps
        # Storage paid from the floor since the last close takes the open income below zero
        # until new income refills it (README, "What simulate prints"): nothing to share yet.
        income = max(ledger.open_income, 0)
        settlement = econ.settle_epoch(income, bps, ledger.reserve, aggr)
        share = econ.member_payout(settlement, aggr, mine[1], int(mine[2]), int(mine[3]))
        return share.payout, (
            f"if epoch {ledger.current_epoch} closed now (income so far, {bps / 100:g} % "
            f"commission) with the reports of epoch {last_epoch}"
        )

    def register_action(self, stake: int) -> Action:
        with self.chain() as pool:
            info = pool.pool_info()
        targets = links.PoolTargets(
            operator=self.pool.operator,
            registry=self.pool.registry,
            unbonding_seconds=info.unbonding_seconds,
            min_stake=info.min_stake,
        )
        if stake < info.min_stake:
            raise UsageError(
                f"a stake of {links.ton_text(stake)} TON is below the pool's minimum of "
                f"{links.ton_text(info.min_stake)} TON",
                hint="stake at least the minimum",
            )
        return self._action("Join the pool", links.register(targets, stake))

    def _action(self, title: str, message: links.MemberMessage) -> Action:
        data = message.to_json(self.address_network)
        return Action(
            action=message.action,
            title=title,
            destination=data["destination"],
            amount=message.amount,
            payload=data["body_boc_base64"],
            link=data["link"],
            tonkeeper_link=data["tonkeeper_link"],
            returns=message.returns,
        )

    def _member_actions(
        self, pool: Pool, member: Address, info: Any, pool_info: Any
    ) -> list[Action]:
        targets = links.PoolTargets(
            operator=pool.operator,
            registry=pool.registry,
            unbonding_seconds=pool_info.unbonding_seconds,
            min_stake=pool_info.min_stake,
        )
        actions: list[Action] = []
        epoch = info.last_reported_epoch
        if epoch and pool.unclaimed(member, epoch).found:
            actions.append(
                self._action(f"Claim epoch {epoch}", links.claim(targets, member, epoch))
            )
        if info.pending:
            actions.append(self._action("Claim pending", links.claim_pending(targets, member)))
        status = MEMBER_STATUS_NAMES.get(info.status, "")
        if status == "active":
            actions.append(self._action("Unregister", links.unregister(targets, member)))
        if status == "unbonding":
            actions.append(self._action("Withdraw stake", links.withdraw(targets, member)))
        return actions

    def member_csv(self, address: str) -> tuple[str, str]:
        view = self.member_page(address)
        rows = csv_rows(self.history(view.address))
        return view.friendly, csv_text(rows)

    def operator_page(self, alerts: list[dict[str, object]]) -> dict[str, Any]:
        now = self.clock()
        with self.chain() as pool:
            status = pool_status(pool, now)
            info = pool.pool_info()
            roles = pool.roles()
            pending = pool.pending_change()
            ledger = pool.ledger()
        change = None
        if pending.exists and pending.change is not None:
            change = describe_change(m.parse_parameter_change(pending.change), self)
        oracle = service_health("oracle", self.oracle_url)
        if self.oracle_db is not None:
            found = oracle_health(self.oracle_db, now)
            oracle = ServiceHealth(
                "oracle",
                self.oracle_url or self.oracle_db,
                bool(found["ok"]) and oracle.ok is not False,
                str(found["details"]),
                oracle.metrics,
            )
        return {
            "now": now,
            "status": status,
            "status_name": STATUS_NAMES.get(info.status, str(info.status)),
            "info": info,
            "ledger": ledger,
            "operator": self.friendly(self.pool.operator),
            "registry": self.friendly(self.pool.registry),
            "distribution": self.friendly(self.pool.distribution),
            "admin": self.friendly(roles.admin, bounceable=False),
            "pauser": self.friendly(roles.pauser, bounceable=False),
            "nominee": self.friendly(roles.nominee, bounceable=False) if roles.nominee else None,
            "pending": {"change": change, "apply_after": pending.apply_after} if change else None,
            "keeper": service_health("keeper", self.keeper_url),
            "oracle": oracle,
            "alerts": alerts,
        }

    def what_if(self, commission_bps: int | None, rates: TierRates) -> WhatIf:
        with self.sessions() as session:
            return what_if(session, pool=self.pool_raw, commission_bps=commission_bps, rates=rates)


def describe_change(change: m.ParameterChange, board: Dashboard) -> str:
    """A timelocked change in words."""
    if isinstance(change, m.ChangeCommission):
        return f"commission to {change.bps / 100:g} % ({change.bps} bps)"
    if isinstance(change, m.ChangeMinStake):
        return f"minimum stake to {links.ton_text(change.amount)} TON"
    if isinstance(change, m.ChangeEpochLength):
        return f"epoch length to {change.seconds} s"
    if isinstance(change, m.ChangeOracleKeys):
        return f"oracle keys (quorum {change.quorum})"
    if isinstance(change, m.ChangeAdmin):
        return f"admin to {board.friendly(change.nominee, bounceable=False)}"
    if isinstance(change, m.ChangePauser):
        return f"pauser to {board.friendly(change.nominee, bounceable=False)}"
    if isinstance(change, m.UpgradeContract):
        target = {0: "PoolOperator", 1: "registry", 2: "distribution"}.get(change.target, "?")
        return f"code upgrade of the {target}"
    if isinstance(change, m.ChangeMemberCap):
        return f"member cap to {change.cap}"
    return type(change).__name__  # pragma: no cover - every change above
