"""Helpers of the test_cov_* files: one TVM-coverage driver piece run while recording, and
the share of each pool contract's instructions it executed."""

from __future__ import annotations

from collections.abc import Callable

from cocoon_pool import tvm_coverage as tc
from cocoon_pool.contracts.build import POOL_CONTRACTS, pool_contract_code


def percent_by_contract(bridge: tc.RecordingBridge) -> dict[str, float]:
    """Per pool contract: the percentage of its instructions the recorded runs executed."""
    out: dict[str, float] = {}
    for name in POOL_CONTRACTS:
        code = tc.disassemble(pool_contract_code(name), name)
        own = tc.contract_hits(code, bridge.hits)
        out[name] = tc.summarize(code, own).percent
    return out


def run_recorded(
    piece: Callable[[tc.ScenarioLog], None],
) -> tuple[tc.ScenarioLog, dict[str, float]]:
    """Run one driver piece on fresh chains that record their VM logs."""
    log = tc.ScenarioLog()
    with tc.recording() as bridge:
        piece(log)
    return log, percent_by_contract(bridge)
