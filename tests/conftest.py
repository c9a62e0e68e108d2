"""Shared fixtures: an emulated chain and the test-only counter contract."""

from __future__ import annotations

from pathlib import Path

import pytest
from ton_core import Cell

from cocoon_pool.chain import EmulatedChain
from cocoon_pool.contracts import compile_contract
from cocoon_pool.sandbox import PoolSandbox

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def chain() -> EmulatedChain:
    """A fresh chain (the Node helper process is shared by all tests)."""
    return EmulatedChain()


@pytest.fixture(scope="session")
def counter_code() -> Cell:
    return compile_contract(FIXTURES / "counter.tolk").code


@pytest.fixture
def sandbox() -> PoolSandbox:
    """A freshly deployed pool with admin, pauser, Cocoon proxy and keeper wallets."""
    return PoolSandbox.create()
