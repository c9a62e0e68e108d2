"""The alerts' words and rules without a chain: change descriptions, pool events, payout
summaries, amounts, retry pauses and the config schema's hints."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from ton_core import Address, Cell

from cocoon_pool.alerts import KINDS, Alert
from cocoon_pool.alerts.alert import severity_rank, short_address, ton_text
from cocoon_pool.alerts.config import RetryPolicy
from cocoon_pool.alerts.detectors import _payout_alert, _pool_event, describe_change
from cocoon_pool.alerts.schema import ALERT_HINTS, AlertsTable
from cocoon_pool.chain.types import cell_to_b64
from cocoon_pool.contracts import messages as m
from cocoon_pool.contracts.storage import STATUS_NAMES

POOL = "0:" + "ab" * 32
NOMINEE = Address("0:" + "cd" * 32)
STAKE = 2_500_000_000


def b64(change: m.ParameterChange) -> str:
    return cell_to_b64(change.to_cell())


@pytest.mark.parametrize(
    ("change", "text", "facts"),
    [
        (m.ChangeCommission(bps=1250), "commission to 12.50% (1250 bps)", {"commission_bps": 1250}),
        (m.ChangeMinStake(amount=STAKE), "minimum stake to 2.5 TON", {"min_stake": STAKE}),
        (m.ChangeEpochLength(seconds=86_400), "epoch length to 86400 s", {"epoch_length": 86_400}),
        (
            m.ChangeOracleKeys(quorum=2, keys=m.oracle_keys_cell([1, 2, 3])),
            "oracle keys to 2 of 3",
            {"oracle_quorum": 2},
        ),
        (m.ChangeAdmin(nominee=NOMINEE), f"admin to 0:{'cd' * 32}", {"admin": f"0:{'cd' * 32}"}),
        (m.ChangeMemberCap(cap=0), "member cap to no cap", {"member_cap": 0}),
        (m.ChangeMemberCap(cap=500), "member cap to 500", {"member_cap": 500}),
    ],
)  # fmt: skip
def test_every_parameter_change_is_described(
    change: m.ParameterChange, text: str, facts: dict[str, object]
) -> None:
    assert describe_change(b64(change)) == (text, facts)


def test_an_upgrade_names_the_contract_and_the_code_hash() -> None:
    code = Cell.one_from_boc(m.ChangeCommission(bps=1).to_cell().to_boc())
    text, facts = describe_change(b64(m.UpgradeContract(target=m.UPGRADE_DISTRIBUTION, code=code)))
    assert text == f"code upgrade of RewardDistribution to code hash {code.hash.hex()}"
    assert facts == {"upgrade_target": 2, "code_hash": code.hash.hex()}
    text, _ = describe_change(b64(m.UpgradeContract(target=9, code=code)))
    assert text.startswith("code upgrade of contract 9 ")


def test_an_unknown_or_damaged_change_is_still_an_alert() -> None:
    assert describe_change("not base64 at all")[0] == "an unknown parameter change"
    assert describe_change(None) == ("an unknown parameter change", {"change": "unknown"})


def test_pool_status_events() -> None:
    closing = _pool_event("StatusChanged", {"status": 3}, POOL, "aa" * 32, 100)
    assert closing is not None
    assert (closing.kind, closing.severity, closing.title) == (
        "pool_closing",
        "critical",
        "Pool closing",
    )
    assert closing.dedupe_key == f"pool_closing:StatusChanged:{POOL}:{'aa' * 32}"
    assert STATUS_NAMES[3] == "closing"
    # "undeployed" is no change an operator is told about.
    assert _pool_event("StatusChanged", {"status": 0}, POOL, "aa" * 32, 100) is None
    admin = _pool_event("RoleAccepted", {"role": 1, "holder": POOL}, POOL, "bb" * 32, 5)
    assert admin is not None and admin.title == "New admin: 0:abab…abab"


def _row(i: int, *, paid: bool = True, kind: str = "reward") -> SimpleNamespace:
    return SimpleNamespace(
        id=i,
        member=f"0:{i:064x}",
        transferred=1_000_000_000 * i if paid else 0,
        amount=1_000_000_000 * i,
        paid_now=paid,
        utime=1_000 + i,
        tx_hash=f"{i:064x}",
        kind=kind,
    )


def test_payouts_are_summed_per_epoch_and_listed_up_to_twenty() -> None:
    rows = [_row(i, paid=i != 3) for i in range(1, 26)]
    alert = _payout_alert(POOL, "reward", 4, rows)
    assert alert.title == f"Payouts for epoch 4: 25 members, {sum(range(1, 26)) - 3} TON sent"
    assert alert.dedupe_key == f"payouts:{POOL}:reward:4:25"
    assert alert.occurred_at == 1_025
    assert "24 payouts" not in alert.text and "25 payouts, 1 kept pending" in alert.text
    assert "(kept pending: 3 TON)" in alert.text
    assert alert.text.endswith("... and 5 more")
    assert alert.details["kept_pending"] == 1 and len(alert.details["tx_hashes"]) == 25
    pending = _payout_alert(POOL, "pending", None, [_row(1, kind="pending")])
    assert pending.title == "Payouts for pending amounts: 1 members, 1 TON sent"


def test_amounts_addresses_and_severities() -> None:
    assert [ton_text(n) for n in (0, 1, 10**9, 12_500_000_000, 10**18)] == [
        "0",
        "0.000000001",
        "1",
        "12.5",
        "1000000000",
    ]
    assert short_address("0:" + "12" * 32) == "0:1212…1212"
    assert short_address("0:abc") == "0:abc"
    assert [severity_rank(s) for s in ("info", "warning", "error", "critical")] == [0, 1, 2, 3]
    assert set(KINDS.values()) <= {"info", "warning", "error", "critical"}


def test_an_alert_takes_its_kinds_severity_unless_told() -> None:
    alert = Alert(kind="pool_paused", title="Pool paused", text="t", dedupe_key="k", occurred_at=1)
    assert alert.severity == "critical"
    assert alert.message() == "🚨 Pool paused\n\nt"
    loud = Alert(
        kind="payouts", title="p", text="t", dedupe_key="k", occurred_at=1, severity="error"
    )
    assert loud.as_dict()["severity"] == "error" and loud.message().startswith("❗ p")


def test_retry_pauses_double_and_stop_at_the_cap() -> None:
    policy = RetryPolicy(attempts=6, backoff=0.5, backoff_max=3.0)
    assert [policy.pause(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_every_key_of_the_table_has_a_hint() -> None:
    assert set(AlertsTable.model_fields) - {"poll_interval"} == set(ALERT_HINTS)
