"""A pool's addresses, known before it is deployed.

Every pool contract's address is the hash of its code and initial data, so an operator
can publish the worker ``owner_address`` (the RewardDistribution) before deploying, and a
member can check that the address they were given belongs to the pool they expect.
"""

from __future__ import annotations

from dataclasses import dataclass

from ton_core import Address

from cocoon_pool.chain.messages import contract_address
from cocoon_pool.contracts import storage as st
from cocoon_pool.contracts.constants import tolk_constants
from cocoon_pool.contracts.pool import PoolParams, operator_code, operator_init_data, pool_codes
from cocoon_pool.errors import UsageError

NETWORKS = ("mainnet", "testnet")


@dataclass(frozen=True)
class PoolAddresses:
    operator: Address
    registry: Address
    distribution: Address

    @property
    def worker_owner(self) -> Address:
        """What every member's Cocoon worker must name as ``owner_address``.

        Cocoon pays a worker's owner, and all income must reach the distribution contract
        so that it lands in an epoch's pot (DESIGN.md §2, §5).
        """
        return self.distribution

    def participant(self, member: Address) -> Address:
        return st.participant_address(pool_codes().participant_code, self.registry, member)


def derive_pool_addresses(
    admin: Address, params: PoolParams, pauser: Address | None = None
) -> PoolAddresses:
    """The addresses a deploy by ``admin`` with ``params`` will produce, without a chain."""
    operator = contract_address(operator_code(), operator_init_data(admin, pauser or admin, params))
    codes = pool_codes()
    return PoolAddresses(
        operator=operator,
        registry=st.registry_address(operator, codes),
        distribution=st.distribution_address(operator, codes),
    )


def friendly(address: Address, network: str = "mainnet", *, bounceable: bool = True) -> str:
    """User-friendly form: contracts are bounceable (EQ…/kQ…), wallets usually not."""
    if network not in NETWORKS:
        raise UsageError(f"unknown network {network!r}", hint="use mainnet or testnet")
    return str(
        address.to_str(
            is_user_friendly=True,
            is_url_safe=True,
            is_bounceable=bounceable,
            is_test_only=network == "testnet",
        )
    )


def raw(address: Address) -> str:
    return str(address.to_str(is_user_friendly=False))


def parse_address(text: str, what: str = "address") -> Address:
    """An address from raw (``0:…``) or user-friendly form, with a usable error otherwise."""
    try:
        address = Address(text.strip())
    except Exception as exc:  # ton_core raises several types for malformed input
        raise UsageError(
            f"{what} {text!r} is not a TON address",
            hint="give it raw (0:<64 hex>) or user-friendly (EQ…/UQ…, 48 characters)",
        ) from exc
    if address.wc != 0:
        raise UsageError(
            f"{what} {text!r} is in workchain {address.wc}",
            hint="pool members and admins live in the basechain (workchain 0)",
        )
    return address


def check_params(params: PoolParams) -> None:
    """The deploy-time checks PoolOperator makes, so a bad plan fails before any TON moves."""
    limits = tolk_constants("PoolOperator.tolk")
    if not limits["COMMISSION_MIN_BPS"] <= params.commission_bps <= limits["COMMISSION_MAX_BPS"]:
        raise UsageError(
            f"commission {params.commission_bps} bps is outside the allowed range",
            hint=f"choose {limits['COMMISSION_MIN_BPS']}..{limits['COMMISSION_MAX_BPS']} bps "
            "(5%..15%)",
        )
    if not limits["MIN_EPOCH_LENGTH"] <= params.epoch_length <= limits["MAX_EPOCH_LENGTH"]:
        raise UsageError(
            f"epoch length {params.epoch_length} s is outside the allowed range",
            hint=f"choose {limits['MIN_EPOCH_LENGTH']}..{limits['MAX_EPOCH_LENGTH']} seconds",
        )
    if params.report_grace * 2 > params.epoch_length:
        raise UsageError(
            f"report grace {params.report_grace} s is more than half the epoch",
            hint="shorten the grace period or lengthen the epoch",
        )
    if params.min_stake < limits["MIN_STAKE_FLOOR"]:
        raise UsageError(
            f"minimum stake {params.min_stake} nanoton is below the floor",
            hint=f"use at least {limits['MIN_STAKE_FLOOR']} nanoton",
        )
    if params.timelock_seconds < limits["MIN_TIMELOCK"]:
        raise UsageError(
            f"timelock {params.timelock_seconds} s is too short",
            hint=f"use at least {limits['MIN_TIMELOCK']} seconds so members can react",
        )
    keys = len(params.oracle_keys)
    if not 1 <= params.oracle_quorum <= keys <= limits["MAX_ORACLE_KEYS"]:
        raise UsageError(
            f"oracle quorum {params.oracle_quorum} of {keys} key(s) is not a valid oracle set",
            hint=f"give 1..{limits['MAX_ORACLE_KEYS']} oracle keys and a quorum between 1 and "
            "the number of keys",
        )
