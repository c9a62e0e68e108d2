"""Finding alerts in the other components' databases (read only) and the keeper's health.

Each detector moves its own cursor (``alerts_cursors``) or state rows in the alerts
session it is given; the service stores the alerts it returns in that same transaction, so
a restart resumes exactly after what was already found. Keys make an alert unique even if a
cursor were lost.

- oracle ``oracle_samples``: ``worker_down`` after ``outage_samples`` counted down samples
  in a row (samples of discarded polls are the oracle's own failure and count for nobody),
  ``worker_recovered`` at the next up sample;
- oracle ``oracle_reports``: ``tier_drop`` when a member's report is in a worse tier than
  its previous one (bonus minus penalty, in bps, went down);
- indexer ``indexer_events``: timelocked changes proposed, applied, cancelled; roles
  accepted; the pool paused, unpaused, closing;
- indexer ``indexer_payouts``: ``payouts``, one alert per epoch and round;
- keeper ``keeper_actions``: ``keeper_failure`` once per action that failed
  ``keeper_failures`` times in a row; the keeper's ``/healthz``: ``keeper_unhealthy`` and
  ``keeper_recovered``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from sqlalchemy import Engine, inspect, select
from sqlalchemy.orm import Session

from cocoon_pool.alerts.alert import Alert, short_address, ton_text
from cocoon_pool.alerts.models import AlertRow, Cursor, WorkerState

BATCH = 2_000
"""Rows read per query; a source is read in batches until it has no more."""


def get_cursor(state: Session, name: str, default: int = 0) -> int:
    row = state.get(Cursor, name)
    return default if row is None else row.value


def set_cursor(state: Session, name: str, value: int) -> None:
    row = state.get(Cursor, name)
    if row is None:
        state.add(Cursor(name=name, value=value))
    else:
        row.value = value


def has_tables(engine: Engine, *names: str) -> bool:
    """Whether the component has created its tables yet (a fresh database has none)."""
    inspector = inspect(engine)
    return all(inspector.has_table(name) for name in names)


# -- oracle: outages ---------------------------------------------------------------------


def worker_outages(state: Session, oracle: Session, outage_samples: int) -> list[Alert]:
    from cocoon_pool.oracle.models import Poll, Sample  # noqa: PLC0415

    alerts: list[Alert] = []
    cursor = get_cursor(state, "oracle_sample")
    workers: dict[str, WorkerState] = {}
    while True:
        rows = oracle.execute(
            select(
                Sample.id, Sample.member, Sample.taken_at, Sample.ok, Sample.reason, Poll.discarded
            )
            .outerjoin(Poll, Sample.poll_id == Poll.id)
            .where(Sample.id > cursor)
            .order_by(Sample.id)
            .limit(BATCH)
        ).all()
        for sample_id, member, taken_at, ok, reason, discarded in rows:
            cursor = sample_id
            if discarded:
                continue
            worker = workers.get(member) or state.get(WorkerState, member)
            if worker is None:
                worker = WorkerState(member=member, down_samples=0, alerted=False)
                state.add(worker)
            workers[member] = worker
            if ok:
                if worker.alerted and worker.down_since is not None:
                    alerts.append(_recovered(member, worker, taken_at))
                worker.down_samples, worker.down_since = 0, None
                worker.reason, worker.alerted = None, False
                continue
            if worker.down_samples == 0:
                worker.down_since = taken_at
            worker.down_samples += 1
            worker.reason = reason
            if worker.down_samples >= outage_samples and not worker.alerted:
                worker.alerted = True
                alerts.append(_down(member, worker, taken_at))
        if len(rows) < BATCH:
            break
    set_cursor(state, "oracle_sample", cursor)
    return alerts


def _down(member: str, worker: WorkerState, taken_at: int) -> Alert:
    since = worker.down_since or taken_at
    return Alert(
        kind="worker_down",
        title=f"Worker down: {short_address(member)}",
        text=(
            f"The worker of member {member} was down in {worker.down_samples} samples in a "
            f"row since {since} (unix).\nLast reason: {worker.reason or 'unknown'}"
        ),
        dedupe_key=f"worker_down:{member}:{since}",
        occurred_at=taken_at,
        details={"member": member, "down_since": since, "reason": worker.reason},
    )


def _recovered(member: str, worker: WorkerState, taken_at: int) -> Alert:
    since = worker.down_since or taken_at
    return Alert(
        kind="worker_recovered",
        title=f"Worker back up: {short_address(member)}",
        text=f"The worker of member {member} is up again after {taken_at - since} s down.",
        dedupe_key=f"worker_recovered:{member}:{since}",
        occurred_at=taken_at,
        details={"member": member, "down_since": since, "up_at": taken_at},
    )


# -- oracle: tier drops ------------------------------------------------------------------


def tier_drops(state: Session, oracle: Session) -> list[Alert]:
    from cocoon_pool.economics import MemberMetrics, bonus_bps, penalty_bps, tier  # noqa: PLC0415
    from cocoon_pool.oracle.models import Report  # noqa: PLC0415

    def metrics(row: Report) -> MemberMetrics:
        return MemberMetrics(row.running_seconds, row.gpu_score, row.uptime_bps, row.outages)

    def standing(m: MemberMetrics) -> int:
        return bonus_bps(m) - penalty_bps(m)

    alerts: list[Alert] = []
    cursor = get_cursor(state, "oracle_report")
    while True:
        reports = oracle.scalars(
            select(Report).where(Report.id > cursor).order_by(Report.id).limit(BATCH)
        ).all()
        for report in reports:
            cursor = report.id
            before = oracle.scalars(
                select(Report)
                .where(Report.member == report.member, Report.epoch < report.epoch)
                .order_by(Report.epoch.desc())
                .limit(1)
            ).first()
            if before is None:
                continue
            old, new = metrics(before), metrics(report)
            if standing(new) >= standing(old):
                continue
            old_tier, new_tier = tier(old).label, tier(new).label
            alerts.append(
                Alert(
                    kind="tier_drop",
                    title=f"Tier drop in epoch {report.epoch}: {short_address(report.member)}",
                    text=(
                        f"Member {report.member} fell from {old_tier} (epoch {before.epoch}) "
                        f"to {new_tier} (epoch {report.epoch}): uptime "
                        f"{old.uptime_bps / 100:.2f}% -> {new.uptime_bps / 100:.2f}%, outages "
                        f"{old.outages} -> {new.outages}; share change "
                        f"{standing(old):+d} -> {standing(new):+d} bps."
                    ),
                    dedupe_key=f"tier_drop:{report.member}:{report.epoch}",
                    occurred_at=report.created_at,
                    details={
                        "member": report.member,
                        "epoch": report.epoch,
                        "previous_epoch": before.epoch,
                        "tier": new_tier,
                        "previous_tier": old_tier,
                        "uptime_bps": new.uptime_bps,
                        "outages": new.outages,
                    },
                )
            )
        if len(reports) < BATCH:
            break
    set_cursor(state, "oracle_report", cursor)
    return alerts


# -- indexer: parameter changes, roles, pause ----------------------------------------------

POOL_EVENTS = (
    "ChangeProposed",
    "ChangeApplied",
    "ChangeCancelled",
    "RoleAccepted",
    "StatusChanged",
)


def describe_change(boc: object) -> tuple[str, dict[str, Any]]:
    """A ParameterChange cell (base64 BOC, as the indexer stores it) in words."""
    from cocoon_pool.chain.types import cell_from_b64, raw_address  # noqa: PLC0415
    from cocoon_pool.contracts import messages as m  # noqa: PLC0415

    try:
        change = m.parse_parameter_change(cell_from_b64(str(boc)))
    except Exception:  # a change this version does not know, or a damaged cell
        return "an unknown parameter change", {"change": "unknown"}
    match change:
        case m.ChangeCommission(bps=bps):
            return f"commission to {bps / 100:.2f}% ({bps} bps)", {"commission_bps": bps}
        case m.ChangeMinStake(amount=amount):
            return f"minimum stake to {ton_text(amount)} TON", {"min_stake": amount}
        case m.ChangeEpochLength(seconds=seconds):
            return f"epoch length to {seconds} s", {"epoch_length": seconds}
        case m.ChangeOracleKeys(quorum=quorum, keys=keys):
            count = len(m.oracle_keys_from_cell(keys))
            return f"oracle keys to {quorum} of {count}", {"oracle_quorum": quorum}
        case m.ChangeAdmin(nominee=nominee):
            return f"admin to {raw_address(nominee)}", {"admin": raw_address(nominee)}
        case m.ChangePauser(nominee=nominee):
            return f"pauser to {raw_address(nominee)}", {"pauser": raw_address(nominee)}
        case m.UpgradeContract(target=target, code=code):
            name = {0: "PoolOperator", 1: "ParticipantRegistry", 2: "RewardDistribution"}
            code_hash = code.hash.hex()
            return (
                f"code upgrade of {name.get(target, f'contract {target}')} to code hash "
                f"{code_hash}",
                {"upgrade_target": target, "code_hash": code_hash},
            )
        case m.ChangeMemberCap(cap=cap):
            return f"member cap to {cap or 'no cap'}", {"member_cap": cap}
    return type(change).__name__, {"change": type(change).__name__}  # pragma: no cover


def pool_events(state: Session, indexer: Session) -> list[Alert]:
    from cocoon_pool.indexer.models import IndexedEvent  # noqa: PLC0415

    alerts: list[Alert] = []
    cursor = get_cursor(state, "indexer_event")
    while True:
        events = indexer.scalars(
            select(IndexedEvent)
            .where(IndexedEvent.id > cursor, IndexedEvent.kind.in_(POOL_EVENTS))
            .order_by(IndexedEvent.id)
            .limit(BATCH)
        ).all()
        for event in events:
            cursor = event.id
            alert = _pool_event(event.kind, event.fields, event.pool, event.tx_hash, event.utime)
            if alert is not None:
                alerts.append(alert)
        if len(events) < BATCH:
            break
    set_cursor(state, "indexer_event", cursor)
    return alerts


def _pool_event(
    kind: str, fields: dict[str, Any], pool: str, tx_hash: str, utime: int
) -> Alert | None:
    facts: dict[str, Any] = {"pool": pool, "tx_hash": tx_hash, "event": kind}
    key = f"{kind}:{pool}:{tx_hash}"
    where = f"Pool {pool}, transaction {tx_hash}."
    if kind in ("ChangeProposed", "ChangeApplied", "ChangeCancelled"):
        what, more = describe_change(fields.get("change"))
        facts.update(more)
        if kind == "ChangeProposed":
            after = int(fields.get("apply_after", 0))
            facts["apply_after"] = after
            return Alert(
                kind="change_proposed",
                title=f"Change proposed: {what}",
                text=f"The admin proposed: {what}. It can be applied after {after} (unix); "
                f"members may leave before then.\n{where}",
                dedupe_key=f"change_proposed:{key}",
                occurred_at=utime,
                details=facts,
            )
        applied = kind == "ChangeApplied"
        return Alert(
            kind="change_applied" if applied else "change_cancelled",
            title=f"Change {'applied' if applied else 'cancelled'}: {what}",
            text=f"The timelocked change ({what}) was {'applied' if applied else 'cancelled'}."
            f"\n{where}",
            dedupe_key=f"change_{'applied' if applied else 'cancelled'}:{key}",
            occurred_at=utime,
            details=facts,
        )
    if kind == "RoleAccepted":
        role = {1: "admin", 2: "pauser"}.get(int(fields.get("role", 0)), "role")
        holder = str(fields.get("holder"))
        facts.update(role=role, holder=holder)
        return Alert(
            kind="role_accepted",
            title=f"New {role}: {short_address(holder)}",
            text=f"{holder} accepted the {role} role.\n{where}",
            dedupe_key=f"role_accepted:{key}",
            occurred_at=utime,
            details=facts,
        )
    status = int(fields.get("status", 0))
    names = {1: "pool_unpaused", 2: "pool_paused", 3: "pool_closing"}
    if status not in names:
        return None
    facts["status"] = status
    texts = {
        1: ("Pool unpaused", "The pool is active again: registrations, reports and epochs go on."),
        2: (
            "Pool paused",
            "The pool was paused: no registrations, reports or new epochs until it is unpaused. "
            "Members can still take out rewards and (after unbonding) their stake.",
        ),
        3: (
            "Pool closing",
            "The pool is winding down; the reserve is paid out with the last epoch.",
        ),
    }
    title, text = texts[status]
    return Alert(
        kind=names[status],
        title=title,
        text=f"{text}\n{where}",
        dedupe_key=f"{names[status]}:{key}",
        occurred_at=utime,
        details=facts,
    )


# -- indexer: payouts --------------------------------------------------------------------

MEMBERS_LISTED = 20


def payouts(state: Session, indexer: Session, enabled: bool) -> list[Alert]:
    from cocoon_pool.indexer.models import Payout  # noqa: PLC0415

    cursor = get_cursor(state, "indexer_payout")
    rows: list[Payout] = []
    while True:
        batch = indexer.scalars(
            select(Payout).where(Payout.id > cursor).order_by(Payout.id).limit(BATCH)
        ).all()
        rows.extend(batch)
        if batch:
            cursor = batch[-1].id
        if len(batch) < BATCH:
            break
    set_cursor(state, "indexer_payout", cursor)
    if not enabled:
        return []
    groups: dict[tuple[str, str, int | None], list[Payout]] = defaultdict(list)
    for row in rows:
        groups[(row.pool, row.kind, row.epoch)].append(row)
    return [
        _payout_alert(pool, kind, epoch, group) for (pool, kind, epoch), group in groups.items()
    ]


def _payout_alert(pool: str, kind: str, epoch: int | None, rows: Sequence[Any]) -> Alert:
    sent = sum(r.transferred for r in rows)
    kept = sum(1 for r in rows if not r.paid_now)
    what = f"epoch {epoch}" if kind == "reward" else "pending amounts"
    lines = [
        f"{short_address(r.member)}: {ton_text(r.transferred)} TON"
        + ("" if r.paid_now else f" (kept pending: {ton_text(r.amount)} TON)")
        for r in rows[:MEMBERS_LISTED]
    ]
    if len(rows) > MEMBERS_LISTED:
        lines.append(f"... and {len(rows) - MEMBERS_LISTED} more")
    kept_text = f", {kept} kept pending below the minimum payout" if kept else ""
    return Alert(
        kind="payouts",
        title=f"Payouts for {what}: {len(rows)} members, {ton_text(sent)} TON sent",
        text=f"Pool {pool}: {len(rows)} payouts{kept_text}.\n" + "\n".join(lines),
        dedupe_key=f"payouts:{pool}:{kind}:{epoch}:{rows[-1].id}",
        occurred_at=max(r.utime for r in rows),
        details={
            "pool": pool,
            "epoch": epoch,
            "payout_kind": kind,
            "count": len(rows),
            "sent_nanoton": sent,
            "kept_pending": kept,
            "tx_hashes": [r.tx_hash for r in rows],
        },
    )


# -- keeper ------------------------------------------------------------------------------


def keeper_failures(state: Session, keeper: Session, threshold: int) -> list[Alert]:
    from cocoon_pool.keeper.models import STATE_FAILED, Action  # noqa: PLC0415

    actions = keeper.scalars(
        select(Action)
        .where(Action.state == STATE_FAILED, Action.failures >= threshold)
        .order_by(Action.id)
    ).all()
    keys = {f"keeper_failure:{a.kind}:{a.epoch}:{a.member}": a for a in actions}
    known = set(
        state.scalars(select(AlertRow.dedupe_key).where(AlertRow.dedupe_key.in_(keys))).all()
    )
    alerts = []
    for key, action in keys.items():
        if key in known:
            continue
        who = f" for member {action.member}" if action.member else ""
        alerts.append(
            Alert(
                kind="keeper_failure",
                title=f"Keeper: {action.kind} of epoch {action.epoch} failing",
                text=(
                    f"The keeper's {action.kind} of epoch {action.epoch}{who} failed "
                    f"{action.failures} times in a row; it keeps retrying with backoff.\n"
                    f"Last error: {action.last_error or 'unknown'}"
                ),
                dedupe_key=key,
                occurred_at=action.updated_ms // 1000,
                details={
                    "action": action.kind,
                    "epoch": action.epoch,
                    "member": action.member or None,
                    "failures": action.failures,
                    "last_error": action.last_error,
                },
            )
        )
    return alerts


def keeper_health(
    state: Session, url: str, now: int, get: Callable[[str], httpx.Response]
) -> list[Alert]:
    """``keeper_unhealthy`` when ``/healthz`` stops answering 200, ``keeper_recovered``
    when it answers 200 again; one alert per change, not per round."""
    try:
        response = get(f"{url}/healthz")
        healthy, why = response.status_code == 200, f"/healthz answered {response.status_code}"
        if not healthy:
            why += f": {response.text[:200]}"
    except httpx.HTTPError as exc:
        healthy, why = False, f"/healthz unreachable: {type(exc).__name__}: {exc}"
    was_healthy = get_cursor(state, "keeper_healthy", 1) == 1
    since = get_cursor(state, "keeper_unhealthy_since", now)
    if healthy == was_healthy:
        return []
    set_cursor(state, "keeper_healthy", int(healthy))
    if not healthy:
        set_cursor(state, "keeper_unhealthy_since", now)
        return [
            Alert(
                kind="keeper_unhealthy",
                title="Keeper unhealthy",
                text=f"The keeper at {url} looks stuck or down: {why}.",
                dedupe_key=f"keeper_unhealthy:{url}:{now}",
                occurred_at=now,
                details={"url": url, "reason": why},
            )
        ]
    return [
        Alert(
            kind="keeper_recovered",
            title="Keeper healthy again",
            text=f"The keeper at {url} answers /healthz again after {now - since} s.",
            dedupe_key=f"keeper_recovered:{url}:{since}",
            occurred_at=now,
            details={"url": url, "unhealthy_since": since},
        )
    ]


def test_alert(now: int) -> Alert:
    """What `cocoon-pool alerts test` sends to every sink (sent directly, not stored)."""
    return Alert(
        kind="test",
        title="Test alert from cocoon-pool",
        text="If you read this, alerts from this pool reach this channel.",
        dedupe_key=f"test:{now}",
        occurred_at=now,
        created_at=now,
    )
