"""The TVM-coverage scenario driver's smaller pieces on the real pool contracts: each step
runs (no Python error), each reaches the contract it is about, and what it leaves on the chain
is what the step means. The whole driver is `cocoon-pool bench coverage` (minutes); here each
piece runs once, on its own small pool."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from cocoon_pool import tvm_coverage as tc
from cocoon_pool.chain.types import raw_address
from cocoon_pool.contracts import messages as m
from cocoon_pool.contracts.build import POOL_CONTRACTS, pool_contract_code
from cocoon_pool.contracts.constants import ton
from cocoon_pool.sandbox import PoolSandbox


@pytest.fixture(scope="module")
def code_maps() -> dict[str, tc.CodeMap]:
    return {name: tc.disassemble(pool_contract_code(name), name) for name in POOL_CONTRACTS}


def executed(code_maps: dict[str, tc.CodeMap], bridge: tc.RecordingBridge) -> dict[str, int]:
    """Instructions of each pool contract the recorded runs executed."""
    out: dict[str, int] = {}
    for name, code in code_maps.items():
        own = tc.contract_hits(code, bridge.hits)
        out[name] = tc.summarize(code, own).executed
    return out


def run(piece: Callable[[tc.ScenarioLog], None]) -> tuple[tc.ScenarioLog, tc.RecordingBridge]:
    log = tc.ScenarioLog()
    with tc.recording() as bridge:
        piece(log)
    return log, bridge


@pytest.fixture(scope="module")
def base() -> Iterator[PoolSandbox]:
    """A pool with one verified member in an open epoch that has income (built while
    recording, so its forks record too)."""
    with tc.recording():
        sb = PoolSandbox.create()
        sb.add_member("matrix-member")
        sb.pool.send_income(sb.proxy, ton(10)).assert_success()
        yield sb


def test_every_bad_deploy_is_refused_and_nothing_is_deployed(
    code_maps: dict[str, tc.CodeMap],
) -> None:
    log, bridge = run(tc._deploy_refusals)
    assert log.failed_steps == []
    assert log.traces == 9  # seven bad PoolParams, no oracle keys, too little value
    assert bridge.runs >= 9
    assert executed(code_maps, bridge)["PoolOperator"] > 50


def test_quorum_reports_run_every_signature_check(code_maps: dict[str, tc.CodeMap]) -> None:
    log, bridge = run(tc._quorum)
    assert log.failed_steps == []
    # member, pause, unpause, income, close, 7 reports, reporting epoch, pause, unpause,
    # finalize
    assert log.traces == 16
    hits = executed(code_maps, bridge)
    assert all(hits[name] > 0 for name in POOL_CONTRACTS)


def test_getters_answer_and_an_unknown_getter_is_refused(base: PoolSandbox) -> None:
    sb = base.fork()
    log = tc.ScenarioLog()
    tc._getters(log, sb)
    assert log.failed_steps == []
    # 5 + reporting epoch + 4 epochs x 3 + participant info + 2 + links + 4 unknown ids
    assert log.traces == 26
    unknown = sb.chain.run_get_method(sb.pool.operator, 999_999, check=False)
    assert unknown.exit_code != 0


def test_a_change_on_a_fork_applies_there_only(base: PoolSandbox) -> None:
    before = base.pool.pool_info().commission_bps
    log = tc.ScenarioLog()
    tc._change_on_fork(log, base, m.ChangeCommission(bps=before + 100))
    assert log.failed_steps == []
    assert log.traces == 16
    assert base.pool.pool_info().commission_bps == before
    assert not base.pool.pending_change().exists


def test_one_matrix_body_from_every_role_to_every_contract(base: PoolSandbox) -> None:
    sb = base.fork()
    member = sb.members["matrix-member"]
    targets = {
        "operator": sb.pool.operator,
        "distribution": sb.pool.distribution,
        "participant": sb.pool.participant_address(member.address),
    }
    stake_before = sb.pool.registry_info().total_stake
    body = m.WithdrawStake(query_id=1).to_cell()
    log = tc.ScenarioLog()
    tc._matrix_body(log, sb, "WithdrawStake", body, targets)
    assert log.failed_steps == []
    # per target: five wallets, one 1-nanoton send and one from each of the three contracts
    assert log.traces == 3 * (5 + 1 + 3)
    # a withdrawal nobody may make from these senders moved no stake
    assert sb.pool.registry_info().total_stake == stake_before


def test_a_refusing_registry_bounces_back_and_the_books_still_balance(base: PoolSandbox) -> None:
    sb = base.fork()
    sb.add_member("b")
    registry = sb.pool.registry
    log = tc.ScenarioLog()
    sb.members["a"] = sb.members["matrix-member"]
    tc._with_refusing_peer(log, sb, "registry", registry)
    assert log.traces >= 20
    assert log.failed_steps == [] or all("refuses" in f for f in log.failed_steps)
    state = sb.chain.get_state(registry)
    assert state.code is not None and state.code.hash == tc.throwing_code().hash
    assert raw_address(registry) in sb.chain.accounts
