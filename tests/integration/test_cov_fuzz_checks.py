"""The fuzz engine's invariant checks see what they are meant to see. The real contracts
never break them (tests/integration/test_fuzz.py), so each check is fed a real refused
transaction from the real TVM, then the same transaction with one fact changed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cocoon_pool.chain.types import Transaction, raw_address
from cocoon_pool.contracts import messages as m
from cocoon_pool.contracts.constants import ton
from cocoon_pool.fuzz import FuzzEngine, FuzzMessage, FuzzWorld, refused


@pytest.fixture(scope="module")
def world() -> FuzzWorld:
    return FuzzWorld.build()


def pause_by_stranger() -> FuzzMessage:
    """Only the admin and the pauser may pause: from a stranger it is refused and bounced."""
    return FuzzMessage(
        target="operator",
        sender="stranger",
        kind="struct",
        op_class="PausePool",
        body=m.PausePool().to_cell(),
        value=ton(1),
        bounce=True,
    )


@pytest.fixture(scope="module")
def refused_tx(world: FuzzWorld) -> tuple[Transaction, int]:
    """The operator's refused, bounced transaction and its balance before it."""
    sb = world.base.fork()
    operator = raw_address(world.addresses["operator"])
    before = sb.chain.get_balance(operator)
    msg = pause_by_stranger()
    trace = sb.chain.send_internal(
        world.addresses["stranger"], world.addresses["operator"], msg.value, msg.body, bounce=True
    )
    tx = trace.find(world.addresses["operator"])
    assert refused(tx) and tx.bounced
    return tx, before


def found(tx: Transaction, before: int) -> list[tuple[str, str]]:
    return list(FuzzEngine._check_refused(tx, before))


def test_the_real_refusal_passes_every_check(refused_tx: tuple[Transaction, int]) -> None:
    assert found(*refused_tx) == []


def test_a_bounce_with_company_to_the_wrong_place_or_value_is_caught(
    refused_tx: tuple[Transaction, int],
) -> None:
    tx, before = refused_tx
    (bounce,) = tx.internal_out
    # the bounce and another message: a refused transaction sends nothing else
    extra = replace(tx, out_messages=(*tx.out_messages, replace(bounce, bounced=False)))
    ((kind, detail),) = found(extra, before)
    assert kind == "refused-bounce" and "the bounce is not the only message out" in detail
    wrong_dest = replace(tx, out_messages=(replace(bounce, dest_raw="0:" + "00" * 32),))
    ((kind, detail),) = found(wrong_dest, before)
    assert kind == "refused-bounce" and "not the sender" in detail
    short = replace(tx, out_messages=(replace(bounce, value=bounce.value - 1),))
    ((kind, detail),) = found(short, before)
    assert kind == "refused-bounce" and f"bounced {bounce.value - 1}, expected" in detail


def test_a_refusal_that_kept_value_is_caught(refused_tx: tuple[Transaction, int]) -> None:
    tx, before = refused_tx
    ((kind, detail),) = found(tx, before + 5)
    assert kind == "refused-balance" and f"balance {before + 5} -> {tx.balance_after}" in detail


def test_a_refusal_that_sent_something_or_kept_the_value_is_caught(
    refused_tx: tuple[Transaction, int],
) -> None:
    tx, before = refused_tx
    # not marked bounced but a message left: the refused transaction sent something, and
    # what the sender asked to have bounced was not
    sent = replace(tx, bounced=False)
    assert [k for k, _ in found(sent, before)] == ["refused-balance", "refused-bounce"]
    # nothing went back although the sender asked for a bounce and the value covers it
    kept = replace(tx, bounced=False, out_messages=())
    ((kind, detail),) = found(kept, before)
    assert kind == "refused-bounce" and "refused but not bounced" in detail
    # an external message has nobody to bounce to
    assert tx.in_message is not None
    external = replace(kept, in_message=replace(tx.in_message, kind="external-in"))
    assert found(external, before) == []
    assert found(replace(kept, in_message=None), before) == []


def test_a_runaway_trace_ends_the_sequence(world: FuzzWorld) -> None:
    """A trace longer than the chain allows is a break; the episode stops there."""
    engine = FuzzEngine(world)
    episode = engine.episode()
    episode.sandbox.chain.max_trace_transactions = 1
    engine.episode = lambda: episode  # type: ignore[method-assign]
    msg = replace(pause_by_stranger(), sender="admin")  # accepted: a trace of several
    breaks = engine.run_sequence([msg, msg, msg])
    assert [v.invariant for v in breaks] == ["runaway"]
    assert engine.report.messages == 1  # the next two were never sent
    assert "trace exceeded 1 transactions" in breaks[0].detail
    assert engine.report.violations == breaks


def test_a_refused_message_that_changed_the_contract_is_caught(world: FuzzWorld) -> None:
    """The engine remembers each contract's state; a refused transaction must leave it as it
    was. Here its memory of the operator is another contract's, as if the refusal changed it."""
    engine = FuzzEngine(world)
    episode = engine.episode()
    operator = raw_address(world.addresses["operator"])
    registry = raw_address(world.addresses["registry"])
    episode.contents[operator] = episode.contents[registry]
    breaks = engine.send(episode, pause_by_stranger())
    assert [v.invariant for v in breaks] == ["refused-state"]
    assert "code or data changed" in breaks[0].detail
    # and the engine now remembers the real state: the same refusal again is clean
    assert engine.send(episode, pause_by_stranger()) == []
