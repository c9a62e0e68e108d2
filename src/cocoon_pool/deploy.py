"""Deploying a pool to a network: dry run, send, follow, verify on chain, record.

The order is the one an operator wants: first the whole deploy trace on the embedded chain
with the same configuration (addresses, fees, final balances) so nothing surprises; then the
real deploy from the admin's wallet, unless the pool is already there (a second run finds it
and only verifies); then every contract's code hash and every get-method checked against what
was shipped and configured; then ``deployments/<network>.json`` beside the config file.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ton_core import Address

from cocoon_pool.chain.emulator import EmulatedChain, Wallet
from cocoon_pool.chain.protocol import Chain, SendingWallet
from cocoon_pool.chain.types import Trace, raw_address
from cocoon_pool.contracts import storage as st
from cocoon_pool.contracts.addresses import derive_pool_addresses, friendly
from cocoon_pool.contracts.messages import oracle_keys_from_cell
from cocoon_pool.contracts.pool import Pool, PoolParams, deploy_value, operator_code, pool_codes
from cocoon_pool.errors import CocoonPoolError

DRY_RUN_FUNDS = 10**9 * 10**9


class DeployError(CocoonPoolError):
    """The deploy did not go as planned, or what is on chain is not what was configured."""


@dataclass(frozen=True)
class ContractReport:
    name: str
    address: Address
    balance: int
    code_hash: str


@dataclass(frozen=True)
class DeployReport:
    """What a deploy (dry or real) produced; ``trace`` is empty when the pool was found."""

    network: str
    already_deployed: bool
    contracts: tuple[ContractReport, ...]
    trace: Trace | None = None
    checks: tuple[str, ...] = field(default=())

    @property
    def fees(self) -> int:
        return 0 if self.trace is None else sum(tx.total_fees for tx in self.trace)

    def to_json(self, network_name: str) -> dict[str, Any]:
        first = self.trace[0] if self.trace else None
        return {
            "network": self.network,
            "already_deployed": self.already_deployed,
            "contracts": {
                c.name: {
                    "address": raw_address(c.address),
                    "friendly": friendly(c.address, network_name),
                    "balance_nanoton": c.balance,
                    "code_hash": c.code_hash,
                }
                for c in self.contracts
            },
            "worker_owner_address": friendly(self.contracts[2].address, network_name),
            "transactions": 0 if self.trace is None else len(self.trace),
            "fees_nanoton": self.fees,
            "first_transaction": None if first is None else {"lt": first.lt, "hash": first.hash},
            "checks": list(self.checks),
        }


def expected_code_hashes() -> dict[str, str]:
    codes = pool_codes()
    return {
        "operator": operator_code().hash.hex(),
        "registry": codes.registry_code.hash.hex(),
        "distribution": codes.distribution_code.hash.hex(),
    }


def _contracts(chain: Chain, pool: Pool) -> tuple[ContractReport, ...]:
    """The three contracts as they stand on ``chain``: address, balance, shipped code hash."""
    hashes = expected_code_hashes()
    return tuple(
        ContractReport(name, address, chain.get_balance(address), hashes[name])
        for name, address in _named(pool).items()
    )


def _named(pool: Pool) -> dict[str, Address]:
    return {"operator": pool.operator, "registry": pool.registry, "distribution": pool.distribution}


def dry_run(admin: Address, pauser: Address, params: PoolParams) -> DeployReport:
    """The whole deploy on a fresh embedded chain, from a stand-in wallet at the admin's
    address (the addresses derive from it), with the same parameters."""
    chain = EmulatedChain(now=int(time.time()))
    code = chain.wallet_code()
    chain.set_account(admin, code, code, DRY_RUN_FUNDS)
    wallet = Wallet(chain, "admin", admin)
    pool, trace = Pool.deploy(chain, wallet, params, params.min_operator_stake, pauser=pauser)
    trace.assert_success()
    return DeployReport("dry run", False, _contracts(chain, pool), trace)


def verify(chain: Any, pool: Pool, params: PoolParams) -> tuple[str, ...]:
    """Every contract's code and every get-method against what was shipped and configured;
    DeployError naming the first difference."""
    checks: list[str] = []

    def check(what: str, found: object, wanted: object) -> None:
        if found != wanted:
            raise DeployError(
                f"{what} on chain is {found!r}, expected {wanted!r}",
                hint="this is not the pool this config and package describe: do not use it",
            )
        checks.append(what)

    hashes = expected_code_hashes()
    for name, address in _named(pool).items():
        state = chain.get_state(address)
        check(f"{name} status", state.status, "active")
        check(f"{name} code hash", state.code.hash.hex() if state.code else None, hashes[name])
    info = pool.pool_info()
    check("pool status", info.status, st.STATUS_ACTIVE)
    for key in ("commission_bps", "min_stake", "epoch_length", "report_grace", "min_payout"):
        check(f"poolInfo.{key}", getattr(info, key), getattr(params, key))
    check("poolInfo.timelock_seconds", info.timelock_seconds, params.timelock_seconds)
    check("poolInfo.unbonding_seconds", info.unbonding_seconds, params.unbonding_seconds)
    check("poolInfo.oracle_quorum", info.oracle_quorum, params.oracle_quorum)
    check("poolInfo.oracle_keys", oracle_keys_from_cell(info.oracle_keys), list(params.oracle_keys))
    check(
        "poolInfo.registry", raw_address(info.registry or pool.registry), raw_address(pool.registry)
    )
    registry = pool.registry_info()
    check("registryInfo.min_stake", registry.min_stake, params.min_stake)
    check("registryInfo.unbonding_seconds", registry.unbonding_seconds, params.unbonding_seconds)
    ledger = pool.ledger()
    check("ledger.commission_bps", ledger.commission_bps, params.commission_bps)
    check("ledger.epoch_length", ledger.epoch_length, params.epoch_length)
    check("ledger.min_payout", ledger.min_payout, params.min_payout)
    check("ledger.current_epoch", ledger.current_epoch, 1)
    return tuple(checks)


def deploy(
    chain: Any,
    wallet: SendingWallet,
    network: str,
    pauser: Address,
    params: PoolParams,
) -> DeployReport:
    """Deploy unless the pool is already on chain; then verify it. ``chain``: a network chain
    (or the embedded one), ``wallet``: the admin's."""
    addresses = derive_pool_addresses(wallet.address, params, pauser)
    pool = Pool(chain, addresses.operator)
    trace: Trace | None = None
    found = chain.get_state(addresses.operator).status == "active"
    if not found:
        value = deploy_value(params, params.min_operator_stake)
        if chain.get_balance(wallet.address) < value + 10**9:
            raise DeployError(
                f"the admin wallet holds {chain.get_balance(wallet.address) / 1e9:.3f} TON; the "
                f"deploy sends {value / 1e9:.3f} TON",
                hint="top the admin wallet up (1 TON more than that pays the fees)",
            )
        pool, trace = Pool.deploy(chain, wallet, params, params.min_operator_stake, pauser=pauser)
        if raw_address(pool.operator) != raw_address(addresses.operator):
            raise DeployError("the pool landed at an unexpected address", hint="report this bug")
        failed = [tx for tx in trace.transactions[1:] if not tx.success]
        if failed:
            raise DeployError(
                f"the deploy failed: {failed[0].describe()}",
                hint="nothing was deployed that can hold members' money; see the trace",
            )
    checks = verify(chain, pool, params)
    return DeployReport(network, found, _contracts(chain, pool), trace, checks)


def write_record(config_path: Path, network: str, report: DeployReport, params: PoolParams) -> Path:
    """``deployments/<network>.json`` beside the config: addresses, code hashes, the deploy's
    first transaction and the parameters (kept when a later run only verified)."""
    path = config_path.parent / "deployments" / f"{network}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = report.to_json("testnet" if network != "mainnet" else "mainnet")
    if path.exists() and report.already_deployed:
        previous = json.loads(path.read_text())
        record["first_transaction"] = previous.get("first_transaction")
    record["params"] = {
        "pool_id": params.pool_id,
        "commission_bps": params.commission_bps,
        "min_stake": params.min_stake,
        "epoch_length": params.epoch_length,
        "report_grace": params.report_grace,
        "timelock_seconds": params.timelock_seconds,
        "unbonding_seconds": params.unbonding_seconds,
        "min_payout": params.min_payout,
        "min_operator_stake": params.min_operator_stake,
        "oracle_quorum": params.oracle_quorum,
        "oracle_keys": [format(k, "064x") for k in params.oracle_keys],
    }
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path
