"""PoolOperator on the real TVM: deploy, every admin operation, roles, pause, money paths.

Every refusal is checked for its exact exit code, for the sender getting the value back
minus the fees of the trace, and for the operator keeping its balance (minus storage) and
its state. Every applied change is checked in the get-methods of the operator and of the
child that must hear about it, and in the events the contracts emit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from ton_core import Address, Cell, HashMap, begin_cell

from cocoon_pool.chain.emulator import EmulatedChain, Wallet
from cocoon_pool.chain.types import Trace, Transaction, raw_address
from cocoon_pool.contracts import messages as m
from cocoon_pool.contracts import storage as st
from cocoon_pool.contracts import views as v
from cocoon_pool.contracts.addresses import derive_pool_addresses
from cocoon_pool.contracts.codec import TlbStruct
from cocoon_pool.contracts.constants import fee, tolk_constants, ton
from cocoon_pool.contracts.events import (
    ChangeApplied,
    ChangeCancelled,
    ChangeProposed,
    CommissionCollected,
    DistributionConfigured,
    EpochClosed,
    MemberRevoked,
    MemberVerified,
    OperatorStakeChanged,
    PoolDeployed,
    ReportWindowExtended,
    RewardSettled,
    RoleAccepted,
    StakeWithdrawn,
    StatusChanged,
)
from cocoon_pool.contracts.exit_codes import code
from cocoon_pool.contracts.pool import (
    Pool,
    PoolParams,
    deploy_value,
    operator_code,
    operator_init_data,
)
from cocoon_pool.contracts.reports import OracleSigner
from cocoon_pool.economics import MemberMetrics
from cocoon_pool.sandbox import PoolSandbox
from tracing import assert_refused_and_refunded, gain, one_event, payer_cost, same, storage_paid

LIMITS = tolk_constants("PoolOperator.tolk")
ADMIN_OP_FEE = fee("ADMIN_OP_FEE")
ORACLE = OracleSigner.from_seed_text("cocoon-pool-oracle")
NEW_ORACLE = OracleSigner.from_seed_text("another oracle")
DAY = 86_400


# ---------------------------------------------------------------- helpers


def sandbox_with(**overrides: Any) -> PoolSandbox:
    params = PoolParams(oracle_key=ORACLE.public_key, **overrides)
    return PoolSandbox.create(params=params)


def handling_tx(trace: Trace, address: Address) -> Transaction:
    """The first transaction on ``address``: the one that handled the injected operation."""
    return trace.find(address)


def link_view(chain: EmulatedChain, distribution: Address) -> tuple[Address | None, int, list[int]]:
    """(registry, oracle quorum, oracle keys in index order) as the distribution knows them."""
    result = chain.run_get_method(distribution, "links")
    keys = result[3]
    assert keys is None or isinstance(keys, Cell)
    return result.address_at(1), result.int_at(2), m.oracle_keys_from_cell(keys)


def oracle_map(keys: dict[int, int]) -> Cell | None:
    """A ``map<uint8, uint256>`` with keys at exactly the given indices (gaps allowed, unlike
    ``messages.oracle_keys_cell``), to build the sets the contract must refuse."""
    if not keys:
        return None
    table = HashMap(8, value_serializer=lambda value, b: b.store_uint(value, 256))
    for index, key in keys.items():
        table.set_int_key(index, key)
    return table.serialize()


def oracle_keys(count: int) -> list[int]:
    return [OracleSigner.from_seed_text(f"oracle {i}").public_key for i in range(count)]


@dataclass(frozen=True)
class RawOracleSetParams(PoolParams):
    """PoolParams with the oracle map given as is: PoolParams can only build contiguous sets."""

    keys_cell: Cell | None = None

    def config(self) -> st.PoolConfig:
        return replace(super().config(), oracle_keys=self.keys_cell)


@dataclass(frozen=True)
class OperatorState:
    info: v.PoolInfo
    roles: v.RolesView
    pending: tuple[bool, int, bytes | None]


def operator_state(pool: Pool) -> OperatorState:
    pending = pool.pending_change()
    change_hash = pending.change.hash if pending.change is not None else None
    return OperatorState(
        pool.pool_info(), pool.roles(), (pending.exists, pending.apply_after, change_hash)
    )


def send_refused(
    sb: PoolSandbox, wallet: Wallet, body: TlbStruct, expected: int, value: int = ADMIN_OP_FEE
) -> Trace:
    """Send ``body`` to the operator and check the exact refusal and the full refund."""
    pool, chain = sb.pool, sb.chain
    wallet_before = wallet.balance
    operator_before = chain.get_balance(pool.operator)
    state_before = operator_state(pool)
    trace = pool.admin_call(wallet, body, value=value)
    assert_refused_and_refunded(
        trace,
        chain,
        wallet,
        pool.operator,
        value=value,
        expected=expected,
        payer_before=wallet_before,
        contract_before=operator_before,
    )
    assert operator_state(pool) == state_before
    return trace


def send_ok(sb: PoolSandbox, wallet: Wallet, body: TlbStruct, value: int = ADMIN_OP_FEE) -> Trace:
    """Send ``body`` and check that the operator kept exactly its balance from before it."""
    operator_before = sb.chain.get_balance(sb.pool.operator)
    trace = sb.pool.admin_call(wallet, body, value=value).assert_success()
    tx = handling_tx(trace, sb.pool.operator)
    # keepBalanceBeforeMessage: the handler itself never spends the operator's money
    # (DepositOperatorStake keeps the deposit on purpose, checked by its own test).
    if not isinstance(body, m.DepositOperatorStake | m.EmergencyWithdraw):
        assert tx.balance_after == operator_before - tx.storage_fees, trace.describe()
    return trace


def propose(sb: PoolSandbox, change: m.ParameterChange) -> Trace:
    return send_ok(sb, sb.admin, m.ProposeChange(query_id=7, change=change.to_cell()))


def propose_and_apply(sb: PoolSandbox, change: m.ParameterChange) -> Trace:
    propose(sb, change)
    sb.chain.set_now(sb.pool.pending_change().apply_after)
    return send_ok(sb, sb.admin, m.ApplyChange())


def member_metrics(uptime_bps: int = 9_000) -> MemberMetrics:
    return MemberMetrics(500_000, 1_000, uptime_bps, 0)


# ---------------------------------------------------------------- deploy


def test_deploy_creates_both_children_where_the_getters_say(sandbox: PoolSandbox) -> None:
    sb, pool, chain, params = sandbox, sandbox.pool, sandbox.chain, sandbox.params
    info = pool.pool_info()
    assert info.registry is not None and info.distribution is not None
    assert raw_address(info.registry) == raw_address(pool.registry)
    assert raw_address(info.distribution) == raw_address(pool.distribution)
    derived = derive_pool_addresses(sb.admin.address, params, sb.pauser.address)
    assert raw_address(derived.operator) == raw_address(pool.operator)
    assert raw_address(derived.registry) == raw_address(info.registry)
    assert raw_address(derived.distribution) == raw_address(info.distribution)

    trace = sb.deploy_trace
    init_registry = trace.find(info.registry, m.InitRegistry.PREFIX)
    init_distribution = trace.find(info.distribution, m.InitDistribution.PREFIX)
    for tx in (init_registry, init_distribution):
        assert tx.success and tx.orig_status in ("nonexist", "uninit") and tx.end_status == "active"
    deployed = one_event(trace, PoolDeployed, pool.operator)
    assert raw_address(deployed.registry) == raw_address(info.registry)
    assert raw_address(deployed.distribution) == raw_address(info.distribution)

    assert info.status == st.STATUS_ACTIVE
    assert info.operator_stake == ton(10)
    assert (info.commission_bps, info.min_stake) == (params.commission_bps, params.min_stake)
    assert (info.epoch_length, info.report_grace) == (params.epoch_length, params.report_grace)

    registry = pool.registry_info()
    assert raw_address(registry.pool) == raw_address(pool.operator)
    assert registry.distribution is not None
    assert raw_address(registry.distribution) == raw_address(pool.distribution)
    assert (registry.min_stake, registry.unbonding_seconds) == (
        params.min_stake,
        params.unbonding_seconds,
    )
    assert not registry.paused and not registry.closing
    ledger = pool.ledger()
    assert (ledger.current_epoch, ledger.epoch_start) == (1, chain.now)
    assert (ledger.commission_bps, ledger.epoch_length) == (
        params.commission_bps,
        params.epoch_length,
    )
    assert (ledger.report_grace, ledger.min_payout) == (params.report_grace, params.min_payout)
    linked_registry, quorum, keys = link_view(chain, pool.distribution)
    assert linked_registry is not None and raw_address(linked_registry) == raw_address(
        pool.registry
    )
    # The oracle set replaced the single key: by default key 0 alone, a 1-of-1 quorum.
    assert (quorum, keys) == (1, [params.oracle_key])
    assert (info.oracle_quorum, m.oracle_keys_from_cell(info.oracle_keys)) == (
        1,
        [params.oracle_key],
    )
    # The children keep exactly their storage floors; the rest came back to the operator.
    assert chain.get_balance(pool.registry) == fee("REGISTRY_STORAGE_FLOOR")
    assert chain.get_balance(pool.distribution) == fee("DISTRIBUTION_STORAGE_FLOOR")


def test_deploying_twice_is_refused(sandbox: PoolSandbox) -> None:
    send_refused(sandbox, sandbox.admin, m.DeployPool(), code("ALREADY_DEPLOYED"), value=ton(11))


def _raw_deploy(
    chain: EmulatedChain, sender: Wallet, admin: Wallet, params: PoolParams, value: int
) -> tuple[Address, Trace]:
    # Bounceable, unlike Pool.deploy: a refused deploy must give the value back.
    data = operator_init_data(admin.address, admin.address, params)
    body = m.DeployPool().to_cell()
    return chain.deploy(operator_code(), data, value, sender, body=body, bounce=True)


@pytest.mark.parametrize(
    ("overrides", "shortfall", "expected"),
    [
        ({}, 1, "OPERATOR_STAKE_TOO_LOW"),
        ({}, 0, None),
        ({"min_operator_stake": ton(50)}, 1, "OPERATOR_STAKE_TOO_LOW"),
        ({"commission_bps": LIMITS["COMMISSION_MIN_BPS"] - 1}, 0, "COMMISSION_OUT_OF_RANGE"),
        ({"commission_bps": LIMITS["COMMISSION_MIN_BPS"]}, 0, None),
        ({"commission_bps": LIMITS["COMMISSION_MAX_BPS"]}, 0, None),
        ({"commission_bps": LIMITS["COMMISSION_MAX_BPS"] + 1}, 0, "COMMISSION_OUT_OF_RANGE"),
        (
            {"epoch_length": LIMITS["MIN_EPOCH_LENGTH"] - 1, "report_grace": 60},
            0,
            "EPOCH_LENGTH_OUT_OF_RANGE",
        ),
        ({"epoch_length": 7200, "report_grace": 3601}, 0, "EPOCH_LENGTH_OUT_OF_RANGE"),
        ({"min_stake": LIMITS["MIN_STAKE_FLOOR"] - 1}, 0, "MIN_STAKE_TOO_LOW"),
        ({"timelock_seconds": LIMITS["MIN_TIMELOCK"] - 1}, 0, "TIMELOCK_TOO_SHORT"),
    ],
)
def test_deploy_checks_value_and_config(
    chain: EmulatedChain, overrides: dict[str, Any], shortfall: int, expected: str | None
) -> None:
    params = PoolParams(oracle_key=ORACLE.public_key, **overrides)
    _check_deploy(chain, params, deploy_value(params, 0) - shortfall, expected)


# Oracle sets the operator must refuse (BAD_ORACLE_SET) or take, at deploy and at propose:
# 1 <= quorum <= n <= 16 keys at indices 0..n-1. (quorum, {index: key}, refused).
_KEYS = oracle_keys(17)
ORACLE_SETS = {
    "quorum-0": (0, dict(enumerate(_KEYS[:3])), True),
    "quorum-above-n": (4, dict(enumerate(_KEYS[:3])), True),
    "17-keys": (1, dict(enumerate(_KEYS)), True),
    "gap-at-2": (1, {0: _KEYS[0], 1: _KEYS[1], 3: _KEYS[3]}, True),
    "starts-at-1": (1, {1: _KEYS[1], 2: _KEYS[2]}, True),
    "no-keys": (1, {}, True),
    "1-of-1": (1, {0: _KEYS[0]}, False),
    "2-of-3": (2, dict(enumerate(_KEYS[:3])), False),
    "16-of-16": (16, dict(enumerate(_KEYS[:16])), False),
}


@pytest.mark.parametrize("name", list(ORACLE_SETS))
def test_deploy_checks_the_oracle_set(chain: EmulatedChain, name: str) -> None:
    quorum, keys, refused = ORACLE_SETS[name]
    params = RawOracleSetParams(
        oracle_key=ORACLE.public_key, oracle_quorum=quorum, keys_cell=oracle_map(keys)
    )
    expected = "BAD_ORACLE_SET" if refused else None
    pool = Pool(chain, _check_deploy(chain, params, deploy_value(params, 0), expected))
    if not refused:
        # Both the operator and the distribution hold the set exactly as deployed.
        info = pool.pool_info()
        assert info.oracle_quorum == quorum
        assert m.oracle_keys_from_cell(info.oracle_keys) == list(keys.values())
        assert link_view(chain, pool.distribution)[1:] == (quorum, list(keys.values()))


def _check_deploy(
    chain: EmulatedChain, params: PoolParams, value: int, expected: str | None
) -> Address:
    """Deploy with ``value``: either it succeeds exactly at the minimum stake, or the operator
    refuses with ``expected``, bounces the value and deploys no child. Returns the operator."""
    admin = chain.create_wallet("admin", ton(1_000))
    before = admin.balance
    operator, trace = _raw_deploy(chain, admin, admin, params, value)
    tx = handling_tx(trace, operator)
    if expected is None:
        trace.assert_success()
        pool = Pool(chain, operator)
        # Exactly the minimum: the operator stake is the minimum, to the nanoton.
        assert pool.pool_info().operator_stake == params.min_operator_stake
        assert pool.pool_info().status == st.STATUS_ACTIVE
        return operator
    assert tx.exit_code == code(expected), trace.describe()
    (bounce,) = tx.internal_out
    assert bounce.bounced
    assert bounce.value == value - tx.total_fees - bounce.fwd_fee
    assert admin.balance == before - payer_cost(trace, admin.address)
    assert chain.get_balance(operator) == 0
    assert len(trace) == 3  # no child was deployed
    return operator


def test_deploy_by_someone_else_is_refused_and_the_admin_can_still_deploy(
    chain: EmulatedChain,
) -> None:
    admin = chain.create_wallet("admin", ton(1_000))
    stranger = chain.create_wallet("stranger", ton(1_000))
    params = PoolParams(oracle_key=ORACLE.public_key)
    value = deploy_value(params, 0)
    before = stranger.balance
    operator, trace = _raw_deploy(chain, stranger, admin, params, value)
    assert handling_tx(trace, operator).exit_code == code("NOT_ADMIN")
    assert stranger.balance == before - payer_cost(trace, stranger.address)
    assert chain.get_balance(operator) == 0
    _, trace = _raw_deploy(chain, admin, admin, params, value)
    trace.assert_success()
    assert Pool(chain, operator).pool_info().status == st.STATUS_ACTIVE


# ---------------------------------------------------------------- parameter changes


def _check_commission(sb: PoolSandbox, trace: Trace) -> None:
    assert sb.pool.pool_info().commission_bps == 1_200
    # New rule: the distribution holds the rate back for the next epoch, so the open epoch's
    # income keeps the rate it came in at (test_commission_change_applies_from_the_next_epoch).
    ledger = sb.pool.ledger()
    assert (ledger.current_epoch, ledger.commission_bps) == (1, 1_000)
    assert (ledger.next_commission_bps, ledger.next_commission_epoch) == (1_200, 2)
    configured = one_event(trace, DistributionConfigured, sb.pool.distribution)
    assert (configured.commission_bps, configured.paused) == (1_200, False)


def _check_min_stake(sb: PoolSandbox, trace: Trace) -> None:
    assert sb.pool.pool_info().min_stake == ton(20)
    assert sb.pool.registry_info().min_stake == ton(20)
    assert trace.find(sb.pool.registry, m.UpdateRegistryConfig.PREFIX).success
    below = sb.pool.register(sb.wallet("late"), ton(20) - 1)
    assert below.find(sb.pool.registry).exit_code == code("STAKE_BELOW_MINIMUM")


def _check_epoch_length(sb: PoolSandbox, trace: Trace) -> None:
    assert sb.pool.pool_info().epoch_length == 14 * 86_400
    assert sb.pool.ledger().epoch_length == 14 * 86_400
    configured = one_event(trace, DistributionConfigured, sb.pool.distribution)
    assert configured.epoch_length == 14 * 86_400


def _check_oracle_keys(sb: PoolSandbox, trace: Trace) -> None:
    info = sb.pool.pool_info()
    assert (info.oracle_quorum, m.oracle_keys_from_cell(info.oracle_keys)) == (
        1,
        [NEW_ORACLE.public_key],
    )
    assert link_view(sb.chain, sb.pool.distribution)[1:] == (1, [NEW_ORACLE.public_key])
    one_event(trace, DistributionConfigured, sb.pool.distribution)


def _check_nominee(role: int) -> Callable[[PoolSandbox, Trace], None]:
    def check(sb: PoolSandbox, trace: Trace) -> None:
        roles = sb.pool.roles()
        nominee = sb.wallet("nominee").address
        assert roles.nominee is not None and raw_address(roles.nominee) == raw_address(nominee)
        assert roles.nominee_role == role
        # Nothing changes hands until the nominee accepts.
        assert raw_address(roles.admin) == raw_address(sb.admin.address)
        assert raw_address(roles.pauser) == raw_address(sb.pauser.address)
        assert len(trace.find_all(sb.admin.address, m.ReturnExcesses.PREFIX)) == 1

    return check


def _upgrade_target(sb: PoolSandbox, target: int) -> Address:
    return (sb.pool.operator, sb.pool.registry, sb.pool.distribution)[target]


CHANGES: list[tuple[str, Callable[[PoolSandbox], m.ParameterChange]]] = [
    ("commission", lambda sb: m.ChangeCommission(bps=1_200)),
    ("min_stake", lambda sb: m.ChangeMinStake(amount=ton(20))),
    ("epoch_length", lambda sb: m.ChangeEpochLength(seconds=14 * 86_400)),
    (
        "oracle_keys",
        lambda sb: m.ChangeOracleKeys(quorum=1, keys=m.oracle_keys_cell([NEW_ORACLE.public_key])),
    ),
    ("admin", lambda sb: m.ChangeAdmin(nominee=sb.wallet("nominee").address)),
    ("pauser", lambda sb: m.ChangePauser(nominee=sb.wallet("nominee").address)),
]
CHECKS: dict[str, Callable[[PoolSandbox, Trace], None]] = {
    "commission": _check_commission,
    "min_stake": _check_min_stake,
    "epoch_length": _check_epoch_length,
    "oracle_keys": _check_oracle_keys,
    "admin": _check_nominee(st.ROLE_ADMIN),
    "pauser": _check_nominee(st.ROLE_PAUSER),
}
# The wait with the default parameters (timelock 2 d, unbonding 7 d, epoch 7 d + 1 d grace).
# New rule: epoch length, oracle keys and upgrades wait until every member could have left
# first, max(timelock, unbonding, max(old, new epoch) + grace); the others the plain timelock.
DELAYS = {
    "commission": 2 * DAY,
    "min_stake": 2 * DAY,
    "epoch_length": 15 * DAY,  # the new 14 d epoch + 1 d grace
    "oracle_keys": 8 * DAY,
    "admin": 2 * DAY,
    "pauser": 2 * DAY,
}


@pytest.mark.parametrize(("name", "make"), CHANGES, ids=[n for n, _ in CHANGES])
def test_change_waits_for_the_timelock_then_applies_everywhere(
    sandbox: PoolSandbox, name: str, make: Callable[[PoolSandbox], m.ParameterChange]
) -> None:
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    change = make(sb)
    trace = propose(sb, change)
    proposed = one_event(trace, ChangeProposed, pool.operator)
    assert proposed.apply_after == chain.now + DELAYS[name]
    assert m.parse_parameter_change(proposed.change) == change
    pending = pool.pending_change()
    assert pending.exists and pending.apply_after == proposed.apply_after
    assert pending.change is not None and m.parse_parameter_change(pending.change) == change

    chain.set_now(proposed.apply_after - 1)
    send_refused(sb, sb.admin, m.ApplyChange(), code("TIMELOCK_NOT_EXPIRED"))
    chain.set_now(proposed.apply_after)
    trace = send_ok(sb, sb.admin, m.ApplyChange())
    applied = one_event(trace, ChangeApplied, pool.operator)
    assert m.parse_parameter_change(applied.change) == change
    assert not pool.pending_change().exists
    CHECKS[name](sb, trace)
    send_refused(sb, sb.admin, m.ApplyChange(), code("NO_PENDING_CHANGE"))


@pytest.mark.parametrize("target", [m.UPGRADE_POOL, m.UPGRADE_REGISTRY, m.UPGRADE_DISTRIBUTION])
def test_code_upgrade_replaces_the_target_code_only(
    sandbox: PoolSandbox, counter_code: Cell, target: int
) -> None:
    sb, chain = sandbox, sandbox.chain
    address = _upgrade_target(sb, target)
    before = {a.hash_part: chain.get_state(a) for a in (sb.pool.registry, sb.pool.distribution)}
    before[sb.pool.operator.hash_part] = chain.get_state(sb.pool.operator)
    trace = propose_and_apply(sb, m.UpgradeContract(target=target, code=counter_code))
    one_event(trace, ChangeApplied, sb.pool.operator)
    if target != m.UPGRADE_POOL:
        assert trace.find(address, m.UpgradeCode.PREFIX).success
    for key, old in before.items():
        new = chain.get_state(Address((0, key)))
        assert new.data is not None and old.data is not None and old.code is not None
        assert new.code is not None
        if key == address.hash_part:
            assert new.code.hash == counter_code.hash
        else:
            assert new.code.hash == old.code.hash
        if key != sb.pool.operator.hash_part:
            assert new.data.hash == old.data.hash  # only the code moves, never the state


def test_upgrade_to_an_unknown_target_is_refused(sandbox: PoolSandbox, counter_code: Cell) -> None:
    body = m.ProposeChange(
        query_id=1, change=m.UpgradeContract(target=3, code=counter_code).to_cell()
    )
    send_refused(sandbox, sandbox.admin, body, code("UNKNOWN_UPGRADE_TARGET"))


def test_unknown_change_kind_is_refused(sandbox: PoolSandbox) -> None:
    bogus = begin_cell().store_uint(0x09, 8).store_uint(1_200, 16).end_cell()
    send_refused(
        sandbox,
        sandbox.admin,
        m.ProposeChange(query_id=1, change=bogus),
        code("UNKNOWN_PARAMETER_CHANGE"),
    )


@pytest.mark.parametrize(
    ("change", "report_grace", "expected"),
    [
        (m.ChangeCommission(bps=499), 86_400, "COMMISSION_OUT_OF_RANGE"),
        (m.ChangeCommission(bps=500), 86_400, None),
        (m.ChangeCommission(bps=1_500), 86_400, None),
        (m.ChangeCommission(bps=1_501), 86_400, "COMMISSION_OUT_OF_RANGE"),
        (m.ChangeMinStake(amount=ton("0.1") - 1), 86_400, "MIN_STAKE_TOO_LOW"),
        (m.ChangeMinStake(amount=ton("0.1")), 86_400, None),
        (m.ChangeEpochLength(seconds=3_599), 1_800, "EPOCH_LENGTH_OUT_OF_RANGE"),
        (m.ChangeEpochLength(seconds=3_600), 1_800, None),
        (m.ChangeEpochLength(seconds=2_592_000), 86_400, None),
        (m.ChangeEpochLength(seconds=2_592_001), 86_400, "EPOCH_LENGTH_OUT_OF_RANGE"),
        # The report window must fit twice in an epoch.
        (m.ChangeEpochLength(seconds=172_799), 86_400, "EPOCH_LENGTH_OUT_OF_RANGE"),
        (m.ChangeEpochLength(seconds=172_800), 86_400, None),
    ],
    ids=lambda v: repr(v) if isinstance(v, m.ParameterChange) else str(v),
)
def test_change_bounds(change: m.ParameterChange, report_grace: int, expected: str | None) -> None:
    sb = sandbox_with(report_grace=report_grace)
    body = m.ProposeChange(query_id=1, change=change.to_cell())
    if expected is not None:
        send_refused(sb, sb.admin, body, code(expected))
        return
    propose_and_apply(sb, change)
    info, ledger, registry = sb.pool.pool_info(), sb.pool.ledger(), sb.pool.registry_info()
    if isinstance(change, m.ChangeCommission):
        # New rule: the distribution takes the rate from epoch 2 on (the open one keeps 1,000).
        assert info.commission_bps == ledger.next_commission_bps == change.bps
        assert (ledger.commission_bps, ledger.next_commission_epoch) == (1_000, 2)
    elif isinstance(change, m.ChangeMinStake):
        assert info.min_stake == registry.min_stake == change.amount
    elif isinstance(change, m.ChangeEpochLength):
        assert info.epoch_length == ledger.epoch_length == change.seconds


def test_cancel_and_one_change_at_a_time(sandbox: PoolSandbox) -> None:
    sb, pool = sandbox, sandbox.pool
    send_refused(sb, sb.admin, m.CancelChange(), code("NO_PENDING_CHANGE"))
    send_refused(sb, sb.admin, m.ApplyChange(), code("NO_PENDING_CHANGE"))
    first = m.ChangeCommission(bps=700)
    propose(sb, first)
    second = m.ProposeChange(query_id=2, change=m.ChangeMinStake(amount=ton(1)).to_cell())
    send_refused(sb, sb.admin, second, code("CHANGE_ALREADY_PENDING"))
    pending = pool.pending_change().change
    assert pending is not None and m.parse_parameter_change(pending) == first

    trace = send_ok(sb, sb.admin, m.CancelChange())
    cancelled = one_event(trace, ChangeCancelled, pool.operator)
    assert m.parse_parameter_change(cancelled.change) == first
    assert not pool.pending_change().exists
    # The refund of a cancel goes to the admin, in the same trace.
    assert trace.find(sb.admin.address, m.ReturnExcesses.PREFIX).in_message is not None
    sb.chain.advance(sb.params.timelock_seconds)
    send_refused(sb, sb.admin, m.ApplyChange(), code("NO_PENDING_CHANGE"))
    assert pool.pool_info().commission_bps == pool.ledger().commission_bps == 1_000
    # A new proposal is possible again, and restarts the timelock.
    trace = propose(sb, m.ChangeMinStake(amount=ton(1)))
    assert one_event(trace, ChangeProposed).apply_after == sb.chain.now + sb.params.timelock_seconds


_UPGRADE = begin_cell().store_uint(0, 8).end_cell()


@pytest.mark.parametrize(
    ("overrides", "change", "delay"),
    [
        # The plain timelock, however long unbonding or the epoch is.
        ({}, m.ChangeCommission(bps=1_200), 2 * DAY),
        ({"unbonding_seconds": 20 * DAY}, m.ChangeCommission(bps=1_200), 2 * DAY),
        ({"epoch_length": 30 * DAY}, m.ChangeMinStake(amount=ton(20)), 2 * DAY),
        (
            {"unbonding_seconds": 20 * DAY},
            m.ChangeAdmin(nominee=Address("0:" + "ab" * 32)),
            2 * DAY,
        ),
        ({"timelock_seconds": 3 * DAY}, m.ChangePauser(nominee=Address("0:" + "cd" * 32)), 3 * DAY),
        # max(timelock, unbonding, max(old, new epoch) + grace), each term winning once.
        ({}, m.ChangeEpochLength(seconds=14 * DAY), 15 * DAY),  # new epoch + grace
        ({}, m.ChangeEpochLength(seconds=3 * DAY), 8 * DAY),  # old epoch + grace
        ({"unbonding_seconds": 20 * DAY}, m.ChangeEpochLength(seconds=14 * DAY), 20 * DAY),
        ({"timelock_seconds": 16 * DAY}, m.ChangeEpochLength(seconds=14 * DAY), 16 * DAY),
        ({}, m.ChangeOracleKeys(quorum=1, keys=m.oracle_keys_cell([_KEYS[0]])), 8 * DAY),
        (
            {"unbonding_seconds": 9 * DAY},
            m.ChangeOracleKeys(quorum=1, keys=m.oracle_keys_cell([_KEYS[0]])),
            9 * DAY,
        ),
        (
            {"timelock_seconds": 10 * DAY},
            m.ChangeOracleKeys(quorum=1, keys=m.oracle_keys_cell([_KEYS[0]])),
            10 * DAY,
        ),
        ({}, m.UpgradeContract(target=m.UPGRADE_DISTRIBUTION, code=_UPGRADE), 8 * DAY),
        (
            {"epoch_length": 30 * DAY, "report_grace": 2 * DAY},
            m.UpgradeContract(target=m.UPGRADE_POOL, code=_UPGRADE),
            32 * DAY,
        ),
        (
            {"unbonding_seconds": 21 * DAY},
            m.UpgradeContract(target=m.UPGRADE_REGISTRY, code=_UPGRADE),
            21 * DAY,
        ),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, m.ParameterChange) else str(v),
)
def test_money_changes_wait_until_members_could_leave(
    overrides: dict[str, int], change: m.ParameterChange, delay: int
) -> None:
    sb = sandbox_with(**overrides)
    trace = propose(sb, change)
    apply_after = sb.chain.now + delay
    assert one_event(trace, ChangeProposed, sb.pool.operator).apply_after == apply_after
    pending = sb.pool.pending_change()
    assert (pending.exists, pending.apply_after) == (True, apply_after)
    sb.chain.set_now(apply_after - 1)
    send_refused(sb, sb.admin, m.ApplyChange(), code("TIMELOCK_NOT_EXPIRED"))


@pytest.mark.parametrize("name", list(ORACLE_SETS))
def test_propose_checks_the_oracle_set(sandbox: PoolSandbox, name: str) -> None:
    quorum, keys, refused = ORACLE_SETS[name]
    change = m.ChangeOracleKeys(quorum=quorum, keys=oracle_map(keys))
    if refused:
        body = m.ProposeChange(query_id=1, change=change.to_cell())
        send_refused(sandbox, sandbox.admin, body, code("BAD_ORACLE_SET"))
        return
    propose(sandbox, change)
    pending = sandbox.pool.pending_change()
    assert pending.exists and pending.change is not None
    assert m.parse_parameter_change(pending.change) == change


def test_two_of_three_oracle_set_reaches_the_distribution(sandbox: PoolSandbox) -> None:
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    member = sb.add_member("gpu")
    signers = [OracleSigner.from_seed_text(f"quorum oracle {i}") for i in range(3)]
    keys = [s.public_key for s in signers]
    trace = propose_and_apply(sb, m.ChangeOracleKeys(quorum=2, keys=m.oracle_keys_cell(keys)))
    one_event(trace, DistributionConfigured, pool.distribution)
    info = pool.pool_info()
    assert (info.oracle_quorum, m.oracle_keys_from_cell(info.oracle_keys)) == (2, keys)
    registry, quorum, linked_keys = link_view(chain, pool.distribution)
    assert same(registry, pool.registry) and (quorum, linked_keys) == (2, keys)

    # The set is the one reports are checked against: one key no longer suffices, the old
    # key is no longer key 0, there is no key 3; any two of the three are a quorum.
    sb.close_epoch()
    for signing, expected in (
        ([(1, signers[1])], "ORACLE_QUORUM_NOT_REACHED"),
        ([(0, ORACLE), (1, signers[1])], "BAD_SIGNATURE"),
        ([(1, signers[1]), (3, ORACLE)], "UNKNOWN_ORACLE_KEY"),
    ):
        refused = pool.submit_report(sb.keeper, signing, member.address, 1, member_metrics())
        assert refused.find(pool.distribution).exit_code == code(expected), refused.describe()
    pair = [(0, signers[0]), (2, signers[2])]
    pool.submit_report(sb.keeper, pair, member.address, 1, member_metrics()).assert_success()
    assert pool.reporting_epoch().reporters == 1


def test_commission_change_applies_from_the_next_epoch(sandbox: PoolSandbox) -> None:
    # New rule: income already in the open epoch keeps the rate it came in at.
    sb, pool = sandbox, sandbox.pool
    pool.send_income(sb.proxy, ton(100)).assert_success()
    propose_and_apply(sb, m.ChangeCommission(bps=1_500))
    first = one_event(sb.close_epoch(), EpochClosed)
    assert first.epoch == 1
    assert first.commission == first.received * 1_000 // 10_000
    ledger = pool.ledger()
    assert (ledger.current_epoch, ledger.commission_bps) == (2, 1_000)
    assert (ledger.next_commission_bps, ledger.next_commission_epoch) == (1_500, 2)

    pool.send_income(sb.proxy, ton(100)).assert_success()
    second = one_event(sb.close_epoch(), EpochClosed)
    assert second.epoch == 2
    assert second.commission == second.received * 1_500 // 10_000
    ledger = pool.ledger()
    assert (ledger.current_epoch, ledger.commission_bps) == (3, 1_500)
    assert (ledger.next_commission_bps, ledger.next_commission_epoch) == (0, 0)
    assert ledger.commission_unpaid == first.commission + second.commission
    sb.assert_conserved()


@pytest.mark.parametrize("value", [ton("0.005"), ton("0.008"), ADMIN_OP_FEE - 1])
def test_apply_with_too_little_value_changes_nothing(sandbox: PoolSandbox, value: int) -> None:
    # Before the fix, 0.005-0.008 TON applied the change in the operator while the message
    # to the distribution ran out of gas: the two disagreed on the commission for good.
    sb = sandbox
    propose(sb, m.ChangeCommission(bps=1_300))
    sb.chain.advance(sb.params.timelock_seconds)
    send_refused(sb, sb.admin, m.ApplyChange(), code("OPERATOR_FEE_TOO_LOW"), value=value)
    ledger = sb.pool.ledger()
    assert sb.pool.pool_info().commission_bps == ledger.commission_bps == 1_000
    assert (ledger.next_commission_bps, ledger.next_commission_epoch) == (0, 0)
    send_ok(sb, sb.admin, m.ApplyChange())
    # The distribution heard of it: scheduled for the next epoch (new rule), never lost.
    ledger = sb.pool.ledger()
    assert sb.pool.pool_info().commission_bps == ledger.next_commission_bps == 1_300
    assert (ledger.commission_bps, ledger.next_commission_epoch) == (1_000, 2)


# ---------------------------------------------------------------- roles


def test_admin_handover_is_two_step(sandbox: PoolSandbox) -> None:
    sb, pool = sandbox, sandbox.pool
    old, new, stranger = sb.admin, sb.wallet("nominee"), sb.wallet("stranger")
    send_refused(sb, new, m.AcceptRole(), code("NOT_NOMINEE"))  # nobody nominated yet
    propose_and_apply(sb, m.ChangeAdmin(nominee=new.address))
    for wallet in (stranger, old, sb.pauser):
        send_refused(sb, wallet, m.AcceptRole(), code("NOT_NOMINEE"))
    # The old admin keeps its rights until the nominee accepts.
    send_ok(sb, old, m.DepositOperatorStake(), value=ADMIN_OP_FEE + 1)

    trace = send_ok(sb, new, m.AcceptRole())
    accepted = one_event(trace, RoleAccepted, pool.operator)
    assert accepted.role == st.ROLE_ADMIN
    assert raw_address(accepted.holder) == raw_address(new.address)
    roles = pool.roles()
    assert raw_address(roles.admin) == raw_address(new.address)
    assert raw_address(roles.pauser) == raw_address(sb.pauser.address)
    assert (roles.nominee, roles.nominee_role) == (None, 0)
    send_refused(sb, new, m.AcceptRole(), code("NOT_NOMINEE"))

    for body in (
        m.ProposeChange(query_id=1, change=m.ChangeCommission(bps=900).to_cell()),
        m.UnpausePool(),
        m.CollectCommission(),
        m.ClosePool(),
        m.DepositOperatorStake(),
    ):
        send_refused(sb, old, body, code("NOT_ADMIN"))
    sb.admin = new
    propose_and_apply(sb, m.ChangeCommission(bps=900))
    # Scheduled for the next epoch (new rule): the new admin's change reached the distribution.
    assert pool.ledger().next_commission_bps == 900


def test_pauser_handover_is_two_step(sandbox: PoolSandbox) -> None:
    sb, pool = sandbox, sandbox.pool
    old, new = sb.pauser, sb.wallet("nominee")
    propose_and_apply(sb, m.ChangePauser(nominee=new.address))
    send_refused(sb, sb.admin, m.AcceptRole(), code("NOT_NOMINEE"))
    send_refused(sb, old, m.AcceptRole(), code("NOT_NOMINEE"))
    trace = send_ok(sb, new, m.AcceptRole())
    accepted = one_event(trace, RoleAccepted, pool.operator)
    assert (accepted.role, raw_address(accepted.holder)) == (
        st.ROLE_PAUSER,
        raw_address(new.address),
    )
    roles = pool.roles()
    assert raw_address(roles.pauser) == raw_address(new.address)
    assert raw_address(roles.admin) == raw_address(sb.admin.address)
    send_refused(sb, old, m.PausePool(), code("NOT_PAUSER"))
    send_ok(sb, new, m.PausePool())
    assert pool.pool_info().status == st.STATUS_PAUSED


# ---------------------------------------------------------------- pause


@pytest.mark.parametrize("who", ["pauser", "admin"])
def test_pause_and_unpause_reach_both_children(sandbox: PoolSandbox, who: str) -> None:
    sb, pool = sandbox, sandbox.pool
    pauser = sb.pauser if who == "pauser" else sb.admin
    trace = send_ok(sb, pauser, m.PausePool())
    assert one_event(trace, StatusChanged, pool.operator).status == st.STATUS_PAUSED
    assert one_event(trace, DistributionConfigured, pool.distribution).paused
    assert trace.find(pool.registry, m.SetPaused.PREFIX).success
    assert pool.pool_info().status == st.STATUS_PAUSED
    assert pool.registry_info().paused and pool.ledger().paused

    send_refused(sb, pauser, m.PausePool(), code("POOL_ALREADY_PAUSED"))
    # The pauser is an emergency brake only: lifting the pause is the admin's decision.
    send_refused(sb, sb.pauser, m.UnpausePool(), code("NOT_ADMIN"))
    trace = send_ok(sb, sb.admin, m.UnpausePool())
    assert one_event(trace, StatusChanged, pool.operator).status == st.STATUS_ACTIVE
    assert not one_event(trace, DistributionConfigured, pool.distribution).paused
    assert pool.pool_info().status == st.STATUS_ACTIVE
    assert not pool.registry_info().paused and not pool.ledger().paused
    send_refused(sb, sb.admin, m.UnpausePool(), code("NOT_PAUSED"))


@pytest.mark.parametrize("value", [ton("0.025"), ADMIN_OP_FEE - 1])
def test_pause_with_too_little_value_pauses_nothing(sandbox: PoolSandbox, value: int) -> None:
    # Before the fix, 0.025 TON paused the operator and the registry while the message to
    # the distribution ran out of gas: reports and epoch closes went on in a "paused" pool.
    sb = sandbox
    send_refused(sb, sb.pauser, m.PausePool(), code("OPERATOR_FEE_TOO_LOW"), value=value)
    assert not sb.pool.registry_info().paused and not sb.pool.ledger().paused
    send_ok(sb, sb.pauser, m.PausePool())
    send_refused(sb, sb.admin, m.UnpausePool(), code("OPERATOR_FEE_TOO_LOW"), value=value)
    assert sb.pool.registry_info().paused and sb.pool.ledger().paused


def test_pause_stops_joins_reports_and_epochs_but_never_claims_or_withdrawals(
    sandbox: PoolSandbox,
) -> None:
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    claimer, reporter, leaver = (sb.add_member(n) for n in ("claimer", "reporter", "leaver"))
    pool.send_income(sb.proxy, ton(100)).assert_success()
    closed = one_event(sb.close_epoch(), EpochClosed)
    sb.report(claimer, 1, member_metrics(9_000)).assert_success()
    # New rule: a pause inside a report window also holds that epoch's finalize (unpausing
    # gives the window back), so only a final epoch is claimable while paused: epoch 1 is
    # made final first, and epoch 2 is the one reporting during the pause.
    sb.finalize()
    sb.close_epoch()
    sb.report(claimer, 2, member_metrics(9_000)).assert_success()
    send_ok(sb, sb.pauser, m.PausePool())
    paused_at = chain.now
    deadline = pool.reporting_epoch().deadline

    newcomer = sb.wallet("newcomer")
    before = newcomer.balance
    trace = pool.register(newcomer, sb.params.min_stake)
    assert trace.find(pool.registry).exit_code == code("REGISTRATION_PAUSED")
    assert newcomer.balance == before - payer_cost(trace, newcomer.address)

    before = sb.keeper.balance
    trace = sb.report(reporter, 2, member_metrics())
    assert trace.find(pool.distribution).exit_code == code("DISTRIBUTION_PAUSED")
    assert sb.keeper.balance == before - payer_cost(trace, sb.keeper.address)
    assert pool.reporting_epoch().reporters == 1

    ledger = pool.ledger()
    chain.set_now(max(ledger.epoch_start + ledger.epoch_length, deadline + 1))
    trace = pool.close_epoch(sb.keeper)
    assert trace.find(pool.distribution).exit_code == code("DISTRIBUTION_PAUSED")
    assert pool.ledger().current_epoch == 3

    # New rule: claiming epoch 2 would finalize it while paused inside its report window, so
    # the claim is refused (the claimer gets its value back) and the slip stays for later.
    before = claimer.balance
    trace = pool.claim_rewards(claimer, 2)
    settle = trace.find(pool.distribution, m.SettleClaim.PREFIX)
    assert settle.exit_code == code("DISTRIBUTION_PAUSED"), trace.describe()
    assert claimer.balance == before - payer_cost(trace, claimer.address)
    assert pool.reporting_epoch().epoch == 2

    # Claims of a final epoch go on, pause or not.
    before = claimer.balance
    trace = pool.claim_rewards(claimer, 1).assert_success()
    settled = one_event(trace, RewardSettled, pool.distribution)
    # Sole reporter with the 5% uptime penalty: net minus the penalty pool, to the nanoton.
    assert settled.payout == closed.net * 9_500 // 10_000 and settled.paid_now
    assert claimer.balance == before + settled.payout - payer_cost(trace, claimer.address)

    # Leaving and, after unbonding, taking the stake out.
    pool.unregister(leaver).assert_success()
    chain.advance(sb.params.unbonding_seconds)
    before = leaver.balance
    trace = pool.withdraw_stake(leaver).assert_success()
    assert one_event(trace, StakeWithdrawn).amount == sb.params.min_stake
    assert leaver.balance == before + sb.params.min_stake - payer_cost(trace, leaver.address)
    assert pool.registry_info().member_count == 2

    trace = send_ok(sb, sb.admin, m.UnpausePool())
    # Epoch 2's report window gets back exactly the time the pool was paused.
    extended = one_event(trace, ReportWindowExtended, pool.distribution)
    assert (extended.epoch, extended.deadline) == (2, deadline + chain.now - paused_at)
    assert pool.reporting_epoch().deadline == extended.deadline
    sb.report(reporter, 2, member_metrics()).assert_success()
    pool.register(newcomer, sb.params.min_stake).assert_success()
    sb.close_epoch()
    assert pool.ledger().current_epoch == 4
    pool.claim_rewards(claimer, 2).assert_success()
    sb.assert_conserved()


# ---------------------------------------------------------------- operator stake


def test_deposit_operator_stake(sandbox: PoolSandbox) -> None:
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    stake = pool.pool_info().operator_stake
    send_refused(sb, sb.admin, m.DepositOperatorStake(), code("OPERATOR_FEE_TOO_LOW"))
    for extra in (1, ton(5)):
        before = chain.get_balance(pool.operator)
        trace = send_ok(sb, sb.admin, m.DepositOperatorStake(), value=ADMIN_OP_FEE + extra)
        stake += extra
        assert pool.pool_info().operator_stake == stake
        changed = one_event(trace, OperatorStakeChanged, pool.operator)
        assert (changed.operator_stake, changed.withdrawn) == (stake, 0)
        tx = handling_tx(trace, pool.operator)
        # The operator keeps the whole deposit; the fee pays the transaction and the rest
        # stays on the operations balance.
        assert chain.get_balance(pool.operator) == (before + ADMIN_OP_FEE + extra - tx.total_fees)


def test_emergency_withdraw_takes_only_the_operator_stake(sandbox: PoolSandbox) -> None:
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    members = [sb.add_member(f"m{i}") for i in range(2)]
    pool.send_income(sb.proxy, ton(40)).assert_success()
    sb.close_epoch()
    pool.send_income(sb.proxy, ton(7)).assert_success()  # open epoch's pot
    stake = pool.pool_info().operator_stake
    withdraw = m.EmergencyWithdraw(query_id=1, amount=ton(1))
    send_refused(sb, sb.admin, withdraw, code("NOT_PAUSED"))
    send_ok(sb, sb.pauser, m.PausePool())
    send_refused(sb, sb.pauser, withdraw, code("NOT_ADMIN"))
    too_much = m.EmergencyWithdraw(query_id=1, amount=stake + 1)
    send_refused(sb, sb.admin, too_much, code("AMOUNT_EXCEEDS_OPERATOR_STAKE"))

    others = [pool.registry, pool.distribution] + [
        pool.participant_address(w.address) for w in members
    ]
    others_before = [chain.get_balance(a) for a in others]
    ledger_before = pool.ledger()
    for amount in (ton(3), stake - ton(3)):
        operator_before = chain.get_balance(pool.operator)
        admin_before = sb.admin.balance
        trace = send_ok(sb, sb.admin, m.EmergencyWithdraw(query_id=2, amount=amount))
        tx = handling_tx(trace, pool.operator)
        assert chain.get_balance(pool.operator) == operator_before - tx.storage_fees - amount
        assert sb.admin.balance == admin_before + amount - payer_cost(trace, sb.admin.address)
        changed = one_event(trace, OperatorStakeChanged, pool.operator)
        assert changed.withdrawn == amount
        assert changed.operator_stake == pool.pool_info().operator_stake
        assert {t.address_raw for t in trace} == {
            raw_address(pool.operator),
            raw_address(sb.admin.address),
        }
    assert pool.pool_info().operator_stake == 0
    send_refused(
        sb,
        sb.admin,
        m.EmergencyWithdraw(query_id=3, amount=1),
        code("AMOUNT_EXCEEDS_OPERATOR_STAKE"),
    )
    # Member stakes, the pot and the obligations are where they were.
    assert [chain.get_balance(a) for a in others] == others_before
    assert pool.ledger() == ledger_before
    # The operator still holds its storage floor.
    assert chain.get_balance(pool.operator) >= fee("POOL_STORAGE_FLOOR")


# ---------------------------------------------------------------- commission, verify, close


def test_collect_commission_pays_exactly_the_unpaid_commission(sandbox: PoolSandbox) -> None:
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    income = ton(250)
    income_trace = pool.send_income(sb.proxy, income).assert_success()
    close = sb.close_epoch()
    closed = one_event(close, EpochClosed)
    close_tx = handling_tx(close, pool.distribution)
    # The pot is the income minus what the income handler and the storage phase burned.
    assert closed.received == (
        income - handling_tx(income_trace, pool.distribution).total_fees - close_tx.storage_fees
    )
    assert closed.commission == closed.received * sb.params.commission_bps // 10_000
    assert pool.ledger().commission_unpaid == closed.commission

    distribution_before = chain.get_balance(pool.distribution)
    admin_before = sb.admin.balance
    trace = send_ok(sb, sb.admin, m.CollectCommission())
    collected = one_event(trace, CommissionCollected, pool.distribution)
    assert collected.amount == closed.commission
    assert raw_address(collected.recipient) == raw_address(sb.admin.address)
    assert chain.get_balance(pool.distribution) == distribution_before - closed.commission
    # The distribution pays the admin directly, with the change: the admin ends with the
    # commission minus the fees of the whole trace, and the operator keeps nothing.
    assert sb.admin.balance == admin_before + closed.commission - payer_cost(
        trace, sb.admin.address
    )
    assert len(trace.find_all(pool.operator)) == 1
    assert pool.ledger().commission_unpaid == 0
    again = send_ok(sb, sb.admin, m.CollectCommission())
    assert one_event(again, CommissionCollected).amount == 0
    sb.assert_conserved()


def test_verify_member(sandbox: PoolSandbox) -> None:
    sb, pool = sandbox, sandbox.pool
    member = sb.add_member("gpu", verify=False)
    participant = pool.participant_address(member.address)
    worker = sb.wallet("worker").address
    assert not pool.participant_info(member.address).verified
    # New flow: the admin can no longer name the worker; verifying needs the member's own
    # binding first, else the Participant refuses (NOT_BOUND) and nothing changes.
    trace = pool.verify_member(sb.admin, member.address)
    assert trace.find(participant, m.MarkVerified.PREFIX).exit_code == code("NOT_BOUND")
    assert trace.find(sb.admin.address, m.ReturnExcesses.PREFIX).success  # value back to admin
    assert not pool.participant_info(member.address).verified

    pool.bind_worker(member, worker).assert_success()
    trace = send_ok(sb, sb.admin, m.VerifyMember(query_id=2, member=member.address))
    verified = one_event(trace, MemberVerified, participant)
    assert raw_address(verified.member) == raw_address(member.address)
    assert raw_address(verified.worker) == raw_address(worker)
    assert pool.participant_info(member.address).verified

    # Revoking goes the same way and leaves the stake alone.
    trace = send_ok(sb, sb.admin, m.VerifyMember(query_id=3, member=member.address, verified=False))
    assert same(one_event(trace, MemberRevoked, participant).member, member.address)
    info = pool.participant_info(member.address)
    assert not info.verified and info.stake == sb.params.min_stake


def test_close_pool_stops_joining(sandbox: PoolSandbox) -> None:
    sb, pool = sandbox, sandbox.pool
    sb.add_member("early")
    trace = send_ok(sb, sb.admin, m.ClosePool())
    assert one_event(trace, StatusChanged, pool.operator).status == st.STATUS_CLOSING
    assert pool.pool_info().status == st.STATUS_CLOSING and pool.registry_info().closing
    trace = pool.register(sb.wallet("late"), sb.params.min_stake)
    assert trace.find(pool.registry).exit_code == code("POOL_CLOSING")
    send_refused(sb, sb.admin, m.ClosePool(), code("POOL_NOT_ACTIVE"))
    send_refused(sb, sb.pauser, m.PausePool(), code("POOL_NOT_ACTIVE"))
    # A later min-stake change must not reopen the registry.
    propose_and_apply(sb, m.ChangeMinStake(amount=ton(5)))
    registry = pool.registry_info()
    assert registry.closing and registry.min_stake == ton(5)
    # Members can still leave a closing pool.
    pool.unregister(sb.members["early"]).assert_success()
    assert pool.registry_info().member_count == 0


def test_close_pool_reaches_both_children(sandbox: PoolSandbox) -> None:
    # ClosePool now fans out: UpdateRegistryConfig(closing) with CHILD_MESSAGE_VALUE to the
    # registry, StartWindDown with the rest to the distribution.
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    sb.add_member("early")
    ledger_before = pool.ledger()
    admin_before = sb.admin.balance
    operator_before = chain.get_balance(pool.operator)
    registry_before = chain.get_balance(pool.registry)
    distribution_before = chain.get_balance(pool.distribution)

    trace = send_ok(sb, sb.admin, m.ClosePool())
    assert trace.find(pool.registry, m.UpdateRegistryConfig.PREFIX).success
    (to_registry,) = [
        msg
        for msg in handling_tx(trace, pool.operator).internal_out
        if same(msg.dest, pool.registry)
    ]
    # The whole forward fee comes out of the value (regular send mode); the message carries
    # the part left after the sender's first_frac share (21845/65536) as its fwd_fee.
    forward = LIMITS["CHILD_MESSAGE_VALUE"] - to_registry.value
    assert forward - (forward * 21_845 >> 16) == to_registry.fwd_fee
    assert trace.find(pool.distribution, m.StartWindDown.PREFIX).success
    registry = pool.registry_info()
    assert registry.closing and registry.min_stake == sb.params.min_stake
    # Winding down is the only thing that changed in the distribution's ledger.
    assert pool.ledger() == replace(ledger_before, winding_down=True)

    # Both children send the change on; neither keeps any of it (the registry only tops
    # up its storage floor, the distribution keeps its balance from before).
    assert trace.find(pool.operator, m.ReturnExcesses.PREFIX).success
    assert len(trace.find_all(pool.operator, m.ReturnExcesses.PREFIX)) == 2
    assert chain.get_balance(pool.registry) == max(
        registry_before - storage_paid(trace, pool.registry), fee("REGISTRY_STORAGE_FLOOR")
    )
    assert gain(chain, trace, pool.distribution, distribution_before) == 0
    registry_kept = gain(chain, trace, pool.registry, registry_before)
    operator_kept = gain(chain, trace, pool.operator, operator_before)
    assert 0 < operator_kept < ADMIN_OP_FEE
    assert admin_before - sb.admin.balance == (
        payer_cost(trace, sb.admin.address) + operator_kept + registry_kept
    )


def test_closing_pool_releases_the_operator_stake(sandbox: PoolSandbox) -> None:
    # A closing pool can't be paused any more, so emergency withdrawal must work there too,
    # or the operator stake would stay locked forever.
    sb, pool = sandbox, sandbox.pool
    stake = pool.pool_info().operator_stake
    send_ok(sb, sb.admin, m.ClosePool())
    admin_before = sb.admin.balance
    trace = send_ok(sb, sb.admin, m.EmergencyWithdraw(query_id=4, amount=stake))
    assert sb.admin.balance == admin_before + stake - payer_cost(trace, sb.admin.address)
    assert pool.pool_info().operator_stake == 0


def test_unknown_op_bounces_and_plain_transfers_top_up(sandbox: PoolSandbox) -> None:
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    stranger = sb.wallet("stranger")

    @dataclass(frozen=True, kw_only=True)
    class Bogus(TlbStruct):
        PREFIX = 0x7C0A00FF

    send_refused(sb, stranger, Bogus(), code("POOL_UNKNOWN_OP"))
    for body in (None, begin_cell().store_uint(0, 32).store_snake_string("tip").end_cell()):
        before = chain.get_balance(pool.operator)
        trace = stranger.send(pool.operator, ton(1), body).assert_success()
        tx = handling_tx(trace, pool.operator)
        assert chain.get_balance(pool.operator) == before + ton(1) - tx.total_fees
    assert pool.pool_info().operator_stake == ton(10)  # a top-up is not stake


# ---------------------------------------------------------------- op x role matrix


def _matrix_bodies(sb: PoolSandbox) -> dict[str, TlbStruct]:
    someone = sb.wallet("someone").address
    return {
        "deploy": m.DeployPool(),
        "propose": m.ProposeChange(query_id=1, change=m.ChangeCommission(bps=1_100).to_cell()),
        "apply": m.ApplyChange(),
        "cancel": m.CancelChange(),
        "accept_role": m.AcceptRole(),
        "pause": m.PausePool(),
        "unpause": m.UnpausePool(),
        "close": m.ClosePool(),
        "deposit": m.DepositOperatorStake(),
        "withdraw": m.EmergencyWithdraw(query_id=1, amount=ton(1)),
        "collect": m.CollectCommission(),
        "verify": m.VerifyMember(query_id=1, member=someone, verified=True),
    }


NON_ADMIN_CODES = {
    "deploy": "NOT_ADMIN",
    "propose": "NOT_ADMIN",
    "apply": "NOT_ADMIN",
    "cancel": "NOT_ADMIN",
    "accept_role": "NOT_NOMINEE",
    "pause": "NOT_PAUSER",
    "unpause": "NOT_ADMIN",
    "close": "NOT_ADMIN",
    "deposit": "NOT_ADMIN",
    "withdraw": "NOT_ADMIN",
    "collect": "NOT_ADMIN",
    "verify": "NOT_ADMIN",
}
# What the admin hits in the matrix state (a pending change past its timelock, a nominee,
# the pool active): only the ops that are never the admin's, or not in this state.
ADMIN_CODES = {
    "deploy": "ALREADY_DEPLOYED",
    "propose": "CHANGE_ALREADY_PENDING",
    "accept_role": "NOT_NOMINEE",
    "unpause": "NOT_PAUSED",
    "withdraw": "NOT_PAUSED",
}
MATRIX = (
    [(s, op, c) for s in ("stranger", "member", "impostor") for op, c in NON_ADMIN_CODES.items()]
    + [("pauser", op, c) for op, c in NON_ADMIN_CODES.items() if op != "pause"]
    + [("admin", op, c) for op, c in ADMIN_CODES.items()]
)


@pytest.fixture(scope="module")
def matrix_pool() -> PoolSandbox:
    """One pool in a state where each op would pass for its rightful sender."""
    sb = PoolSandbox.create()
    sb.add_member("member")
    sb.pool.send_income(sb.proxy, ton(30)).assert_success()
    sb.close_epoch()
    propose_and_apply(sb, m.ChangeAdmin(nominee=sb.wallet("nominee").address))
    propose(sb, m.ChangeCommission(bps=1_100))
    sb.chain.advance(sb.params.timelock_seconds)
    return sb


@pytest.mark.parametrize(
    ("sender", "op", "expected"), MATRIX, ids=[f"{s}-{o}" for s, o, _ in MATRIX]
)
def test_op_role_matrix(matrix_pool: PoolSandbox, sender: str, op: str, expected: str) -> None:
    # Every refusal leaves the shared pool exactly as it was, which send_refused checks,
    # so the cases can share one pool.
    sb = matrix_pool
    wallet = {"admin": sb.admin, "pauser": sb.pauser}.get(sender) or sb.wallet(sender)
    value = ton(11) if op == "deploy" else ADMIN_OP_FEE + ton(1)
    send_refused(sb, wallet, _matrix_bodies(sb)[op], code(expected), value=value)
