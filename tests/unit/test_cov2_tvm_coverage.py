"""Pure parts of the TVM coverage measurement (``cocoon_pool.tvm_coverage``) the pool run does
not reach: Fift listings with inline calls and other files' lines, driver steps that fail in
Python, and the markdown tables of a fully covered contract or a long block."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from ton_core import Address

from cocoon_pool import tvm_coverage as tc
from cocoon_pool.chain.node import NODE_DIR_ENV

REPO = Path(__file__).resolve().parents[2]

# helper is inlined into recv_internal; recv_internal's second line comes from another file
# (an inlined standard-library function keeps its own line numbers); method 5 has no entry in
# the code's dictionary.
FIFT = """\
  DECLPROC helper
  0 DECLMETHOD recv_internal
  5 DECLMETHOD gone
  // /src/a.tolk:1
  helper PROCINLINE:<{
    // 2: x = 1
    ONE
    INC
  }>
  recv_internal PROC:<{
    // 3: helper()
    helper INLINECALLDICT
    // 2: lib line
    TEN
    // 4: twice
    DROP
  }>
"""
SOURCES = {
    "/src/a.tolk": ["fun a()", "x = 1", "helper()", "twice"],
    "/lib/b.tolk": ["", "lib line", "", "twice"],
    "/lib/c.tolk": ["", "", "", "twice"],
}


def test_fift_procedures_with_inline_calls_expand_to_their_callees_lines() -> None:
    procs, methods, declared = tc._fift_procs(FIFT, SOURCES)
    assert methods == {"recv_internal": 0, "gone": 5}
    assert declared == ["helper"]
    assert procs["helper"].kind == "PROCINLINE"
    assert procs["recv_internal"].tokens == [
        ("@call helper", "/src/a.tolk", 3),
        ("TEN", "/lib/b.tolk", 2),
        ("STK", "/src/a.tolk", 4),
    ]
    assert tc._expand(procs["recv_internal"], procs) == [
        ("ONE", "/src/a.tolk", 2),
        ("INC", "/src/a.tolk", 2),
        ("TEN", "/lib/b.tolk", 2),
        ("STK", "/src/a.tolk", 4),
    ]


def test_a_source_line_is_resolved_only_when_one_file_holds_it() -> None:
    assert tc._source_of(2, "lib line", "/src/a.tolk", SOURCES) == ("/lib/b.tolk", 2)
    assert tc._source_of(4, "twice", "/nowhere.tolk", SOURCES) == ("unresolved", 4)
    assert tc._source_of(4, "twice", "/src/a.tolk", SOURCES) == ("/src/a.tolk", 4)


def test_alignment_gives_inlined_and_control_instructions_their_lines() -> None:
    names = ["ONE", "INC", "PUSHCONT", "TEN", "DROP"]
    asm = ["SETCP0", "(:methods", "    0 => {", *[f"      {n}" for n in names], "    }", "]"]
    instructions = [tc.Instruction(("h", 8 * k), n, 3 + k) for k, n in enumerate(names)]
    code = tc.CodeMap("t", "00", asm, instructions, {})
    tc.align_tolk_lines(code, FIFT, SOURCES)
    assert code.tolk == {
        ("h", 0): ("a.tolk", 2),
        ("h", 8): ("a.tolk", 2),
        ("h", 16): ("a.tolk", 2),  # PUSHCONT is left out: it takes the line before it
        ("h", 24): ("b.tolk", 2),
        ("h", 32): ("a.tolk", 4),
    }
    assert code.tolk_aligned == {("h", 0), ("h", 8), ("h", 24), ("h", 32)}
    assert code.tolk_text == {
        ("a.tolk", 2): "x = 1",
        ("b.tolk", 2): "lib line",
        ("a.tolk", 4): "twice",
    }


def test_synthetic_disassembly_entries_at_a_taken_offset_are_dropped() -> None:
    rows = [[0, "PUSHINT", 1], [0, "SWAP", 2], [8, "RET", 3]]
    assert tc._real_instructions(rows) == [(0, "PUSHINT", 1), (8, "RET", 3)]


def test_a_missed_block_size_is_its_instruction_count() -> None:
    block = tc.MissedBlock(4, 6, ["A", "B", "C"], [("a.tolk", 1)], ["x"], "")
    assert block.size == 3


def test_a_failing_driver_step_is_noted_and_the_run_goes_on() -> None:
    log = tc.ScenarioLog()

    def broken() -> None:
        raise ValueError("the pool changed\nsecond line")

    assert tc._step(log, "crank", broken) is None
    assert tc._step(log, "ok", lambda: 42) == 42
    assert log.failed_steps == ["crank: ValueError: the pool changed"]
    assert log.traces == 1


def test_a_field_type_with_no_sample_is_refused() -> None:
    with pytest.raises(TypeError, match=r"^no sample for Frobnicator$"):
        tc._sample_value("Frobnicator", None, Address("0:" + "11" * 32))


def test_no_stdlib_sources_without_a_node_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(NODE_DIR_ENV, str(tmp_path))  # holds no bridge.mjs
    assert tc._stdlib_sources() == {}


def test_markdown_of_a_fully_run_contract_and_a_long_block() -> None:
    snapshot = REPO / "benchmarks" / "snapshots" / "tvm_coverage.json"
    data: dict[str, Any] = copy.deepcopy(json.loads(snapshot.read_text(encoding="utf-8")))
    names = list(data["contracts"])
    data["contracts"][names[0]]["missed"] = []
    data["contracts"][names[1]]["missed"] = [
        {
            "asm_lines": [10, 13],
            "instructions": ["A", "B", "C", "D"],
            "tolk_lines": ["x.tolk:1", "x.tolk:2", "x.tolk:3", "x.tolk:4"],
            "tolk_texts": ["a", "b", "c", "d|e"],
            "verdict": "defensive",
            "reason": "why",
        }
    ]
    text = tc.markdown(data)
    first = text.split(f"### {names[0]}", 1)[1].split("###", 1)[0]
    assert first.rstrip().endswith("| | | | | every instruction runs |")
    assert (
        "| 1 | 10–13 | `A; B; C (+1)` | `x.tolk:1` a<br>`x.tolk:2` b<br>`x.tolk:3` c (+1) "
        "| **Defensive, unreachable in practice.** why |"
    ) in text
