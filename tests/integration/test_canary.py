"""The canary: the bridge runs transactions through @ton/sandbox's private executor functions
(``_emulate_with_emulator``) with its own message queue, so every pool operation's trace is
also run through sandbox's public ``Blockchain`` from the same state and the two must agree
transaction by transaction. A sandbox upgrade that changes what the executor expects shows
up here first."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from ton_core import Cell

from cocoon_pool.chain.emulator import EmulatedChain
from cocoon_pool.chain.types import Trace, Transaction, cell_from_b64
from cocoon_pool.contracts import messages as m
from cocoon_pool.contracts.constants import ton
from cocoon_pool.economics import MemberMetrics
from cocoon_pool.sandbox import PoolSandbox


def _captured(chain: EmulatedChain, send: Callable[[], Trace]) -> Cell:
    """The message ``send`` injects, without running it."""
    with chain.batch(submit=False) as batch:
        send()
    (message,) = batch.messages
    return cell_from_b64(message["boc"])


def _shape(tx: Transaction) -> tuple[object, ...]:
    msg = tx.in_message
    return (
        tx.address_raw,
        tx.lt,
        tx.now,
        # Not the transaction's hash: Blockchain re-serializes a delivered message (a state
        # init inline instead of in a ref), while the bridge, like the network, delivers the
        # very cell the sender's transaction created; the in-message's body must agree.
        None if msg is None else (msg.kind, msg.value, msg.op, msg.bounced, msg.body_boc),
        tx.compute_skipped,
        tx.exit_code,
        tx.gas_used,
        tx.vm_steps,
        tx.aborted,
        tx.destroyed,
        tx.action_result_code,
        tx.total_actions,
        tx.total_fees,
        tx.storage_fees,
        tx.compute_fees,
        tx.action_fees,
        tx.fwd_fees,
        tx.bounced,
        tx.orig_status,
        tx.end_status,
        tuple(
            (o.kind, o.dest_raw, o.value, o.fwd_fee, o.bounce, o.bounced, o.created_lt, o.cell.hash)
            for o in tx.out_messages
        ),
    )


def assert_same_as_sandbox(chain: EmulatedChain, send: Callable[[], Trace]) -> Trace:
    message = _captured(chain, send)
    expected, balances = chain.run_in_sandbox(message)
    trace = chain.send_message(message)
    assert len(trace) == len(expected) > 0, trace.describe() + "\n--\n" + expected.describe()
    for ours, theirs in zip(trace, expected, strict=True):
        assert _shape(ours) == _shape(theirs), f"{ours.describe()}\n{theirs.describe()}"
    for address, balance in balances.items():
        assert chain.get_balance(address) == balance, address
    return trace


@pytest.fixture(scope="module")
def pool() -> PoolSandbox:
    return PoolSandbox.create()


def test_every_pool_operation_matches_sandbox_blockchain(pool: PoolSandbox) -> None:
    sb = pool.fork()
    p, chain = sb.pool, sb.chain
    member = sb.wallet("canary-member")

    def same(send: Callable[[], Trace]) -> Trace:
        return assert_same_as_sandbox(chain, send)

    same(lambda: p.register(member, sb.params.min_stake)).assert_success()
    same(lambda: p.bind_worker(member, member.address)).assert_success()
    same(lambda: p.verify_member(sb.admin, member.address)).assert_success()
    same(lambda: p.send_income(sb.proxy, ton(100))).assert_success()
    ledger = p.ledger()
    chain.set_now(ledger.epoch_start + ledger.epoch_length)
    same(lambda: p.close_epoch(sb.keeper)).assert_success()
    metrics = MemberMetrics(ledger.epoch_length, 1_000, 9_900, 0)
    same(lambda: sb.report(member, 1, metrics)).assert_success()
    chain.set_now(p.reporting_epoch().deadline + 1)
    same(lambda: p.finalize_epoch(sb.keeper)).assert_success()
    same(lambda: p.crank_payout(sb.keeper, member.address, 1)).assert_success()
    sb.assert_conserved()


def test_refused_and_bounced_messages_match_sandbox_blockchain(pool: PoolSandbox) -> None:
    """Failing compute phases, bounces and a message to an account that does not exist."""
    sb = pool.fork()
    chain = sb.chain
    stranger = sb.wallet("canary-stranger")
    refused = assert_same_as_sandbox(
        chain, lambda: sb.pool.admin_call(stranger, m.CollectCommission())
    )
    assert refused.failed() and any(tx.bounced for tx in refused)
    nowhere = "0:" + "77" * 32
    lost = assert_same_as_sandbox(chain, lambda: stranger.send(nowhere, ton(1)))
    assert lost[1].compute_skipped is not None and lost[1].bounced and len(lost) == 3
    kept = assert_same_as_sandbox(chain, lambda: stranger.send(nowhere, ton(1), bounce=False))
    assert kept[1].end_status == "uninit" and len(kept) == 2


def _summary_shape(tx: Transaction) -> tuple[object, ...]:
    """What a ``detail="summary"`` transaction carries (no BOCs but the events' bodies)."""
    msg = tx.in_message
    inbound = None if msg is None else (msg.kind, msg.src, msg.value, msg.op, msg.bounced)
    outbound = tuple(
        (
            *(o.kind, o.src, o.dest_raw, o.value, o.fwd_fee, o.bounce, o.bounced, o.created_lt),
            *(o.op, o.has_state_init, o.body_boc if o.kind == "external-out" else None),
        )
        for o in tx.out_messages
    )
    fields = (
        *(tx.address_raw, tx.lt, tx.now, tx.compute_skipped, tx.compute_success, tx.exit_code),
        *(tx.gas_used, tx.vm_steps, tx.aborted, tx.destroyed, tx.action_result_code),
        *(tx.total_actions, tx.total_fees, tx.storage_fees, tx.compute_fees, tx.action_fees),
        *(tx.fwd_fees, tx.bounced, tx.orig_status, tx.end_status, tx.balance_after),
    )
    return (*fields, inbound, outbound)


def test_summaries_read_the_same_fields_as_full_detail(pool: PoolSandbox) -> None:
    """The scale run's lean transaction reader against @ton/core's, on every kind of trace:
    deploys (state init), events, bounces, skipped compute phases."""
    full, lean = pool.fork(), pool.fork()
    lean.chain.detail = "summary"
    traces: dict[str, list[Trace]] = {"full": [], "summary": []}
    for sb in (full, lean):
        p, chain = sb.pool, sb.chain
        member, stranger = sb.wallet("summary-member"), sb.wallet("summary-stranger")
        out = traces[chain.detail]
        out.append(p.register(member, sb.params.min_stake))
        out.append(p.bind_worker(member, member.address))
        out.append(p.verify_member(sb.admin, member.address))
        out.append(p.send_income(sb.proxy, ton(100)))
        ledger = p.ledger()
        chain.set_now(ledger.epoch_start + ledger.epoch_length)
        out.append(p.close_epoch(sb.keeper))
        out.append(sb.report(member, 1, MemberMetrics(ledger.epoch_length, 1_000, 9_900, 0)))
        chain.set_now(p.reporting_epoch().deadline + 1)
        out.append(p.finalize_epoch(sb.keeper))
        out.append(p.crank_payout(sb.keeper, member.address, 1))
        out.append(p.admin_call(stranger, m.CollectCommission()))
        out.append(stranger.send("0:" + "77" * 32, ton(1)))
    for a, b in zip(traces["full"], traces["summary"], strict=True):
        assert [_summary_shape(tx) for tx in a] == [_summary_shape(tx) for tx in b]
    lean_tx = traces["summary"][0][0]
    assert lean_tx.boc == "" and lean_tx.hash == "" and lean_tx.out_messages[0].boc == ""


def test_the_trimmed_config_gives_the_same_transactions() -> None:
    """The scale run's config (without the validator sets and the suspended list, which the
    emulator would parse on every transaction) changes no transaction by a single bit."""
    runs = []
    for config in ("default", "trimmed"):
        sb = PoolSandbox.create(chain=EmulatedChain(config=config))
        p, chain = sb.pool, sb.chain
        member = sb.add_member("trimmed-member")
        p.send_income(sb.proxy, ton(100)).assert_success()
        sb.close_epoch()
        ledger = p.ledger()
        sb.report(member, 1, MemberMetrics(ledger.epoch_length, 1_000, 9_900, 0)).assert_success()
        sb.finalize()
        p.crank_payout(sb.keeper, member.address, 1).assert_success()
        p.admin_call(member, m.CollectCommission())  # refused and bounced
        runs.append([(tx.hash, tx.boc, tx.balance_after) for tx in chain.transactions])
    assert runs[0] == runs[1] and len(runs[0]) > 30
