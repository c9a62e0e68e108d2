"""TVM coverage machinery (cocoon_pool.tvm_coverage) on the small counter fixture contract:
disassembly, VM-log matching, Tolk lines, and the `bench coverage` table."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from ton_core import Address, Cell, begin_cell
from typer.testing import CliRunner

from cocoon_pool import tvm_coverage as tc
from cocoon_pool.chain import EmulatedChain
from cocoon_pool.cli.app import app
from cocoon_pool.contracts import messages as m
from cocoon_pool.contracts.codec import TlbStruct
from cocoon_pool.contracts.constants import ton
from cocoon_pool.contracts.pool import PoolParams
from cocoon_pool.contracts.reports import OracleSigner
from cocoon_pool.economics import MemberMetrics
from cocoon_pool.sandbox import PoolSandbox

FIXTURE = Path(__file__).parents[1] / "fixtures" / "counter.tolk"
INCREASE, RESET = 0x7E8764EF, 0x3A752F06


@pytest.fixture(scope="module")
def counter_map(counter_code: Cell) -> tc.CodeMap:
    code = tc.disassemble(counter_code, "counter")
    tc.attach_tolk_lines(code, FIXTURE)
    return code


def _source_line(text: str) -> int:
    lines = FIXTURE.read_text(encoding="utf-8").splitlines()
    (n,) = [i + 1 for i, line in enumerate(lines) if text in line]
    return n


def _run(counter_code: Cell, steps: list[str]) -> tuple[tc.RecordingBridge, EmulatedChain]:
    bridge = tc.RecordingBridge()
    chain = EmulatedChain(bridge=bridge)
    owner = chain.create_wallet("owner", ton(100))
    other = chain.create_wallet("other", ton(100))
    data = begin_cell().store_address(owner.address).store_uint(0, 64).end_cell()
    counter, trace = chain.deploy(counter_code, data, ton(1), owner)
    trace.assert_success()
    for step in steps:
        if step == "increase":
            body = begin_cell().store_uint(INCREASE, 32).store_uint(1, 64).store_uint(5, 32)
            owner.send(counter, ton(1), body.end_cell()).assert_success()
        elif step == "reset by other":
            body = begin_cell().store_uint(RESET, 32).store_uint(2, 64)
            other.send(counter, ton(1), body.end_cell())
        elif step == "getter":
            assert chain.run_get_method(counter, "counter").stack == [5]
    return bridge, chain


@pytest.fixture(scope="module")
def increased(counter_code: Cell) -> tuple[tc.RecordingBridge, EmulatedChain]:
    """Deploy (an empty body: the `else` arm) and one IncreaseCounter."""
    return _run(counter_code, ["increase"])


def _own_hits(code: tc.CodeMap, bridge: tc.RecordingBridge) -> Counter[tc.Key]:
    own: Counter[tc.Key] = Counter()
    for (cell_hash, offset), n in bridge.hits.items():
        key = code.locate(cell_hash, offset)
        if key is not None:
            own[key] += n
    return own


def test_every_instruction_is_keyed_as_the_vm_log_names_it(counter_map: tc.CodeMap) -> None:
    assert len(counter_map.instructions) == 97
    assert len(counter_map.keys) == 97  # no two instructions share a (cell, offset)
    names = [i.name for i in counter_map.instructions]
    assert names[:2] == ["SETCP", "DICTPUSHCONST"]
    assert names[-2:] == ["DICTIGETJMPZ", "THROWARG"]
    # the method dictionary: main handler and four getters, each leaf's code past its key
    assert len(counter_map.dictionary_cells) == 5


def test_executed_instructions_come_from_the_vm_logs(
    counter_map: tc.CodeMap, increased: tuple[tc.RecordingBridge, EmulatedChain]
) -> None:
    bridge, chain = increased
    wallet = tc.disassemble(chain.wallet_code(), "wallet")
    # every instruction the VM ran is in the counter's or the wallet's code
    assert all(counter_map.locate(*k) or wallet.locate(*k) for k in bridge.hits)
    own = _own_hits(counter_map, bridge)
    summary = tc.summarize(counter_map, own)
    # deploy (empty body: the `else` arm) and one IncreaseCounter
    assert (summary.present, summary.executed) == (97, 60)
    assert len(summary.missed) == 37
    assert own[next(iter(own))] >= 1


def test_a_refusal_and_a_getter_add_exactly_their_paths(
    counter_code: Cell,
    counter_map: tc.CodeMap,
    increased: tuple[tc.RecordingBridge, EmulatedChain],
) -> None:
    before = set(_own_hits(counter_map, increased[0]))
    bridge, _ = _run(counter_code, ["increase", "reset by other", "getter"])
    after = set(_own_hits(counter_map, bridge))
    added = [i for i in counter_map.instructions if i.key in after - before]
    assert before < after
    assert [i.name for i in added if i.name.startswith("THROW")] == ["THROWIFNOT"]
    throw = next(i for i in added if i.name == "THROWIFNOT")
    assert counter_map.asm[throw.asm_line].strip() == "THROWIFNOT 401"
    assert len(added) == 17


def test_instructions_carry_their_tolk_lines(counter_map: tc.CodeMap) -> None:
    assert counter_map.tolk_file == "counter.tolk"
    by_text = {counter_map.asm[i.asm_line].strip(): i for i in counter_map.instructions}
    owner_check = _source_line("assert (in.senderAddress == storage.owner)")
    positive = _source_line("assert (x > 0) throw ERR_NOT_POSITIVE")
    assert counter_map.tolk[by_text["THROWIFNOT 401"].key] == ("counter.tolk", owner_check)
    assert counter_map.tolk[by_text["THROWIFNOT 77"].key] == ("counter.tolk", positive)
    # only the compiler's dispatcher (method table lookup, unknown method) has no Tolk line
    unmapped = [i.name for i in counter_map.instructions if i.key not in counter_map.tolk]
    assert unmapped == ["SETCP", "DICTPUSHCONST", "DICTIGETJMPZ", "THROWARG"]


def test_tolk_lines_only_for_the_code_the_source_compiles_to(
    counter_map: tc.CodeMap, increased: tuple[tc.RecordingBridge, EmulatedChain]
) -> None:
    # the wallet's code is not what counter.tolk compiles to: no Tolk line is guessed
    wallet = tc.disassemble(increased[1].wallet_code(), "wallet")
    tc.attach_tolk_lines(wallet, FIXTURE)
    assert wallet.tolk_file is None and not wallet.tolk


def test_parse_vm_log_skips_implicit_steps() -> None:
    h = "AB" * 32
    log = "\n".join(
        [
            f"code cell hash: {h} offset: 0",
            "execute SETCP 0",
            f"code cell hash: {h} offset: 16",
            "execute implicit RET",
            "stack: [ ]",
            f"code cell hash: {h} offset: 40",
            "execute DICTIGETJMPZ",
        ]
    )
    assert list(tc.parse_vm_log(log)) == [(h.lower(), 0), (h.lower(), 40)]


def test_bench_coverage_prints_the_table_and_writes_the_snapshot(
    counter_map: tc.CodeMap,
    increased: tuple[tc.RecordingBridge, EmulatedChain],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bridge, _ = increased
    report = tc.measure(
        {"counter": counter_map}, bridge.hits, tc.ScenarioLog(traces=2), bridge.runs, 1.0
    )
    # the pool scenarios take minutes: the command runs here on the counter's measurement
    monkeypatch.setattr(tc, "pool_coverage", lambda matrix: report)
    snapshot = tmp_path / "cov.json"
    result = CliRunner().invoke(app, ["bench", "coverage", "--missed", "--snapshot", str(snapshot)])
    assert result.exit_code == 0, result.output
    assert "counter" in result.output and "61.86" in result.output
    owner_check = _source_line("assert (in.senderAddress == storage.owner)")
    assert f"counter.tolk:{owner_check}" in result.output  # a missed block, with its line
    assert "reachable: not reached yet" in result.output  # no rule knows the counter's blocks
    assert "all: 60 of 97 (61.86 %)" in result.output
    result = CliRunner().invoke(app, ["bench", "coverage", "--json", "--no-snapshot"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    c = data["contracts"]["counter"]
    assert (c["instructions_present"], c["instructions_executed"]) == (97, 60)
    assert json.loads(snapshot.read_text(encoding="utf-8")) == data
    # the tables of docs/coverage.md, from the same figures
    result = CliRunner().invoke(app, ["bench", "coverage", "--markdown", "--no-snapshot"])
    assert result.exit_code == 0
    assert "| counter | 97 | 60 | 61.86 | 61.86 |" in result.output
    assert "| **all** | 97 | 60 | 61.86 | 61.86 | | |" in result.output
    assert result.output.count("Reachable, not reached yet.") == len(c["missed"])
    assert tc.markdown(data) in result.output


def test_the_matrix_bodies_cover_every_message_struct() -> None:
    expected = {
        name
        for name in dir(m)
        if isinstance(getattr(m, name), type)
        and issubclass(getattr(m, name), TlbStruct)
        and getattr(m, name).PREFIX is not None
        and getattr(m, name).PREFIX_BITS == 32
    }
    bodies = tc.sample_bodies(Address("0:" + "11" * 32))
    assert {name for name, _ in bodies} == expected


def test_a_held_credit_to_a_frozen_participant_comes_back_as_reserve() -> None:
    """The driver's held-back delivery (``tc.hold``): a CreditPending cut out of its crank's
    trace, delivered after storage rent froze the member's contract, bounces; the
    distribution keeps the amount as reserve and returns the crank's change."""
    signer = OracleSigner.from_seed_text("cocoon-pool-oracle")
    params = PoolParams(oracle_key=signer.public_key, min_payout=ton(10**5))
    sb = PoolSandbox.create(params=params)
    a = sb.add_member("a")
    sb.pool.send_income(sb.proxy, ton(100)).assert_success()
    sb.close_epoch()
    sb.report(
        a, 1, MemberMetrics(running_seconds=3600, gpu_score=1000, uptime_bps=10_000, outages=0)
    ).assert_success()
    sb.finalize()
    before = sb.pool.ledger()
    credit = tc.hold(sb, lambda s: s.pool.crank_payout(s.keeper, a.address, 1), m.CreditPending)
    assert credit is not None and credit.op == m.CreditPending.PREFIX
    amount = m.CreditPending.from_cell(credit.body).amount
    held = sb.pool.ledger()
    assert amount > 0 and held.pending_credit == before.pending_credit + amount
    participant = sb.pool.participant_address(a.address)
    tc.freeze(sb, participant)
    trace = sb.chain.send_message(credit.cell)
    refused = trace.find(participant)
    assert refused.end_status == "frozen" and refused.bounced
    back = trace.find_all(sb.pool.distribution)
    assert len(back) == 1 and back[0].success
    after = sb.pool.ledger()
    assert after.pending_credit == before.pending_credit
    assert after.reserve == held.reserve + amount
    sb.assert_conserved()


def test_held_refusals_of_a_replayed_batch_settle_into_the_reserve_after_finalize() -> None:
    """The driver's ``tc.hold_refusals``: a batch relayed twice, the copy's ApplyReports
    delivered and refused (replays), their bounces held; the epoch freezes with the copy
    counted, and each bounce delivered afterwards settles one refused share into the reserve,
    the last one retiring the epoch."""
    sb = PoolSandbox.create()
    members = [sb.add_member(name) for name in ("a", "b")]
    sb.pool.send_income(sb.proxy, ton(100)).assert_success()
    sb.close_epoch()
    metrics = MemberMetrics(running_seconds=3600, gpu_score=1000, uptime_bps=10_000, outages=0)
    reports = [sb.pool.signed_report(sb.signer, w.address, 1, metrics) for w in members]
    sb.pool.submit_reports(sb.keeper, reports).assert_success()
    bounces = tc.hold_refusals(sb, lambda s: s.pool.submit_reports(s.keeper, reports))
    assert len(bounces) == 2 and all(b.bounced for b in bounces)
    assert sb.pool.reporting_epoch().reporters == 4
    sb.finalize()
    for w in members:
        sb.pool.crank_payout(sb.keeper, w.address, 1).assert_success()
    reserve = sb.pool.ledger().reserve
    assert sb.pool.final_epoch(1).claims_left == 2
    for bounce in bounces:
        sb.chain.send_message(bounce.cell).assert_success()
    assert not sb.pool.final_epoch(1).found  # the last refusal retired the epoch
    ledger = sb.pool.ledger()
    assert ledger.reserve > reserve and ledger.unsettled == 0
    sb.assert_conserved()


def _block(texts: list[str], instructions: list[str], before: str = "") -> tc.MissedBlock:
    return tc.MissedBlock(0, len(instructions) - 1, instructions, [], texts, before)


def test_unreachable_blocks_are_recognized_by_source_text_not_line_numbers() -> None:
    no_arm = _block(["match (original) {"], ["THROW_SHORT 63"])
    assert tc.classify("RewardDistribution", no_arm).verdict == "unreachable"
    # the same line with more than the compiler's no-arm throw is a real path
    assert (
        tc.classify("RewardDistribution", _block(["match (original) {"], ["DROP"])).verdict is None
    )
    # a contract's own rule does not apply to another contract
    keeper = _block(["settle.excessTo = sender;"], ["DROP", "NEWC"])
    assert tc.classify("Participant", keeper).verdict == "unreachable"
    assert tc.classify("PoolOperator", keeper).verdict is None
    # the opcode comes from the message mirror
    confirm = _block([], [f"SDBEGINSQ x{{{m.ConfirmOwnerAction.PREFIX:08X}}}"])
    assert tc.classify("Participant", confirm).verdict == "defensive"
    save = ["BLKDROP 4", "STSLICECONST x{4_}"]
    in_bounce = _block(
        ["contract.setData(self.toCell())"], save, "state.pending += original.pendingCarry;"
    )
    assert tc.classify("Participant", in_bounce).verdict == "unreachable"
    elsewhere = _block(["contract.setData(self.toCell())"], save, "state.pending = 0;")
    assert tc.classify("Participant", elsewhere).verdict is None
    assert all(rule.reason for rule in tc.UNREACHABLE)
