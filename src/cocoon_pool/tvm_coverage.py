"""TVM instruction coverage of the pool contracts, measured in the real emulator.

*Present*: every instruction of a contract's code cell tree, disassembled by ton-assembly
(the disassembler @ton/sandbox pins) through the Node bridge's ``disassemble`` op. Each one
is keyed by what the VM log names when it runs it: the hash of the code cell and the bit
offset inside it. Method and function tables are dictionaries whose leaves run in place, so
the log names the leaf cell and an offset past the dictionary key; the bridge reports the
offset of each leaf's code and :meth:`CodeMap.locate` subtracts it.

*Executed*: the ``full_location`` VM log of every transaction and get-method run through a
:class:`RecordingBridge`, which every chain built on it (forks included) shares.

*Tolk lines*: the compiler's Fift output with source-line comments is aligned, procedure by
procedure, with the disassembly (see :func:`tolk_lines`); where the two do not line up an
instruction keeps no Tolk line and the report says so.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from ton_core import Cell, begin_cell

from cocoon_pool.chain import node as node_module
from cocoon_pool.chain.emulator import EmulatedChain
from cocoon_pool.chain.node import NodeBridge, find_node_dir, get_bridge
from cocoon_pool.chain.types import OutMessage, Trace, cell_to_b64
from cocoon_pool.contracts import messages as m
from cocoon_pool.contracts import storage as st
from cocoon_pool.contracts.build import POOL_CONTRACTS, contracts_dir, pool_contract_code
from cocoon_pool.contracts.codec import TlbStruct
from cocoon_pool.contracts.constants import fee, ton
from cocoon_pool.contracts.pool import (
    MAX_MEMBERS_PER_VERIFY,
    Pool,
    PoolParams,
    operator_code,
    operator_init_data,
    verify_value,
)
from cocoon_pool.contracts.reports import (
    MAX_REPORTS_PER_BATCH,
    OracleSigner,
    batch_message,
    report_value,
)
from cocoon_pool.economics import MemberMetrics
from cocoon_pool.errors import ChainError, CocoonPoolError
from cocoon_pool.sandbox import PoolSandbox

LOCATION_VERBOSITY = "full_location"
_LOCATION = re.compile(r"^code cell hash: ([0-9A-Fa-f]{64}) offset: (\d+)$")

Key = tuple[str, int]
"""(code cell hash in lower-case hex, bit offset): one instruction."""


class CoverageError(CocoonPoolError):
    """The disassembly or the VM logs could not be matched to the code."""


@dataclass(frozen=True)
class Instruction:
    key: Key
    name: str
    asm_line: int
    """0-based line of the instruction in :attr:`CodeMap.asm`."""


@dataclass
class CodeMap:
    """Every instruction of one code cell tree."""

    name: str
    code_hash: str
    asm: list[str]
    instructions: list[Instruction]
    dictionary_cells: dict[str, tuple[int, str]]
    """dictionary leaf cell hash -> (bit offset of its code, hash of that code as a cell)"""
    tolk: dict[Key, tuple[str, int]] = field(default_factory=dict)
    """instruction -> (Tolk source file, 1-based line), where the alignment gave one"""
    tolk_aligned: set[Key] = field(default_factory=set)
    """the instructions the alignment matched directly (the rest of ``tolk`` is filled in)"""
    tolk_file: str | None = None
    tolk_text: dict[tuple[str, int], str] = field(default_factory=dict)
    """(Tolk file, line) -> the line's source text, for every line in ``tolk``"""
    _by_key: dict[Key, Instruction] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_key = {i.key: i for i in self.instructions}

    def locate(self, cell_hash: str, offset: int) -> Key | None:
        """The instruction a VM log line names, or None when it is not in this code."""
        key = (cell_hash.lower(), offset)
        if key in self._by_key:
            return key
        leaf = self.dictionary_cells.get(key[0])
        if leaf is not None:
            inner = (leaf[1], offset - leaf[0])
            if inner in self._by_key:
                return inner
        return None

    @property
    def keys(self) -> set[Key]:
        return set(self._by_key)


def _real_instructions(entries: list[list[Any]]) -> list[tuple[int, str, int]]:
    """Drop ton-assembly's synthetic entries: a JMPREF it records at offset 0 of a cell that
    continues its parent, and a RET it records at the offset of a block's last instruction.
    Neither occupies bits of its own, so neither can show up in a VM log."""
    rows = [(int(o), str(n), int(line)) for o, n, line in entries]
    out: list[tuple[int, str, int]] = []
    for i, row in enumerate(rows):
        offset, name, _ = row
        same_next = i + 1 < len(rows) and rows[i + 1][0] == offset
        same_prev = i > 0 and rows[i - 1][0] == offset
        if name == "JMPREF" and same_next:
            continue
        if name == "RET" and same_prev:
            continue
        if out and out[-1][0] == offset:
            continue
        out.append(row)
    return out


# Openers of a block that is data, not code: the disassembler decodes a constant slice or
# cell as if it were instructions, but the VM only pushes or stores it.
_DATA_BLOCK = re.compile(
    r"^\s*(PUSHREFSLICE|PUSHREF|PUSHSLICE\w*|STREFCONST|STREF2CONST|STSLICECONST\w*) \{$"
)


def _data_lines(asm: list[str]) -> set[int]:
    """0-based lines of the disassembly inside data blocks (see ``_DATA_BLOCK``)."""
    lines: set[int] = set()
    n = 0
    while n < len(asm):
        if _DATA_BLOCK.match(asm[n]) is None:
            n += 1
            continue
        indent = len(asm[n]) - len(asm[n].lstrip())
        end = n + 1
        while end < len(asm) and not (
            asm[end].strip() == "}" and len(asm[end]) - len(asm[end].lstrip()) == indent
        ):
            end += 1
        lines.update(range(n + 1, end))
        n = end + 1
    return lines


def disassemble(code: Cell, name: str, bridge: NodeBridge | None = None) -> CodeMap:
    """Every instruction of ``code``, keyed as the VM log names them."""
    b = bridge or get_bridge()
    r = b.request("disassemble", codeBoc=cell_to_b64(code))
    if r["recompiledHash"] != r["codeHash"]:
        raise CoverageError(
            f"the disassembly of {name} does not reassemble to the same code",
            hint="ton-assembly cannot round-trip this code; instruction offsets would be wrong",
        )
    asm = str(r["asm"]).split("\n")
    data = _data_lines(asm)
    instructions: list[Instruction] = []
    for cell_hash, entries in r["cells"].items():
        for offset, op, line in _real_instructions(entries):
            if line not in data:
                instructions.append(Instruction((cell_hash.lower(), offset), op, line))
    instructions.sort(key=lambda i: (i.asm_line, i.key))
    dictionary_cells = {
        str(h).lower(): (int(off), str(data).lower()) for h, off, data in r["dictionaryCells"]
    }
    return CodeMap(
        name=name,
        code_hash=str(r["codeHash"]).lower(),
        asm=asm,
        instructions=instructions,
        dictionary_cells=dictionary_cells,
    )


def parse_vm_log(log: str) -> Iterable[Key]:
    """(cell hash, offset) of every instruction the log shows executed. Implicit RETs and
    JMPREFs at the end of a cell occupy no bits: they are not instructions of the code."""
    pending: Key | None = None
    for line in log.splitlines():
        m = _LOCATION.match(line)
        if m is not None:
            pending = (m.group(1).lower(), int(m.group(2)))
            continue
        if line.startswith("execute ") and pending is not None:
            if not line.startswith("execute implicit"):
                yield pending
            pending = None


class RecordingBridge(NodeBridge):
    """A NodeBridge that asks for location logs on every transaction and get-method and
    counts the instructions they executed. Wraps a running bridge (the shared one by
    default), so recording costs no second Node process."""

    def __init__(self, inner: NodeBridge | None = None) -> None:
        self.inner = inner or get_bridge()
        super().__init__(self.inner.node_dir)
        self.hits: Counter[Key] = Counter()
        self.runs = 0

    def request(self, op: str, **params: Any) -> Any:
        return self._record(self.inner.request(op, **self._with_logs(params)))

    # A chain may send a batch of traces and collect the answer later.
    def send(self, op: str, **params: Any) -> int:
        req_id: int = self.inner.send(op, **self._with_logs(params))
        return req_id

    def receive(self, req_id: int, op: str = "request") -> Any:
        return self._record(self.inner.receive(req_id, op))

    @staticmethod
    def _with_logs(params: dict[str, Any]) -> dict[str, Any]:
        if "verbosity" in params:
            params["verbosity"] = LOCATION_VERBOSITY
        return params

    def _record(self, result: Any) -> Any:
        if isinstance(result, dict):
            log = result.get("vmLog")
            if isinstance(log, str) and log:
                self.runs += 1
                self.hits.update(parse_vm_log(log))
        return result

    def close(self) -> None:
        """The wrapped bridge is shared: leave it running."""


@dataclass(frozen=True)
class ContractCoverage:
    name: str
    code_hash: str
    present: int
    executed: int
    tolk_mapped: int
    tolk_file: str | None
    missed: list[Instruction]
    tolk_aligned: int
    missed_tolk_lines: list[tuple[str, int]]
    """Tolk lines with at least one unexecuted instruction"""
    tolk_lines_present: int
    tolk_lines_executed: int

    @property
    def percent(self) -> float:
        return 100.0 * self.executed / self.present if self.present else 100.0

    def missed_blocks(self, code: CodeMap) -> list[tuple[int, int, list[str]]]:
        """Unexecuted instructions grouped into runs of consecutive disassembly lines:
        (first line, last line, instruction texts)."""
        blocks: list[tuple[int, int, list[str]]] = []
        for ins in self.missed:
            text = code.asm[ins.asm_line].strip() if 0 <= ins.asm_line < len(code.asm) else ""
            if blocks and ins.asm_line - blocks[-1][1] <= 1:
                first, _, texts = blocks[-1]
                blocks[-1] = (first, ins.asm_line, [*texts, text])
            else:
                blocks.append((ins.asm_line, ins.asm_line, [text]))
        return blocks


def summarize(code: CodeMap, hits: Counter[Key]) -> ContractCoverage:
    executed_keys = {k for k in code.keys if hits.get(k, 0) > 0}
    missed = [i for i in code.instructions if i.key not in executed_keys]
    lines_present = set(code.tolk.values())
    lines_missed = {code.tolk[i.key] for i in missed if i.key in code.tolk}
    return ContractCoverage(
        name=code.name,
        code_hash=code.code_hash,
        present=len(code.instructions),
        executed=len(executed_keys),
        tolk_mapped=sum(1 for i in code.instructions if i.key in code.tolk),
        tolk_file=code.tolk_file,
        missed=missed,
        tolk_aligned=len(code.tolk_aligned),
        missed_tolk_lines=sorted(lines_missed),
        tolk_lines_present=len(lines_present),
        tolk_lines_executed=len(lines_present - lines_missed),
    )


# -- the scenario driver ------------------------------------------------------------------------


@dataclass
class ScenarioLog:
    """What the driver did: traces sent, and steps that raised in Python (a contract change
    can make a step meaningless; the run goes on and the report lists them)."""

    traces: int = 0
    failed_steps: list[str] = field(default_factory=list)


def _sample_value(type_name: str, kind: object, addr: Any) -> Any:
    """A plausible value for one message field, from its annotation."""
    t = type_name.replace(" ", "")
    if t.endswith("|None"):
        return None
    if t == "bool":
        return True
    if t == "int":
        return 1
    if t == "Address":
        return addr
    if t == "Cell":
        return begin_cell().end_cell()
    if t == "bytes":
        return bytes(64)
    nested = getattr(m, t, None)
    if isinstance(nested, type):
        return _sample_message(nested, addr)
    raise TypeError(f"no sample for {type_name}")


def _sample_message(cls: type[Any], addr: Any) -> Any:
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            continue
        values[f.name] = _sample_value(str(f.type), f.metadata.get("tl"), addr)
    return cls(**values)


def sample_bodies(addr: Any) -> list[tuple[str, Cell]]:
    """One body per message struct of contracts/messages.tolk (every field a plausible
    value), to send to every contract from every role: the refusal matrix."""
    out: list[tuple[str, Cell]] = []
    for cls in m.top_level_messages():
        try:
            out.append((cls.__name__, _sample_message(cls, addr).to_cell()))
        except (TypeError, ValueError, CocoonPoolError):
            continue
    return out


class recording:
    """Make a :class:`RecordingBridge` the process-wide bridge while the block runs, so every
    chain made inside it (PoolSandbox.create, forks, the simulator) records its VM logs."""

    def __init__(self) -> None:
        self.bridge = RecordingBridge()
        self._saved: NodeBridge | None = None

    def __enter__(self) -> RecordingBridge:
        with node_module._shared_lock:
            self._saved = node_module._shared
            node_module._shared = self.bridge
        return self.bridge

    def __exit__(self, *exc: object) -> None:
        with node_module._shared_lock:
            node_module._shared = self._saved


def _step(log: ScenarioLog, name: str, action: Callable[[], Any]) -> Any:
    """Run one driver step; a refusal is the point of many steps, so only a Python error
    (a step the current contracts made meaningless) is noted, and the run goes on."""
    try:
        result = action()
    except Exception as exc:  # any failure is reported, none stops the run
        log.failed_steps.append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        return None
    log.traces += 1
    return result


def _stepper(log: ScenarioLog, suffix: str = "") -> Callable[[str, Callable[[], Any]], Any]:
    def run(name: str, action: Callable[[], Any]) -> Any:
        return _step(log, name + suffix, action)

    return run


def run_scenarios(log: ScenarioLog | None = None, *, matrix: bool = True) -> ScenarioLog:
    """Replay the pool's life and its refusals on fresh embedded chains. Run it inside
    :class:`recording` to collect what the TVM executed."""
    log = log or ScenarioLog()
    _life(log)
    _deploy_refusals(log)
    _quorum(log)
    _refusing_peers(log)
    _slip_shapes(log)
    _held_back(log)
    _report_batches(log)
    if matrix:
        _refusal_matrix(log)
    return log


def _metrics(tier: int, seconds: int) -> Any:
    profiles = ((10_000, 0), (9_000, 1), (8_500, 5), (5_000, 9))
    uptime, outages = profiles[tier % len(profiles)]
    return MemberMetrics(
        running_seconds=seconds, gpu_score=1000 + tier, uptime_bps=uptime, outages=outages
    )


def _life(log: ScenarioLog) -> None:

    sb = PoolSandbox.create()
    pool, admin, chain = sb.pool, sb.admin, sb.chain
    s = _stepper(log)
    members = [s(f"member {i}", partial(sb.add_member, f"m{i}")) for i in range(5)]
    members = [w for w in members if w is not None]
    if len(members) < 2:
        return
    unverified = sb.wallet("unverified")
    s("register unverified", lambda: pool.register(unverified, sb.params.min_stake))
    s("bind unverified", lambda: pool.bind_worker(unverified, unverified.address))
    s("bind again", lambda: pool.bind_worker(unverified, unverified.address, admin.address))
    s("bind other worker", lambda: pool.bind_worker(unverified, admin.address))
    s("register twice", lambda: pool.register(members[0], sb.params.min_stake))
    s("register low stake", lambda: pool.register(sb.wallet("poor"), 1))
    s("register low value", lambda: pool.register(sb.wallet("poor"), ton(10), value=ton(10)))
    for kind in ("payout", "excesses", "comment", "empty"):
        s(f"income {kind}", partial(pool.send_income, sb.proxy, ton(50), kind))
    s("close too early", lambda: pool.close_epoch(sb.keeper))
    s("finalize nothing", lambda: pool.finalize_epoch(sb.keeper))
    for epoch in (1, 2):
        _epoch(log, sb, epoch, members, unverified)
    _late_epochs(log, sb, members)
    _finalize_on_the_way(log)
    for w in members:
        s("claim pending", partial(pool.claim_pending, w))
    # owner actions, to the wallets that stand in for Cocoon's worker and node wallet
    w0, w1 = members[0], members[1]
    s("owner register", lambda: pool.owner_worker_register(admin, w0.address))
    s("owner withdraw", lambda: pool.owner_wallet_withdraw(admin, w0.address, ton(1)))
    s("owner register low", lambda: pool.owner_worker_register(admin, w0.address, value=1))
    s("owner by stranger", lambda: pool.owner_worker_register(sb.keeper, w1.address))
    s("owner unbound", lambda: pool.owner_worker_register(admin, unverified.address))
    s("revoke", lambda: pool.verify_member(admin, w1.address, verified=False))
    s("verify stranger", lambda: pool.verify_member(admin, sb.keeper.address))
    batch = [w0.address, w1.address, unverified.address]
    s("verify batch", lambda: pool.verify_members(admin, batch))
    s("verify batch low", lambda: pool.verify_members(admin, batch, value=verify_value(2)))
    too_many = [w0.address] * (MAX_MEMBERS_PER_VERIFY + 1)
    s("verify batch too large", lambda: pool.verify_members(admin, too_many))
    # admin: pause, stake, commission, emergency, changes under the timelock
    call = pool.admin_call
    s("pause by pauser", lambda: call(sb.pauser, m.PausePool()))
    s("pause twice", lambda: call(sb.pauser, m.PausePool()))
    s("close while paused", lambda: pool.close_epoch(sb.keeper))
    s("unpause by pauser", lambda: call(sb.pauser, m.UnpausePool()))
    s("pause by admin", lambda: call(admin, m.PausePool()))
    s("emergency while paused", lambda: call(admin, m.EmergencyWithdraw(query_id=2, amount=ton(1))))
    s(
        "emergency over the stake",
        lambda: call(admin, m.EmergencyWithdraw(query_id=3, amount=ton(10**6))),
    )
    s("unpause by admin", lambda: call(admin, m.UnpausePool()))
    s("unpause twice", lambda: call(admin, m.UnpausePool()))
    s("deposit stake", lambda: call(admin, m.DepositOperatorStake(), value=ton(5)))
    s("collect commission", lambda: call(admin, m.CollectCommission()))
    s("collect twice", lambda: call(admin, m.CollectCommission()))
    s("emergency too much", lambda: call(admin, m.EmergencyWithdraw(query_id=1, amount=ton(10**6))))
    s("emergency", lambda: call(admin, m.EmergencyWithdraw(query_id=1, amount=ton(1))))
    s("apply nothing", lambda: call(admin, m.ApplyChange()))
    s("cancel nothing", lambda: call(admin, m.CancelChange()))
    s("accept nothing", lambda: call(sb.keeper, m.AcceptRole()))
    changes: list[m.ParameterChange] = [
        m.ChangeCommission(bps=1200),
        m.ChangeCommission(bps=1),
        m.ChangeMinStake(amount=ton(20)),
        m.ChangeMinStake(amount=1),
        m.ChangeEpochLength(seconds=sb.params.epoch_length * 2),
        m.ChangeEpochLength(seconds=1),
        m.ChangeOracleKeys(quorum=1, keys=m.oracle_keys_cell([sb.signer.public_key])),
        m.ChangeOracleKeys(quorum=3, keys=m.oracle_keys_cell([sb.signer.public_key])),
        m.ChangeOracleKeys(quorum=0, keys=None),
        m.ChangeMemberCap(cap=1000),
        m.ChangeMemberCap(cap=1),
        m.ChangeAdmin(nominee=sb.keeper.address),
        m.ChangePauser(nominee=sb.keeper.address),
    ]
    for target in (m.UPGRADE_POOL, m.UPGRADE_REGISTRY, m.UPGRADE_DISTRIBUTION, 9):
        changes.append(m.UpgradeContract(target=target, code=_own_code(chain, target, sb)))
    base = sb.fork()
    for change in changes:
        _change_on_fork(log, base, change)
    _changes_in_one_epoch(log, base)
    s("propose then cancel", lambda: pool.propose_change(sb.keeper, m.ChangeCommission(bps=900)))
    s("propose", lambda: pool.propose_change(admin, m.ChangeCommission(bps=900)))
    s("propose", lambda: pool.propose_change(sb.keeper, m.ChangeCommission(bps=900)))
    s("cancel by stranger", lambda: call(sb.pauser, m.CancelChange()))
    s("cancel", lambda: call(admin, m.CancelChange()))
    s("cancel", lambda: call(sb.keeper, m.CancelChange()))
    # leaving: unregister, withdraw too early and after unbonding; then the pool winds down
    drifter = sb.wallet("drifter")  # joins without a binding, leaves, comes back with one
    s("register unbound", lambda: pool.register(drifter, sb.params.min_stake))
    s("unregister unbound", lambda: pool.unregister(drifter))
    for w in members[:2]:
        s("withdraw before unregister", partial(pool.withdraw_stake, w))
        s("unregister", partial(pool.unregister, w))
        s("unregister twice", partial(pool.unregister, w))
        s("withdraw early", partial(pool.withdraw_stake, w))
    chain.advance(sb.params.unbonding_seconds + 1)
    for w in members[:2]:
        s("withdraw", partial(pool.withdraw_stake, w))
        s("withdraw twice", partial(pool.withdraw_stake, w))
        s("claim after leaving", partial(pool.claim_pending, w))
    s("rejoin after withdrawal", lambda: pool.register(members[0], sb.params.min_stake))
    rebind = sb.keeper.address
    s("rejoin rebinding", lambda: pool.register(members[1], sb.params.min_stake, worker=rebind))
    s("withdraw unbound", lambda: pool.withdraw_stake(drifter))
    s("rejoin binding", lambda: pool.register(drifter, sb.params.min_stake, worker=rebind))
    # an epoch still reporting when the pool closes: it is finalized flat (winding down)
    s("income before closing", lambda: pool.send_income(sb.proxy, ton(20)))
    s("close before closing", sb.close_epoch)
    reporting = _step(log, "reporting epoch", pool.reporting_epoch)
    if reporting is not None:
        for i, w in enumerate(members[2:]):
            s("report before closing", partial(sb.report, w, reporting.epoch, _metrics(i, 3600)))
    s("close pool by stranger", lambda: call(sb.pauser, m.ClosePool()))
    for who in (admin, sb.keeper):
        s("close pool", partial(call, who, m.ClosePool()))
        s("close pool twice", partial(call, who, m.ClosePool()))
    s("register after close", lambda: pool.register(sb.wallet("late"), sb.params.min_stake))
    s("income after close", lambda: pool.send_income(sb.proxy, ton(5)))
    s("close after close", sb.close_epoch)
    s("finalize after close", sb.finalize)
    for w in members[2:]:
        for epoch in range(5, 9):
            s("crank a flat epoch", partial(pool.crank_payout, sb.keeper, w.address, epoch))
    for w in members[2:]:
        s("unregister after close", partial(pool.unregister, w))
        s("claim after close", partial(pool.claim_pending, w))
    chain.advance(sb.params.unbonding_seconds + 1)
    for w in members[2:]:
        s("withdraw after close", partial(pool.withdraw_stake, w))
    s(
        "bounce low fee",
        lambda: pool.admin_call(admin, m.CollectCommission(), value=fee("ADMIN_OP_FEE") // 10),
    )
    _getters(log, sb)


def _epoch(log: ScenarioLog, sb: Any, epoch: int, members: list[Any], unverified: Any) -> None:
    """One epoch: close, reports (and refused ones), finalize, cranks and claims."""
    pool = sb.pool
    s = _stepper(log)
    w0 = members[0]
    seconds = sb.params.epoch_length // 2
    bad = OracleSigner.from_seed_text("not-the-oracle")
    s(f"close {epoch}", sb.close_epoch)
    for i, w in enumerate(members):
        s(f"report {epoch}/{i}", partial(sb.report, w, epoch, _metrics(i, seconds)))
    s("report twice", lambda: sb.report(w0, epoch, _metrics(0, seconds)))
    s("report wrong epoch", lambda: sb.report(w0, epoch + 5, _metrics(0, seconds)))
    s(
        "report bad signer",
        lambda: pool.submit_report(sb.keeper, bad, w0.address, epoch, _metrics(0, 1)),
    )
    s(
        "report low value",
        lambda: pool.submit_report(
            sb.keeper, sb.signer, w0.address, epoch, _metrics(0, 1), value=1
        ),
    )
    s("report unverified", lambda: sb.report(unverified, epoch, _metrics(0, seconds)))
    s("finalize too early", lambda: pool.finalize_epoch(sb.keeper))
    s(f"finalize {epoch}", sb.finalize)
    s("finalize twice", lambda: pool.finalize_epoch(sb.keeper))
    for i, w in enumerate(members):
        if i % 2 == 0:
            s("crank", partial(pool.crank_payout, sb.keeper, w.address, epoch))
        else:
            s("claim", partial(pool.claim_rewards, w, epoch))
    s("crank twice", lambda: pool.crank_payout(sb.keeper, w0.address, epoch))
    s("claim future", lambda: pool.claim_rewards(w0, epoch + 9))
    s("claim low value", lambda: pool.claim_rewards(w0, epoch, value=1))
    for kind in ("payout", "excesses"):
        s("income", partial(pool.send_income, sb.proxy, ton(30), kind))


def _late_epochs(log: ScenarioLog, sb: Any, members: list[Any]) -> None:
    """Epoch 3 is finalized by the next close; its slips are claimed after epoch 4's, the
    last one retires the epoch. A pause inside a report window gives the window back."""
    pool, s = sb.pool, _stepper(log)
    seconds = sb.params.epoch_length // 2
    s("income 3", lambda: pool.send_income(sb.proxy, ton(40)))
    s("close 3", sb.close_epoch)
    for i, w in enumerate(members):
        s("report 3", partial(sb.report, w, 3, _metrics(i, seconds)))
    s("pause in window", lambda: pool.admin_call(sb.pauser, m.PausePool()))
    sb.chain.advance(3600)
    s("unpause in window", lambda: pool.admin_call(sb.admin, m.UnpausePool()))
    s("income 4", lambda: pool.send_income(sb.proxy, ton(40)))
    s("close 4 (finalizes 3)", sb.close_epoch)
    s("crank 3 first", lambda: pool.crank_payout(sb.keeper, members[0].address, 3))
    for i, w in enumerate(members):
        s("report 4", partial(sb.report, w, 4, _metrics(i + 1, seconds)))
    s("pause after window", lambda: pool.admin_call(sb.pauser, m.PausePool()))
    sb.chain.advance(sb.params.report_grace + 1)
    s("finalize while paused", lambda: pool.finalize_epoch(sb.keeper))
    s("unpause after window", lambda: pool.admin_call(sb.admin, m.UnpausePool()))
    s("finalize 4", sb.finalize)
    for w in members:
        s("crank 4", partial(pool.crank_payout, sb.keeper, w.address, 4))
    for w in members[1:]:
        s("crank 3 late", partial(pool.crank_payout, sb.keeper, w.address, 3))
    s("unclaimed 3", partial(pool.unclaimed, members[0].address, 3))
    s("final 3", partial(pool.final_epoch, 3))
    # epoch 5: only penalized members (no bonus weight), settled by a crank that finalizes
    # the epoch on its way, once the window is over
    s("income 5", lambda: pool.send_income(sb.proxy, ton(40)))
    s("close 5", sb.close_epoch)
    for w in members:
        s("report 5", partial(sb.report, w, 5, _metrics(3, seconds)))
    s("crank 5 in window", lambda: pool.crank_payout(sb.keeper, members[0].address, 5))
    sb.chain.advance(sb.params.report_grace + 1)
    for w in members:
        s("crank 5 (finalizes)", partial(pool.crank_payout, sb.keeper, w.address, 5))
    for epoch in range(1, 7):
        s("final epoch", partial(pool.final_epoch, epoch))


def _finalize_on_the_way(log: ScenarioLog) -> None:
    """Finalizing is inlined where it happens (a close, FinalizeEpoch, a claim), so each copy
    takes its branches here: a close and a claim that finalize while the previous final epoch
    still owes claims, a claim that finalizes an epoch whose only report counted nothing, and
    one that finalizes a winding-down epoch flat."""
    sb = PoolSandbox.create()
    pool, s = sb.pool, _stepper(log, " (finalize on the way)")
    a, b = (s(f"member {name}", partial(sb.add_member, name)) for name in ("fa", "fb"))
    if a is None or b is None:
        return
    seconds = sb.params.epoch_length // 2

    def reported_epoch(epoch: int, running_seconds: int = seconds) -> None:
        s("income", lambda: pool.send_income(sb.proxy, ton(40)))
        s(f"close {epoch}", sb.close_epoch)
        for w in (a, b):
            s(f"report {epoch}", partial(sb.report, w, epoch, _metrics(0, running_seconds)))

    reported_epoch(1)
    s("finalize 1", sb.finalize)
    reported_epoch(2)
    sb.chain.advance(sb.params.report_grace + 1)
    s("claim 2 (finalizes 2, epoch 1 still owed)", lambda: pool.claim_rewards(a, 2))
    reported_epoch(3)
    s("close 4 (finalizes 3, epoch 2 still owed)", sb.close_epoch)
    s("report 4, nothing counted", lambda: sb.report(a, 4, _metrics(0, 0)))
    sb.chain.advance(sb.params.report_grace + 1)
    s("claim 4 (finalizes an epoch of zero contribution)", lambda: pool.claim_rewards(a, 4))
    s("finalize 4", sb.finalize)
    reported_epoch(5)
    s("close pool", lambda: pool.admin_call(sb.admin, m.ClosePool()))
    sb.chain.advance(sb.params.report_grace + 1)
    s("claim 5 (finalizes flat)", lambda: pool.claim_rewards(b, 5))


def _deploy_refusals(log: ScenarioLog) -> None:
    """DeployPool with every kind of bad configuration, and with too little value."""
    chain = EmulatedChain()
    admin = chain.create_wallet("admin", ton(10**6))
    signer = OracleSigner.from_seed_text("coverage-deploy")
    good = PoolParams(oracle_key=signer.public_key)
    replace = dataclasses.replace
    for label, params in (
        ("commission", replace(good, commission_bps=1)),
        ("epoch", replace(good, epoch_length=600)),
        ("grace", replace(good, report_grace=good.epoch_length)),
        ("min stake", replace(good, min_stake=1)),
        ("timelock", replace(good, timelock_seconds=1)),
        ("quorum", replace(good, oracle_quorum=3)),
        ("pool id", replace(good, pool_id=7)),
    ):
        _step(log, f"deploy bad {label}", partial(Pool.deploy, chain, admin, params, ton(10)))
    # An empty oracle set cannot be written through PoolParams (key 0 is required): the
    # storage is built by hand, as anyone deploying the operator code could.
    for label, config, value in (
        ("no oracle keys", dataclasses.replace(good.config(), oracle_keys=None), ton(50)),
        ("too little value", good.config(), ton(1)),
    ):
        data = dataclasses.replace(
            st.PoolOperatorStorage.from_cell(
                operator_init_data(admin.address, admin.address, good)
            ),
            config=config,
            pool_id=len(label),
        ).to_cell()
        _step(
            log,
            f"deploy {label}",
            partial(
                chain.deploy,
                operator_code(),
                data,
                value,
                admin,
                body=m.DeployPool().to_cell(),
                bounce=True,
            ),
        )


def _quorum(log: ScenarioLog) -> None:
    """A 2-of-3 oracle set: reports with every kind of bad signature chain."""
    s = _stepper(log, " (2 of 3)")
    keys = [OracleSigner.from_seed_text(f"coverage-oracle-{i}") for i in range(3)]
    outsider = OracleSigner.from_seed_text("coverage-outsider")
    params = PoolParams(
        oracle_key=keys[0].public_key,
        extra_oracle_keys=(keys[1].public_key, keys[2].public_key),
        oracle_quorum=2,
    )
    sb = PoolSandbox.create(params=params, oracle_seed="coverage-oracle-0")
    a = _step(log, "quorum member", lambda: sb.add_member("a"))
    if a is None:
        return
    # a pause before any epoch closed: nothing to extend on unpause
    s("pause", lambda: sb.pool.admin_call(sb.admin, m.PausePool()))
    s("unpause", lambda: sb.pool.admin_call(sb.admin, m.UnpausePool()))
    s("income", lambda: sb.pool.send_income(sb.proxy, ton(10)))
    s("close", sb.close_epoch)
    metrics = _metrics(0, sb.params.epoch_length // 2)
    for label, signers in (
        ("one key", [(0, keys[0])]),
        ("unordered", [(1, keys[1]), (0, keys[0])]),
        ("repeated", [(0, keys[0]), (0, keys[0])]),
        ("unknown index", [(0, keys[0]), (7, keys[1])]),
        ("wrong key", [(0, keys[0]), (1, outsider)]),
        ("good", [(0, keys[0]), (2, keys[2])]),
        ("three", [(0, keys[0]), (1, keys[1]), (2, keys[2])]),
    ):
        s(label, partial(sb.pool.submit_report, sb.keeper, signers, a.address, 1, metrics))
    # a pause that begins after the report window: unpausing gives no time back
    reporting = _step(log, "reporting epoch", sb.pool.reporting_epoch)
    if reporting is not None:
        sb.chain.set_now(max(sb.chain.now, reporting.deadline + 1))
    s("pause after the window", lambda: sb.pool.admin_call(sb.admin, m.PausePool()))
    s("unpause after the window", lambda: sb.pool.admin_call(sb.admin, m.UnpausePool()))
    s("finalize", lambda: sb.pool.finalize_epoch(sb.keeper))


# Long enough for every timelock: money changes wait out an epoch, its grace and unbonding.
_TIMELOCK_WAIT = 120 * 86_400


def _change_on_fork(log: ScenarioLog, base: Any, change: Any) -> None:
    """Propose, refuse early, apply and (for a role) accept one change, on its own fork."""
    sb = base.fork()
    call, label = sb.pool.admin_call, type(change).__name__
    s = _stepper(log, f" {label}")
    s("propose by stranger", lambda: sb.pool.propose_change(sb.keeper, change))
    s("propose", lambda: sb.pool.propose_change(sb.admin, change))
    s("pending_change", sb.pool.pending_change)
    s("propose twice", lambda: sb.pool.propose_change(sb.admin, change))
    s("apply early", lambda: call(sb.admin, m.ApplyChange()))
    sb.chain.advance(_TIMELOCK_WAIT)
    s("apply by stranger", lambda: call(sb.keeper, m.ApplyChange()))
    s("apply", lambda: call(sb.admin, m.ApplyChange()))
    s("accept by stranger", lambda: call(sb.pauser, m.AcceptRole()))
    s("accept", lambda: call(sb.keeper, m.AcceptRole()))
    s("roles", sb.pool.roles)
    # what the new settings change next: a member joining, an epoch, a report
    s("register after", lambda: sb.pool.register(sb.wallet("after"), sb.params.min_stake))
    # refused by the member's own contract: in a capped pool the bounce frees the seat
    s("register again", lambda: sb.pool.register(sb.wallet("after"), sb.params.min_stake))
    s("close after", sb.close_epoch)
    s("income after", lambda: sb.pool.send_income(sb.proxy, ton(5)))
    s("close again", sb.close_epoch)
    s("close a third time", sb.close_epoch)


def _changes_in_one_epoch(log: ScenarioLog, base: Any) -> None:
    """A commission change, then another change before the next epoch starts: the second
    config update repeats the commission already scheduled, which stays scheduled."""
    sb = base.fork()
    call = sb.pool.admin_call
    s = _stepper(log, " two changes")
    changes: list[m.ParameterChange] = [
        m.ChangeCommission(bps=1200),
        m.ChangeEpochLength(seconds=sb.params.epoch_length * 2),
    ]
    for change in changes:
        s("propose", partial(sb.pool.propose_change, sb.admin, change))
        sb.chain.advance(_TIMELOCK_WAIT)
        s("apply", lambda: call(sb.admin, m.ApplyChange()))
    s("config", sb.pool.ledger)


def _own_code(chain: Any, target: int, sb: Any) -> Cell:
    """The code a child contract already runs (an upgrade to itself changes nothing)."""
    address = {1: sb.pool.registry, 2: sb.pool.distribution}.get(target, sb.pool.operator)
    code = chain.get_state(address).code
    return code if code is not None else begin_cell().end_cell()


def _getters(log: ScenarioLog, sb: Any) -> None:
    pool = sb.pool
    s = _stepper(log)
    member = next(iter(sb.members.values()), sb.admin)
    for name in ("pool_info", "roles", "pending_change", "registry_info", "ledger"):
        s(name, getattr(pool, name))
    s("reporting_epoch", pool.reporting_epoch)
    for epoch in (0, 1, 2, 99):
        s("final_epoch", partial(pool.final_epoch, epoch))
        s("unclaimed", partial(pool.unclaimed, member.address, epoch))
        s("epoch_record", partial(pool.epoch_record, member.address, epoch))
    s("participant_info", lambda: pool.participant_info(member.address))
    for address in (pool.registry, pool.distribution):
        s(
            "participantAddress",
            partial(sb.chain.run_get_method, address, "participantAddress", [member.address]),
        )
    s("links", partial(sb.chain.run_get_method, pool.distribution, "links"))
    participant = pool.participant_address(member.address)
    for address in (pool.operator, pool.registry, pool.distribution, participant):
        # an id no method or function of the contracts has (ids 1, 2... are functions)
        s("no such getter", partial(sb.chain.run_get_method, address, 999_999, check=False))


def _refusal_matrix(log: ScenarioLog) -> None:
    """Every message struct, from every role, to every contract, with a fee-sized value and
    with 1 nanoton, on a fresh fork of a pool with a verified member in an open epoch."""
    base = PoolSandbox.create()
    member = _step(log, "matrix member", lambda: base.add_member("matrix-member"))
    if member is None:
        return
    _step(log, "matrix income", lambda: base.pool.send_income(base.proxy, ton(10)))
    # A Participant deployed by a stranger (its address is public): it has no member state,
    # so every handler meets its "not registered" checks.
    ghost = base.wallet("ghost")
    fresh = base.pool.participant_address(ghost.address)
    init = (
        base.pool.codes.participant_code,
        st.ParticipantStorage(registry=base.pool.registry, member=ghost.address).to_cell(),
    )
    _step(
        log,
        "fresh participant",
        lambda: base.chain.send_internal(base.keeper.address, fresh, ton(1), None, state_init=init),
    )
    _step(log, "fresh participant info", lambda: base.pool.participant_info(ghost.address))
    _step(log, "fresh unclaimed", lambda: base.pool.unclaimed(ghost.address, 1))
    _step(log, "fresh record", lambda: base.pool.epoch_record(ghost.address, 1))
    targets = {
        "operator": base.pool.operator,
        "registry": base.pool.registry,
        "distribution": base.pool.distribution,
        "participant": base.pool.participant_address(member.address),
        "fresh participant": fresh,
    }
    bodies = sample_bodies(member.address)
    for body_name, body in bodies:
        _matrix_body(log, base.fork(), body_name, body, targets)
    # Bodies too short to hold an opcode, an unknown opcode, and truncated known ones.

    odd = [begin_cell().store_uint(1, 8).end_cell(), begin_cell().store_uint(0xDEAD, 32).end_cell()]
    odd += [_truncate(body, 40) for _, body in bodies]
    sb = base.fork()
    for body in odd:
        for target in targets.values():
            _step(log, "odd body", partial(sb.keeper.send, target, ton(1), body))


def _matrix_body(
    log: ScenarioLog, sb: Any, body_name: str, body: Cell, targets: dict[str, Any]
) -> None:
    wallets = (sb.admin, sb.pauser, sb.keeper, sb.members["matrix-member"], sb.wallet("ghost"))
    for target_name, target in targets.items():
        step = f"{body_name} -> {target_name}"
        for wallet in wallets:
            _step(log, step, partial(wallet.send, target, ton(1), body))
        _step(log, step, partial(sb.keeper.send, target, 1, body))
        # the pool's own contracts as senders: past every sender check, into the checks of
        # the message's contents
        for source in targets.values():
            _step(
                log,
                step,
                partial(sb.chain.send_internal, source, target, ton(1), body),
            )


def throwing_code(exit_code: int = 50) -> Cell:
    """Code that refuses every message (THROW ``exit_code``, 0 < exit_code < 64): put on a
    peer's address, it makes every message to that peer bounce back."""
    return begin_cell().store_uint(0xF2, 8).store_uint(exit_code, 8).end_cell()


def _refusing_peers(log: ScenarioLog) -> None:
    """The bounce handlers: each contract of the pool in turn refuses everything (its code
    replaced by a THROW), while the others go through the operations that message it."""
    for credited in (False, True):
        base = _peer_base(log, credited)
        if base is not None:
            _peers_of(log, base)


def _peer_base(log: ScenarioLog, credited: bool) -> PoolSandbox | None:
    """Two members and a finalized epoch. ``credited``: a minimum payout above every share,
    so cranks credit the members' pending instead of paying, and a second finalized epoch
    leaves member b a newer slip beside its epoch-1 one."""
    signer = OracleSigner.from_seed_text("cocoon-pool-oracle")
    params = PoolParams(
        oracle_key=signer.public_key, min_payout=ton(10**5) if credited else ton("0.1")
    )
    base = PoolSandbox.create(params=params)
    a = _step(log, "peers member a", lambda: base.add_member("a"))
    b = _step(log, "peers member b", lambda: base.add_member("b"))
    if a is None or b is None:
        return None
    for w in (a, b):  # node wallets too, so owner withdrawals reach them
        _step(log, "peers node wallet", partial(base.pool.bind_worker, w, w.address, w.address))
    seconds = base.params.epoch_length // 2
    for epoch in (1, 2) if credited else (1,):
        _step(log, "peers income", lambda: base.pool.send_income(base.proxy, ton(100)))
        _step(log, "peers close", base.close_epoch)
        for i, w in enumerate((a, b)):
            _step(log, "peers report", partial(base.report, w, epoch, _metrics(i, seconds)))
        _step(log, "peers finalize", base.finalize)
        if credited and epoch == 1:
            _step(log, "peers credit a", lambda: base.pool.crank_payout(base.keeper, a.address, 1))
    # b holds a newer slip (latest) beside an older one (epoch 1, still in the finals)
    for epoch in (1, 2, 3):
        _step(log, "peers final", partial(base.pool.final_epoch, epoch))
        _step(log, "peers unclaimed", partial(base.pool.unclaimed, b.address, epoch))
        _step(log, "peers record", partial(base.pool.epoch_record, b.address, epoch))
    _step(log, "peers info", partial(base.pool.participant_info, b.address))
    if credited:
        _older_slips(log, base)
    return base


def _older_slips(log: ScenarioLog, base: PoolSandbox) -> None:
    """Member b holds epoch 2's slip in ``latest`` and epoch 1's among the older ones; a
    holds a credited pending amount. Each branch on its own fork."""
    s = _stepper(log, " (older slip)")
    sb = base.fork()
    s("own claim", lambda: sb.pool.claim_rewards(sb.members["b"], 1))
    sb = base.fork()
    b = sb.members["b"]
    s("own crank", lambda: sb.pool.crank_payout(b, b.address, 1))
    sb = base.fork()
    s("crank (credited)", lambda: sb.pool.crank_payout(sb.keeper, sb.members["b"].address, 1))
    sb = base.fork()
    a, b = sb.members["a"], sb.members["b"]
    for w in (a, b):
        s("unregister", partial(sb.pool.unregister, w))
    sb.chain.advance(_TIMELOCK_WAIT)
    for w in (a, b):
        s("withdraw with pending", partial(sb.pool.withdraw_stake, w))
    for w in (b, a):
        s("rejoin with a slip", partial(sb.pool.register, w, sb.params.min_stake))


def _peers_of(log: ScenarioLog, base: PoolSandbox) -> None:
    a = base.members["a"]
    peers = {
        "operator": base.pool.operator,
        "registry": base.pool.registry,
        "distribution": base.pool.distribution,
        "participant": base.pool.participant_address(a.address),
        "member wallet": a.address,
    }
    for peer_name, peer in peers.items():
        _with_refusing_peer(log, base.fork(), peer_name, peer)


def _with_refusing_peer(log: ScenarioLog, sb: Any, peer_name: str, peer: Any) -> None:
    """The operations that message ``peer``, with ``peer`` refusing everything."""
    seconds = sb.params.epoch_length // 2
    pool, admin = sb.pool, sb.admin
    wa, wb = sb.members["a"], sb.members["b"]
    newcomer = sb.wallet("newcomer")
    # a participant address taken by a refusing contract before the member registers
    squatted = pool.participant_address(newcomer.address)
    sb.chain.set_account(squatted, throwing_code(), begin_cell().end_cell(), ton(1))
    state = sb.chain.get_state(peer)
    sb.chain.set_account(
        peer, throwing_code(), state.data or begin_cell().end_cell(), state.balance
    )
    s = _stepper(log, f" ({peer_name} refuses)")
    call = pool.admin_call
    s("register", lambda: pool.register(newcomer, sb.params.min_stake))
    s("register b2", lambda: pool.register(sb.wallet("b2"), sb.params.min_stake))
    s("crank", lambda: pool.crank_payout(sb.keeper, wa.address, 1))
    s("claim", lambda: pool.claim_rewards(wb, 1))
    if peer_name != "member wallet":
        s("claim pending", lambda: pool.claim_pending(wa))
    s("bind", lambda: pool.bind_worker(wb, wb.address, wb.address))
    s("verify", lambda: pool.verify_member(admin, wb.address))
    s("owner register", lambda: pool.owner_worker_register(admin, wa.address))
    s("owner withdraw", lambda: pool.owner_wallet_withdraw(admin, wa.address, ton(1)))
    s("revoke", lambda: pool.verify_member(admin, wa.address, verified=False))
    s("report", lambda: sb.report(wa, 1, _metrics(0, seconds)))
    s("pause", lambda: call(admin, m.PausePool()))
    s("unpause", lambda: call(admin, m.UnpausePool()))
    s("commission", lambda: call(admin, m.CollectCommission()))
    s("close epoch", lambda: pool.close_epoch(sb.keeper))
    s("unregister", lambda: pool.unregister(wb))
    sb.chain.advance(_TIMELOCK_WAIT)
    s("withdraw", lambda: pool.withdraw_stake(wb))
    for change in (
        m.ChangeCommission(bps=1100),
        m.ChangeMemberCap(cap=50),
        m.UpgradeContract(target=m.UPGRADE_REGISTRY, code=throwing_code()),
    ):
        s("propose", partial(pool.propose_change, admin, change))
        sb.chain.advance(_TIMELOCK_WAIT)
        s("apply", lambda: call(admin, m.ApplyChange()))
    s("close pool", lambda: call(admin, m.ClosePool()))


# -- messages held back, and every shape of a member's slips -----------------------------------


def hold(
    sb: PoolSandbox, send: Callable[[PoolSandbox], Trace], message: type[TlbStruct]
) -> OutMessage | None:
    """Run ``send`` on ``sb`` but stop its trace right after the transaction that sends a
    ``message``, and return it, to deliver later (``chain.send_message``):
    how a slow network or an adversary reorders messages. How many transactions come first is
    found on a fork, so a contract that adds or drops a hop needs no change here."""
    op = message.PREFIX
    probe = send(sb.fork())
    count = next(
        (
            n
            for n, tx in enumerate(probe.transactions, 1)
            if any(out.op == op for out in tx.internal_out)
        ),
        None,
    )
    if count is None:
        return None
    limit = sb.chain.max_trace_transactions
    sb.chain.max_trace_transactions = count
    try:
        send(sb)
    except ChainError:
        pass  # the trace was cut where asked
    finally:
        sb.chain.max_trace_transactions = limit
    return next((o for o in sb.chain.transactions[-1].internal_out if o.op == op), None)


def _deliver(log: ScenarioLog, sb: PoolSandbox, name: str, message: OutMessage | None) -> None:
    if message is None:
        log.failed_steps.append(f"{name}: nothing was held")
        return
    _step(log, name, partial(sb.chain.send_message, message.cell))


def freeze(sb: PoolSandbox, address: Any) -> None:
    """The account as storage rent leaves it after decades untouched: nothing left and a debt
    above the freeze limit, so the next bounceable message freezes it and bounces."""
    state = sb.chain.get_state(address)
    if state.code is not None and state.data is not None:
        sb.chain.set_account(address, state.code, state.data, 0, last_paid=1)


def _shaped_base(log: ScenarioLog) -> PoolSandbox | None:
    """Three finalized epochs reported by four members, whose slips then take the four shapes
    a Participant's storage can hold them in: a newest slip (``latest``) or none, older slips
    (the ``unclaimed`` map) or none. The minimum payout is above every share, so keeper
    cranks credit the pending amount instead of paying."""
    signer = OracleSigner.from_seed_text("cocoon-pool-oracle")
    params = PoolParams(oracle_key=signer.public_key, min_payout=ton(10**5))
    sb = PoolSandbox.create(params=params)
    s = _stepper(log, " (slip shapes)")
    names = ("both", "older only", "latest only", "none")
    members = [s("member", partial(sb.add_member, n)) for n in names]
    if any(w is None for w in members):
        return None
    seconds = sb.params.epoch_length // 2
    for epoch in (1, 2, 3):
        s("income", lambda: sb.pool.send_income(sb.proxy, ton(100)))
        s("close", sb.close_epoch)
        for i, w in enumerate(members):
            s("report", partial(sb.report, w, epoch, _metrics(i, seconds)))
        s("finalize", sb.finalize)
    for name, claimed in zip(names, ((), (3,), (1, 2), (1, 2, 3)), strict=True):
        for epoch in claimed:
            s("shape", partial(sb.pool.claim_rewards, sb.members[name], epoch))
    return sb


def _slip_shapes(log: ScenarioLog) -> None:
    """Each operation that writes a member's storage, with each shape of its slips: the
    compiler emits one copy of ``storage.save()`` per call site, each with a branch per shape
    of the optional fields it writes."""
    base = _shaped_base(log)
    if base is None:
        return
    for name, held in (
        ("both", (1, 2, 3)),
        ("older only", (1, 2)),
        ("latest only", (3,)),
        ("none", ()),
    ):
        s = _stepper(log, f" ({name})")
        # cranks credit the pending amount; the member then takes it; each slip in turn
        sb = base.fork()
        w = sb.members[name]
        for epoch in held:
            s("crank", partial(sb.pool.crank_payout, sb.keeper, w.address, epoch))
            s("claim pending", partial(sb.pool.claim_pending, w))
        sb = base.fork()
        w = sb.members[name]
        for epoch in reversed(held):
            s("own claim", partial(sb.pool.claim_rewards, w, epoch))
        # the member's own settings, its departure and return, with its slips in place
        sb = base.fork()
        w = sb.members[name]
        if held:
            s("credit", partial(sb.pool.crank_payout, sb.keeper, w.address, held[0]))
        s("revoke", partial(sb.pool.verify_member, sb.admin, w.address, verified=False))
        s("bind node wallet", partial(sb.pool.bind_worker, w, w.address, sb.admin.address))
        s("verify", partial(sb.pool.verify_member, sb.admin, w.address))
        s("unregister", partial(sb.pool.unregister, w))
        sb.chain.advance(_TIMELOCK_WAIT)
        s("withdraw", partial(sb.pool.withdraw_stake, w))
        s("rejoin", partial(sb.pool.register, w, sb.params.min_stake))
        # the distribution refusing: every settlement comes back to the member's contract
        sb = base.fork()
        w = sb.members[name]
        if held:
            s("credit", partial(sb.pool.crank_payout, sb.keeper, w.address, held[-1]))
        state = sb.chain.get_state(sb.pool.distribution)
        sb.chain.set_account(
            sb.pool.distribution,
            throwing_code(),
            state.data or begin_cell().end_cell(),
            state.balance,
        )
        for epoch in held:
            s("crank refused", partial(sb.pool.crank_payout, sb.keeper, w.address, epoch))
            s("claim refused", partial(sb.pool.claim_rewards, w, epoch))
        s("claim pending refused", partial(sb.pool.claim_pending, w))
        s("unregister", partial(sb.pool.unregister, w))
        sb.chain.advance(_TIMELOCK_WAIT)
        s("withdraw refused pending", partial(sb.pool.withdraw_stake, w))


def _held_back(log: ScenarioLog) -> None:
    """Settlements held on their way and delivered after the member left, or to a member's
    contract frozen by storage rent in the meantime."""
    base = _shaped_base(log)
    if base is None:
        return
    s = _stepper(log, " (held back)")
    name = "both"

    def crank(epoch: int) -> Callable[[PoolSandbox], Trace]:
        return lambda sb: sb.pool.crank_payout(sb.keeper, sb.members[name].address, epoch)

    def leave(sb: PoolSandbox) -> None:
        w = sb.members[name]
        s("unregister", partial(sb.pool.unregister, w))
        sb.chain.advance(_TIMELOCK_WAIT)
        s("withdraw", partial(sb.pool.withdraw_stake, w))

    # the credit reaches a member that withdrew meanwhile
    sb = base.fork()
    credit = _step(log, "hold credit", partial(hold, sb, crank(1), m.CreditPending))
    leave(sb)
    _deliver(log, sb, "credit after withdrawal", credit)
    s("claim pending after withdrawal", partial(sb.pool.claim_pending, sb.members[name]))
    # the credit reaches a member's contract that storage rent froze meanwhile: it bounces,
    # and the distribution keeps the amount as reserve
    sb = base.fork()
    credit = _step(log, "hold credit", partial(hold, sb, crank(2), m.CreditPending))
    participant = sb.pool.participant_address(sb.members[name].address)
    freeze(sb, participant)
    _deliver(log, sb, "credit to a frozen contract", credit)
    # a settlement request held while the member withdrew, then refused by the distribution:
    # the bounce finds a withdrawn member
    sb = base.fork()
    settle = _step(log, "hold settle", partial(hold, sb, crank(3), m.SettleClaim))
    leave(sb)
    state = sb.chain.get_state(sb.pool.distribution)
    sb.chain.set_account(
        sb.pool.distribution, throwing_code(), state.data or begin_cell().end_cell(), state.balance
    )
    _deliver(log, sb, "settle refused after withdrawal", settle)


def _cut(sb: PoolSandbox, send: Callable[[], Trace], transactions: int) -> list[OutMessage]:
    """Run ``send`` but stop its trace after ``transactions`` transactions; the messages the
    last one sent (none if the trace ended there by itself)."""
    limit = sb.chain.max_trace_transactions
    sb.chain.max_trace_transactions = transactions
    try:
        send()
    except ChainError:
        pass  # the trace was cut where asked
    finally:
        sb.chain.max_trace_transactions = limit
    return list(sb.chain.transactions[-1].internal_out)


def hold_refusals(sb: PoolSandbox, send: Callable[[PoolSandbox], Trace]) -> list[OutMessage]:
    """Relay a batch on ``sb`` and deliver its ApplyReports, but hold the bounce of every one
    a member's contract refuses, to deliver later (after finalize, say). The relayer's change
    is delivered at once. How many transactions precede SubmitReport is found on a fork."""
    probe = send(sb.fork())
    count = next(
        (n for n, tx in enumerate(probe.transactions, 1) if tx.op == m.SubmitReport.PREFIX), None
    )
    if count is None:
        return []
    out = _cut(sb, partial(send, sb), count)
    bounces: list[OutMessage] = []
    for message in out:
        if message.op == m.ApplyReport.PREFIX:
            bounces += _cut(sb, partial(sb.chain.send_message, message.cell), 1)
        else:
            sb.chain.send_message(message.cell)
    return bounces


def _deliver_all(log: ScenarioLog, sb: PoolSandbox, name: str, held: list[OutMessage]) -> None:
    if not held:
        log.failed_steps.append(f"{name}: nothing was held")
    for message in held:
        _step(log, name, partial(sb.chain.send_message, message.cell))


def _report_batches(log: ScenarioLog) -> None:
    """Batches of reports: several members in one message, one over the size limit, one that
    carries too little for its length; then replayed reports, which every member's contract
    refuses. A refusal that comes back while its epoch reports takes the report back out;
    one held back past finalize settles its share into the reserve, on the latest final
    epoch and on an older one, before the epoch's last claim and as the last slip (which
    retires the epoch), while a later epoch reports and after a winding-down pool's flat
    finalize; one for an epoch nobody contributed to finds nothing to settle."""
    sb = PoolSandbox.create()
    s = _stepper(log, " (batches)")
    members = [s("member", partial(sb.add_member, name)) for name in ("a", "b", "c")]
    if any(w is None for w in members):
        return
    pool, seconds = sb.pool, sb.params.epoch_length // 2

    def signed(epoch: int, running: int = seconds) -> list[m.SubmitReport]:
        return [
            pool.signed_report(sb.signer, w.address, epoch, _metrics(i, running))
            for i, w in enumerate(members)
        ]

    def relay(reports: list[m.SubmitReport]) -> Callable[[PoolSandbox], Trace]:
        return lambda fork: fork.pool.submit_reports(fork.keeper, reports)

    def claim_all(epoch: int, who: list[Any]) -> None:
        for w in who:
            s(f"claim {epoch}", partial(pool.crank_payout, sb.keeper, w.address, epoch))

    s("income 1", lambda: pool.send_income(sb.proxy, ton(60)))
    s("close 1", sb.close_epoch)
    first = signed(1)
    # More than MAX_REPORTS_PER_BATCH links (the same report each time: the distribution
    # checks signatures, not members) and a batch carrying too little for its length.
    head = batch_message([first[0]] * MAX_REPORTS_PER_BATCH)
    oversized = dataclasses.replace(
        head, next=dataclasses.replace(first[0], next=head.next).to_cell()
    )
    s(
        "batch too large",
        lambda: sb.keeper.send(
            pool.distribution, report_value(MAX_REPORTS_PER_BATCH + 1), oversized.to_cell()
        ),
    )
    s("batch low value", lambda: pool.submit_reports(sb.keeper, first, value=report_value(1)))
    s("batch", lambda: pool.submit_reports(sb.keeper, first))
    s("batch replayed", lambda: pool.submit_reports(sb.keeper, first))
    held_1 = _step(log, "hold refusals 1", partial(hold_refusals, sb, relay(first))) or []
    s("finalize 1", sb.finalize)
    _deliver_all(log, sb, "refusal after finalize (latest)", held_1[:1])
    claim_all(1, members)
    _deliver_all(log, sb, "refusals after finalize (latest, the last retires)", held_1[1:])
    # Epoch 2's refusals arrive once epoch 3 is the latest final epoch (and while epoch 4
    # reports, for the last one).
    s("income 2", lambda: pool.send_income(sb.proxy, ton(60)))
    s("close 2", sb.close_epoch)
    second = signed(2)
    s("batch 2", lambda: pool.submit_reports(sb.keeper, second))
    held_2 = _step(log, "hold refusals 2", partial(hold_refusals, sb, relay(second))) or []
    s("income 3", lambda: pool.send_income(sb.proxy, ton(60)))
    s("close 3 (finalizes 2)", sb.close_epoch)
    s("batch 3", lambda: pool.submit_reports(sb.keeper, signed(3)))
    s("finalize 3", sb.finalize)
    _deliver_all(log, sb, "refusal after finalize (older)", held_2[:1])
    claim_all(2, members)
    s("income 4", lambda: pool.send_income(sb.proxy, ton(60)))
    s("close 4", sb.close_epoch)
    _deliver_all(log, sb, "refusals after finalize (older, the last retires)", held_2[1:])
    claim_all(3, members)
    # Epoch 4: nobody ran, so no final record is kept; its refusal settles nothing.
    idle = signed(4, running=0)
    s("batch 4 (idle)", lambda: pool.submit_reports(sb.keeper, idle))
    held_4 = _step(log, "hold refusals 4", partial(hold_refusals, sb, relay(idle))) or []
    s("finalize 4", sb.finalize)
    _deliver_all(log, sb, "refusal of an epoch without a record", held_4)
    # Winding down: the last epoch is paid flat, and a refusal settled after it is too.
    s("close pool", lambda: pool.admin_call(sb.admin, m.ClosePool()))
    s("income 5", lambda: pool.send_income(sb.proxy, ton(60)))
    s("close 5", sb.close_epoch)
    last = signed(5)
    s("batch 5", lambda: pool.submit_reports(sb.keeper, last))
    held_5 = _step(log, "hold refusals 5", partial(hold_refusals, sb, relay(last))) or []
    s("finalize 5 (flat)", sb.finalize)
    _deliver_all(log, sb, "refusals after a flat finalize", held_5)


def _truncate(body: Cell, bits: int) -> Cell:
    s = body.begin_parse()
    n = min(bits, s.remaining_bits)
    return begin_cell().store_uint(s.load_uint(n), n).end_cell() if n else begin_cell().end_cell()


# -- measuring ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MissedBlock:
    """Consecutive unexecuted instructions, with their Tolk lines and, when a rule of
    :data:`UNREACHABLE` recognizes them, why no message sequence runs them."""

    first: int
    last: int
    instructions: list[str]
    tolk_lines: list[tuple[str, int]]
    tolk_texts: list[str]
    before: str
    """source text of the contract's own line closest before the block (the context)"""
    verdict: str | None = None
    reason: str = ""

    @property
    def size(self) -> int:
        return len(self.instructions)

    def to_json(self) -> dict[str, Any]:
        return {
            "asm_lines": [self.first + 1, self.last + 1],
            "instructions": self.instructions,
            "tolk_lines": [f"{f}:{n}" for f, n in self.tolk_lines],
            "tolk_texts": self.tolk_texts,
            "verdict": self.verdict or "reachable",
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Unreachable:
    """A rule that recognizes a block no message sequence on a real chain runs (or only a
    failure elsewhere would): by the source text of its Tolk lines and its instructions,
    never by line numbers or offsets, so it survives edits around it."""

    verdict: str
    """``unreachable`` or ``defensive``"""
    reason: str
    contract: str | None = None
    text: str = ""
    """a substring of one of the block's Tolk lines"""
    before: str = ""
    """a substring of the contract's own line just before the block"""
    instruction: Callable[[], str] | None = None
    """a substring of one of the block's instructions (computed: it may name an opcode)"""
    only: tuple[str, ...] = ()
    """when set, the block's instructions must each start with one of these"""

    def matches(self, contract: str, block: MissedBlock) -> bool:
        if self.contract is not None and self.contract != contract:
            return False
        if self.text and not any(self.text in t for t in block.tolk_texts):
            return False
        if self.before and self.before not in block.before:
            return False
        if self.instruction is not None:
            want = self.instruction()
            if not any(want in i for i in block.instructions):
                return False
        return not self.only or all(i.startswith(self.only) for i in block.instructions)


def _opcode_test(cls: type[TlbStruct]) -> str:
    """How the code tests a body for ``cls``'s opcode (the mirror gives the opcode)."""
    return f"SDBEGINSQ x{{{cls.PREFIX:08X}}}"


# Tolk throws 63 when a `match` over a union meets none of its arms (the compiler's own
# check, not a contract error code).
_NO_ARM = "THROW"

UNREACHABLE: tuple[Unreachable, ...] = (
    Unreachable(
        "unreachable",
        "`ApplyChange` loads the pending change with `throwIfOpcodeDoesNotMatch`; "
        "`ProposeChange` stored it only after matching the same union, so an unknown opcode "
        "is never stored.",
        contract="PoolOperator",
        text="pending.change.load()",
        only=(_NO_ARM,),
    ),
    Unreachable(
        "unreachable",
        "The `match` over a bounced body has no `else`; Tolk throws 63 when the original op is "
        "none of its arms. A bounced message only ever brings back a message this contract "
        "sent bounceable, and every such op has its arm.",
        text="match (original)",
        only=(_NO_ARM,),
    ),
    Unreachable(
        "unreachable",
        "The keeper branch (`sender != storage.member`) of `requestSettlement` in the copy "
        "inlined into `ClaimRewards`, which asserts `sender == storage.member` first (the "
        "copy inlined into `CrankPayout` runs it).",
        contract="Participant",
        text="settle.excessTo = sender;",
    ),
    Unreachable(
        "unreachable",
        "The bounce handler's load of a null member state. A Participant sends a bounceable "
        "message (SettleClaim, PayPending, ConfirmOwnerAction) only after asserting its state "
        "is set, and nothing ever clears it (a withdrawn member keeps it, status Withdrawn): "
        "only an account deleted for storage debt and deployed again from its empty "
        "StateInit while one of its messages travels would meet it, decades of unpaid rent.",
        contract="Participant",
        text="var state = storage.state!;",
        instruction=lambda: "PUSHNULL",
        only=("DROP", "PUSHNULL", "POP", "BLKDROP", "XCHG", "NIP", "SWAP"),
    ),
    Unreachable(
        "unreachable",
        "The copy of `storage.save()` in the bounced-SettleClaim arm, storing `latest` as null: "
        "that arm always leaves a newest slip (the returned one fills an empty `latest`, "
        "else `latest` was set already and the slip joins the older ones).",
        contract="Participant",
        text="contract.setData(self.toCell())",
        before="state.pending += original.pendingCarry;",
    ),
    Unreachable(
        "defensive",
        "A bounced `ConfirmOwnerAction`: RewardDistribution's only check on it is the sender "
        "(the member's genuine Participant), its value covers the distribution's gas with "
        "about 3x headroom, and its action phase cannot fail into a bounce (the reserve "
        "keeps only the balance from before the message); only a failure of the "
        "distribution itself could bounce it.",
        contract="Participant",
        instruction=lambda: _opcode_test(m.ConfirmOwnerAction),
    ),
    Unreachable(
        "unreachable",
        "`SetPaused(true)` while already paused: PoolOperator sends it only when it pauses "
        "(it refuses `PausePool` when paused), and messages between two contracts arrive in "
        "the order they were sent.",
        contract="RewardDistribution",
        text="if (storage.pausedAt == 0) {",
        only=("DROP",),
    ),
    Unreachable(
        "unreachable",
        "`SetPaused(false)` while not paused: PoolOperator sends it only when it unpauses "
        "(it refuses `UnpausePool` unless paused), and messages between two contracts arrive "
        "in the order they were sent.",
        contract="RewardDistribution",
        text="} else if (storage.pausedAt != 0) {",
        only=("DROP",),
    ),
)


def classify(contract: str, block: MissedBlock) -> MissedBlock:
    """``block`` with the verdict and reason of the first rule that recognizes it."""
    for rule in UNREACHABLE:
        if rule.matches(contract, block):
            return dataclasses.replace(block, verdict=rule.verdict, reason=rule.reason)
    return block


@dataclass(frozen=True)
class CoverageReport:
    contracts: list[ContractCoverage]
    codes: dict[str, CodeMap]
    log: ScenarioLog
    transactions: int
    seconds: float

    def blocks(self, c: ContractCoverage) -> list[MissedBlock]:
        """The contract's unexecuted blocks, each classified (see :data:`UNREACHABLE`)."""
        code = self.codes[c.name]
        own_file = c.tolk_file
        out = []
        for first, last, texts in c.missed_blocks(code):
            where = sorted(
                {
                    code.tolk[i.key]
                    for i in c.missed
                    if first <= i.asm_line <= last and i.key in code.tolk
                }
            )
            before = ""
            for ins in reversed(code.instructions):
                if ins.asm_line >= first:
                    continue
                loc = code.tolk.get(ins.key)
                if loc is not None and loc[0] == own_file and loc not in where:
                    before = code.tolk_text.get(loc, "")
                    break
            block = MissedBlock(
                first,
                last,
                texts,
                where,
                [code.tolk_text.get(w, "") for w in where],
                before,
            )
            out.append(classify(c.name, block))
        return out

    def percent_of_reachable(self, c: ContractCoverage) -> float:
        unreachable = sum(b.size for b in self.blocks(c) if b.verdict is not None)
        reachable = c.present - unreachable
        return 100.0 * c.executed / reachable if reachable else 100.0

    def totals(self) -> dict[str, Any]:
        present = sum(c.present for c in self.contracts)
        executed = sum(c.executed for c in self.contracts)
        unreachable = sum(
            b.size for c in self.contracts for b in self.blocks(c) if b.verdict is not None
        )
        reachable = present - unreachable
        return {
            "instructions_present": present,
            "instructions_executed": executed,
            "percent": round(100.0 * executed / present, 2) if present else 100.0,
            "unreachable_instructions": unreachable,
            "reachable_instructions": reachable,
            "reachable_not_executed": reachable - executed,
            "percent_of_reachable": round(100.0 * executed / reachable, 2) if reachable else 100.0,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "contracts": {
                c.name: {
                    "code_hash": c.code_hash,
                    "instructions_present": c.present,
                    "instructions_executed": c.executed,
                    "percent": round(c.percent, 2),
                    "tolk_file": c.tolk_file,
                    "instructions_with_tolk_line": c.tolk_mapped,
                    "tolk_lines": c.tolk_lines_present,
                    "tolk_lines_fully_executed": c.tolk_lines_executed,
                    "instructions_aligned_to_tolk": c.tolk_aligned,
                    "tolk_lines_missed": [f"{f}:{n}" for f, n in c.missed_tolk_lines],
                    "unreachable_instructions": sum(
                        b.size for b in self.blocks(c) if b.verdict is not None
                    ),
                    "percent_of_reachable": round(self.percent_of_reachable(c), 2),
                    "missed": [b.to_json() for b in self.blocks(c)],
                }
                for c in self.contracts
            },
            "all": self.totals(),
            "logged_requests": self.transactions,
            "driver_steps": self.log.traces,
            "failed_steps": self.log.failed_steps,
            "seconds": round(self.seconds, 1),
        }


def tolk_lines_text(contract: dict[str, Any]) -> str:
    """A contract's "Tolk lines fully run" cell, from its JSON figures."""
    if not contract["tolk_file"]:
        return "not mapped"
    return f"{contract['tolk_lines_fully_executed']:,} / {contract['tolk_lines']:,}"


def markdown(data: dict[str, Any]) -> str:
    """The Results table and the table of every unexecuted block of docs/coverage.md, from a
    report's JSON (``CoverageReport.to_json`` or the snapshot)."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    hashes = ", ".join(f"{n} `{c['code_hash'][:12]}`" for n, c in data["contracts"].items())
    out = [
        "## Results",
        "",
        f"On the code with hashes {hashes}: {data['driver_steps']:,} driver steps "
        f"({len(data['failed_steps'])} failing in Python), {data['seconds']:.0f} s of scenarios. "
        '"Tolk lines fully run" counts the source lines (of every file, the standard '
        "library's included) with at least one instruction, and how many of them had every "
        "instruction run.",
        "",
        "| contract | present | executed | % | % of reachable | unexecuted blocks "
        "| Tolk lines fully run |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, c in data["contracts"].items():
        lines = tolk_lines_text(c)
        out.append(
            f"| {name} | {c['instructions_present']:,} | {c['instructions_executed']:,} "
            f"| {c['percent']:.2f} | {c['percent_of_reachable']:.2f} | {len(c['missed'])} "
            f"| {lines} |"
        )
    total = data["all"]
    out += [
        f"| **all** | {total['instructions_present']:,} | {total['instructions_executed']:,} "
        f"| {total['percent']:.2f} | {total['percent_of_reachable']:.2f} | | |",
        "",
        f"Of the {total['instructions_present'] - total['instructions_executed']:,} unexecuted "
        f"instructions, {total['unreachable_instructions']:,} are unreachable or defensive; "
        f"of the {total['reachable_instructions']:,} reachable instructions "
        f"{total['instructions_executed']:,} run ({total['percent_of_reachable']:.2f} %), "
        f"{total['reachable_not_executed']:,} do not.",
    ]
    out += [
        "",
        "## Every unexecuted block, with its reason",
        "",
        "Block numbers and disassembly lines refer to the measured build; the Tolk lines are "
        "those of `contracts/` at that build. The reasons come from `tvm_coverage.UNREACHABLE`.",
    ]
    verdicts = {
        "unreachable": "**Unreachable.**",
        "defensive": "**Defensive, unreachable in practice.**",
        "reachable": "Reachable, not reached yet.",
    }
    for name, c in data["contracts"].items():
        out += [
            "",
            f"### {name}",
            "",
            "| # | disassembly lines | first instructions | Tolk lines | reason |",
            "|---|---|---|---|---|",
        ]
        for n, b in enumerate(c["missed"], 1):
            first, last = b["asm_lines"]
            ins = "; ".join(b["instructions"][:3])
            if len(b["instructions"]) > 3:
                ins += f" (+{len(b['instructions']) - 3})"
            texts = b.get("tolk_texts") or [""] * len(b["tolk_lines"])
            tolk = [f"`{w}` {t}".rstrip() for w, t in zip(b["tolk_lines"], texts, strict=True)]
            where = "<br>".join(cell(t) for t in tolk[:3])
            if len(tolk) > 3:
                where += f" (+{len(tolk) - 3})"
            reason = f"{verdicts.get(b.get('verdict', 'reachable'), '')} {b.get('reason', '')}"
            out.append(
                f"| {n} | {first}–{last} | `{cell(ins)}` | {where} | {cell(reason.strip())} |"
            )
        if not c["missed"]:
            out.append("| | | | | every instruction runs |")
    return "\n".join(out) + "\n"


def pool_code_maps(bridge: NodeBridge | None = None) -> dict[str, CodeMap]:
    """Code maps of the four pool contracts, from the code the chain deploys (the checkout's
    sources when they changed, else the shipped build), with Tolk lines where they align."""
    maps: dict[str, CodeMap] = {}
    for name in POOL_CONTRACTS:
        code = disassemble(pool_contract_code(name), name, bridge)
        attach_tolk_lines(code, contracts_dir() / f"{name}.tolk", bridge)
        maps[name] = code
    return maps


def contract_hits(code: CodeMap, hits: Counter[Key]) -> Counter[Key]:
    """The logged steps that ran ``code``'s instructions, keyed by instruction."""
    own: Counter[Key] = Counter()
    for (cell_hash, offset), count in hits.items():
        key = code.locate(cell_hash, offset)
        if key is not None:
            own[key] += count
    return own


def measure(
    codes: dict[str, CodeMap], hits: Counter[Key], log: ScenarioLog, runs: int, seconds: float
) -> CoverageReport:
    contracts = [summarize(code, contract_hits(code, hits)) for code in codes.values()]
    return CoverageReport(contracts, codes, log, runs, seconds)


def pool_coverage(*, matrix: bool = True) -> CoverageReport:
    """Run the scenario driver on the pool contracts and measure their TVM coverage."""
    codes = pool_code_maps()
    start = time.monotonic()
    with recording() as bridge:
        log = run_scenarios(matrix=matrix)
    seconds = time.monotonic() - start
    changed = [n for n, c in codes.items() if pool_contract_code(n).hash.hex() != c.code_hash]
    if changed:
        raise CoverageError(
            f"the code of {', '.join(changed)} changed while the scenarios ran",
            hint="contracts/*.tolk were edited during the run; run the command again",
        )
    return measure(codes, bridge.hits, log, bridge.runs, seconds)


# -- Tolk lines ---------------------------------------------------------------------------------

_SOURCE_FILE = re.compile(r"^\s*// (/.+\.tolk):(\d+)$")
_SOURCE_LINE = re.compile(r"^\s*// (\d+): ?(.*)$")
_PROC_OPEN = re.compile(r"^  (\S+) (PROC|PROCREF|PROCINLINE|METHOD):<\{$")
_DECLMETHOD = re.compile(r"^  (-?\d+) DECLMETHOD (\S+)$")
_DECLPROC = re.compile(r"^  DECLPROC (\S+)$")
_DICT_ENTRY = re.compile(r"^    (-?\d+) => \{$")
# Control flow is spelled differently on the two sides (Fift's `IFJMP:<{ ... }>` is a
# PUSHCONT and an IFJMP, or an IFJMPREF, in the code): left out of the alignment, these
# instructions take the Tolk line of the instruction before them.
_CONTROL = frozenset(
    re.findall(
        r"\S+",
        "PUSHCONT IFJMP IFNOTJMP IFJMPREF IFNOTJMPREF IF IFNOT IFREF IFNOTREF IFELSE IFELSEREF "
        "IFREFELSE IFREFELSEREF WHILE WHILEEND UNTIL UNTILEND REPEAT REPEATEND AGAIN AGAINEND "
        "CALLREF JMPREF PUSHREFCONT",
    )
)
_STACK = frozenset(
    re.findall(
        r"\S+",
        "PUSH POP XCHG XCHG2 XCHG3 PUSH2 PUSH3 XCPU XCPU2 PUXC PUXC2 XC2PU PUXCPU PU2XC XCPUXC "
        "XCHG3_ALT BLKSWAP ROLL ROLLREV ROT ROTREV -ROT SWAP SWAP2 2SWAP DUP DUP2 2DUP OVER "
        "OVER2 2OVER DROP DROP2 2DROP NIP TUCK BLKDROP BLKDROP2 BLKPUSH REVERSE REVX PICK ROLLX "
        "XCHGX PUSHX",
    )
)
_ALIASES = {"TRUE": "PUSHINT", "FALSE": "PUSHINT", "ZERO": "PUSHINT", "PLDREFIDX": "PLDREF"}
_SUFFIX = re.compile(r"(_SHORT|_LONG|_0I|_1I|_\d+)$")


def _normalize(name: str) -> str:
    """One spelling for an instruction on both sides: ton-assembly's width suffixes
    (``PUSHINT_16``, ``XCHG_0I``) go, Fift's immediate forms (``LSHIFT#``) lose their mark,
    and every stack shuffle is the same token (Fift and the disassembler pick different ones
    for the same move)."""
    n = name.rstrip("#")
    while True:
        m = _SUFFIX.search(n)
        if m is None:
            break
        n = n[: m.start()]
    n = _ALIASES.get(n, n)
    if n in _STACK:
        return "STK"
    return n


@dataclass
class _FiftProc:
    name: str
    kind: str
    tokens: list[tuple[str, str, int]] = field(default_factory=list)
    """(normalized instruction, source file, line); ``@call name`` marks an inline call"""


def _fift_procs(
    fift: str, sources: dict[str, list[str]]
) -> tuple[dict[str, _FiftProc], dict[str, int], list[str]]:
    """The procedures of Tolk's Fift output with the Tolk line of each instruction."""
    procs: dict[str, _FiftProc] = {}
    methods: dict[str, int] = {}
    declared: list[str] = []
    current: _FiftProc | None = None
    proc_file = ""
    file, line = "", 0
    for raw in fift.splitlines():
        if (m := _DECLMETHOD.match(raw)) is not None:
            methods[m.group(2)] = int(m.group(1))
            continue
        if (m := _DECLPROC.match(raw)) is not None:
            declared.append(m.group(1))
            continue
        if (m := _SOURCE_FILE.match(raw)) is not None:
            proc_file = m.group(1)
            continue
        if (m := _PROC_OPEN.match(raw)) is not None:
            current = procs[m.group(1)] = _FiftProc(m.group(1), m.group(2))
            file, line = proc_file, 0
            continue
        if current is None:
            continue
        if raw == "  }>":
            current = None
            continue
        if (m := _SOURCE_LINE.match(raw)) is not None:
            file, line = _source_of(int(m.group(1)), m.group(2), proc_file, sources)
            continue
        text = raw.strip()
        if not text or text.startswith("//") or text.endswith("<{") or text.startswith("}>"):
            continue
        words = text.split()
        op = words[-1]
        if op in {"INLINECALLDICT", "CALLREF"}:
            current.tokens.append((f"@call {words[0]}", file, line))
            continue
        if op in ("PUSH", "POP") and len(words) == 2 and re.fullmatch(r"c\d", words[0]):
            op += "CTR"
        current.tokens.append((_normalize(op), file, line))
    return procs, methods, declared


def _source_of(
    line: int, text: str, proc_file: str, sources: dict[str, list[str]]
) -> tuple[str, int]:
    """The file a ``// N: text`` comment means: the procedure's own file when its line N
    holds that text, else the one source (the standard library included) whose line N does:
    inlined functions of other files keep their own line numbers."""
    want = text.strip()[:40]

    def holds(path: str) -> bool:
        lines = sources.get(path)
        return lines is not None and 0 < line <= len(lines) and want in lines[line - 1]

    if holds(proc_file):
        return proc_file, line
    found = [p for p in sources if holds(p)]
    return (found[0] if len(found) == 1 else "unresolved"), line


def _stdlib_sources() -> dict[str, list[str]]:
    """Tolk's standard library, whose functions the contracts inline."""
    try:
        folder = find_node_dir() / "node_modules" / "@ton" / "tolk-js" / "dist" / "tolk-stdlib"
        return {str(p): p.read_text(encoding="utf-8").splitlines() for p in folder.glob("*.tolk")}
    except (OSError, CocoonPoolError):
        return {}


def _expand(
    proc: _FiftProc, procs: dict[str, _FiftProc], depth: int = 0
) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    for token in proc.tokens:
        if token[0].startswith("@call "):
            callee = procs.get(token[0][6:])
            if callee is not None and depth < 8:
                out.extend(_expand(callee, procs, depth + 1))
            continue
        out.append(token)
    return out


def _dict_entries(code: CodeMap) -> dict[int, list[Instruction]]:
    """The instructions of each entry of the top-level method dictionary, in text order."""
    starts: list[tuple[int, int]] = []
    end = len(code.asm)
    for n, text in enumerate(code.asm):
        if (m := _DICT_ENTRY.match(text)) is not None:
            starts.append((n, int(m.group(1))))
        elif text == "]" and starts:
            end = n
            break
    entries: dict[int, list[Instruction]] = {}
    bounds = [s for s, _ in starts[1:]] + [end]
    for (first, ident), last in zip(starts, bounds, strict=True):
        entries[ident] = [i for i in code.instructions if first < i.asm_line < last]
    return entries


def align_tolk_lines(code: CodeMap, fift: str, sources: dict[str, list[str]]) -> None:
    """Give each instruction of ``code`` the Tolk line Fift's source comments put it under.

    Per method (dictionary entry), the Fift instructions, with inline calls expanded, are
    aligned with the disassembled ones by a longest-matching-blocks diff on normalized
    names; control flow and unmatched instructions take the line of the matched instruction
    before them in the same method.
    """
    procs, methods, declared = _fift_procs(fift, sources)
    # PROC and PROCREF procedures sit in the method dictionary under the ids after the
    # methods', in declaration order; PROCINLINE ones exist only where they are called.
    in_dict = [p for p in declared if p in procs and procs[p].kind in {"PROC", "PROCREF"}]
    entries = _dict_entries(code)
    ids = dict(methods)
    spare = sorted(i for i in entries if i not in set(methods.values()))
    ids.update(zip(in_dict, spare, strict=False))
    for name, ident in ids.items():
        proc = procs.get(name)
        instructions = entries.get(ident)
        if proc is None or instructions is None:
            continue
        tokens = _expand(proc, procs)
        aligned = [i for i in instructions if _normalize(i.name) not in _CONTROL]
        matcher = difflib.SequenceMatcher(
            None, [t[0] for t in tokens], [_normalize(i.name) for i in aligned], autojunk=False
        )
        for block in matcher.get_matching_blocks():
            for k in range(block.size):
                _, file, line = tokens[block.a + k]
                if line > 0:
                    where = (file.rsplit("/", 1)[-1], line)
                    code.tolk[aligned[block.b + k].key] = where
                    code.tolk_aligned.add(aligned[block.b + k].key)
                    lines = sources.get(file)
                    if lines is not None and line <= len(lines):
                        code.tolk_text[where] = lines[line - 1].strip()
        last: tuple[str, int] | None = None
        for ins in instructions:
            if ins.key in code.tolk:
                last = code.tolk[ins.key]
            elif last is not None:
                code.tolk[ins.key] = last


def attach_tolk_lines(code: CodeMap, entry: Path, bridge: NodeBridge | None = None) -> None:
    """Compile ``entry`` again with source-line comments and, when that gives the very code
    that runs, align its Fift with the disassembly (see :func:`align_tolk_lines`); else the
    code keeps no Tolk lines (``tolk_file`` stays None)."""
    entry = entry.resolve()
    try:
        listing = _fift_listing(str(entry), entry.stat().st_mtime_ns, bridge or get_bridge())
    except (CocoonPoolError, OSError):
        return
    if listing is None or listing[0] != code.code_hash:
        return
    align_tolk_lines(code, listing[1], listing[2])
    code.tolk_file = entry.name


_LISTINGS: dict[tuple[str, int], tuple[str, str, dict[str, list[str]]] | None] = {}


def _fift_listing(
    entry: str, mtime_ns: int, bridge: NodeBridge
) -> tuple[str, str, dict[str, list[str]]] | None:
    """(code hash, Fift with source-line comments, source lines by path) of one compile,
    remembered per file version: compiling takes seconds."""
    key = (entry, mtime_ns)
    if key not in _LISTINGS:
        r = bridge.request("compile", entry=entry, optimizationLevel=2, withSrcLineComments=True)
        if not r.get("ok"):
            _LISTINGS[key] = None
        else:
            sources = _stdlib_sources()
            sources.update(
                {
                    str(p): Path(p).read_text(encoding="utf-8").splitlines()
                    for p in r.get("sources", [])
                }
            )
            _LISTINGS[key] = (str(r["codeHashHex"]).lower(), str(r["fiftCode"]), sources)
    return _LISTINGS[key]
