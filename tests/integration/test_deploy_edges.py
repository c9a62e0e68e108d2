"""`deploy`'s refusals on the embedded chain: an admin wallet too poor for the deploy sends
nothing, and a pool whose get-methods disagree with the config is named, not trusted."""

from __future__ import annotations

import dataclasses

import pytest

from cocoon_pool.chain.types import raw_address
from cocoon_pool.contracts.constants import ton
from cocoon_pool.contracts.pool import deploy_value
from cocoon_pool.deploy import DeployError, deploy, verify
from cocoon_pool.sandbox import PoolSandbox


def test_a_poor_admin_wallet_is_refused_before_anything_is_sent() -> None:
    sandbox = PoolSandbox.create()
    chain, params = sandbox.chain, sandbox.params
    value = deploy_value(params, params.min_operator_stake)
    poor = chain.create_wallet("poor-admin", value)  # 1 TON short of value + fees
    before = len(chain.transactions)
    with pytest.raises(DeployError, match=r"the admin wallet holds .* TON; the deploy sends") as e:
        deploy(chain, poor, "embedded", poor.address, params)
    assert "top the admin wallet up" in e.value.hint
    assert len(chain.transactions) == before
    assert chain.get_balance(poor.address) == value


def test_verify_names_the_first_get_method_that_disagrees() -> None:
    sandbox = PoolSandbox.create()
    assert len(verify(sandbox.chain, sandbox.pool, sandbox.params)) >= 20
    other = dataclasses.replace(sandbox.params, commission_bps=sandbox.params.commission_bps + 1)
    with pytest.raises(DeployError, match=r"commission_bps on chain is \d+, expected \d+") as e:
        verify(sandbox.chain, sandbox.pool, other)
    assert "do not use it" in e.value.hint
    assert raw_address(sandbox.pool.operator).startswith("0:")
    assert sandbox.chain.get_balance(sandbox.pool.operator) > ton(0)
