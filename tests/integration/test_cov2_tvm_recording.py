"""TVM coverage recording through a pipelined batch, and Tolk lines left off when the source
cannot be read or compiled (``cocoon_pool.tvm_coverage``)."""

from __future__ import annotations

from pathlib import Path

from ton_core import Address

from cocoon_pool import tvm_coverage as tc
from cocoon_pool.chain.emulator import EmulatedChain
from cocoon_pool.chain.node import get_bridge
from cocoon_pool.contracts.constants import ton

NOWHERE = Address("0:" + "ab" * 32)


def test_a_pipelined_batch_is_recorded() -> None:
    with tc.recording() as bridge:
        chain = EmulatedChain()
        assert chain.bridge is bridge
        alice = chain.create_wallet("alice", ton(5))
        with chain.batch(wait=False) as batch:
            alice.send(NOWHERE, ton(1), bounce=False)
        runs = bridge.runs
        (trace,) = batch.wait()
    assert trace.find(NOWHERE).balance_after == ton(1)
    assert bridge.runs == runs + 1  # the wallet's transaction, logged through send/receive
    assert sum(bridge.hits.values()) > 0
    req = bridge.send("config")
    assert "configBoc" in bridge.receive(req, "config")
    assert bridge.runs == runs + 1  # no VM log in a config answer


def _empty_map() -> tc.CodeMap:
    return tc.CodeMap("x", "00", [], [], {})


def test_no_tolk_lines_from_a_missing_source(tmp_path: Path) -> None:
    code = _empty_map()
    tc.attach_tolk_lines(code, tmp_path / "missing.tolk")
    assert code.tolk_file is None and code.tolk == {}


def test_no_tolk_lines_from_a_source_that_does_not_compile(tmp_path: Path) -> None:
    source = tmp_path / "broken.tolk"
    source.write_text("fun main( {\n", encoding="utf-8")
    code = _empty_map()
    tc.attach_tolk_lines(code, source, get_bridge())
    assert code.tolk_file is None and code.tolk == {}
    key = (str(source.resolve()), source.stat().st_mtime_ns)
    assert tc._LISTINGS[key] is None  # the failed compile is remembered, not retried
