"""Compiling the pool's Tolk contracts (see :mod:`cocoon_pool.contracts.build`)."""

from __future__ import annotations

from cocoon_pool.contracts.build import CompiledContract, compile_contract, contracts_dir

__all__ = ["CompiledContract", "compile_contract", "contracts_dir"]
