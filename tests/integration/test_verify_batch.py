"""One VerifyMember for many members: PoolOperator -> Registry -> one MarkVerified each.

The admin pays ADMIN_OP_FEE for the first member and VERIFY_MEMBER_FEE for each further one;
the registry sends every member's contract VERIFY_APPLY_VALUE and the rest straight back to
the admin. A refusal (not registered, not bound) bounces to the registry, which returns it to
the admin: the pool's contracts keep nothing, the admin loses only fees and what the verified
members' contracts keep of their MarkVerified.
"""

from __future__ import annotations

from ton_core import Address

from cocoon_pool.chain.emulator import Wallet
from cocoon_pool.chain.types import Trace, raw_address
from cocoon_pool.contracts import messages as m
from cocoon_pool.contracts.constants import fee, ton
from cocoon_pool.contracts.events import MemberVerified, trace_events
from cocoon_pool.contracts.exit_codes import code
from cocoon_pool.contracts.pool import MAX_MEMBERS_PER_VERIFY, verify_value
from cocoon_pool.sandbox import PoolSandbox
from stateful_model import hold
from tracing import assert_refused_and_refunded, kept_of_value, payer_cost, same, storage_paid

APPLY = fee("VERIFY_APPLY_VALUE")


def bound_members(sb: PoolSandbox, count: int, prefix: str = "m") -> list[Wallet]:
    """Registered members that bound their worker and are not verified yet."""
    wallets = [sb.add_member(f"{prefix}{i}", verify=False) for i in range(count)]
    for w in wallets:
        sb.pool.bind_worker(w, w.address).assert_success()
    return wallets


def balances(sb: PoolSandbox, addresses: list[Address]) -> dict[str, int]:
    return {raw_address(a): sb.chain.get_balance(a) for a in addresses}


def test_one_message_verifies_a_whole_batch(sandbox: PoolSandbox) -> None:
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    members = bound_members(sb, 7)
    targets = [pool.participant_address(w.address) for w in members]
    before = balances(sb, [pool.operator, pool.registry, *targets])
    admin_before = sb.admin.balance

    trace = pool.verify_members(sb.admin, [w.address for w in members]).assert_success()

    # PoolOperator and the registry run once; each member's contract once; nothing answers.
    assert len(trace.find_all(pool.operator)) == len(trace.find_all(pool.registry)) == 1
    verified = trace_events(trace, MemberVerified)
    assert [raw_address(e.member) for e in verified] == [raw_address(w.address) for w in members]
    assert all(pool.participant_info(w.address).verified for w in members)
    kept = 0
    for target in targets:
        mark = trace.find(target, m.MarkVerified.PREFIX)
        assert mark.in_message is not None and mark.in_message.value == APPLY
        one = kept_of_value(trace, target, APPLY)
        assert 0 < one < APPLY
        assert (
            chain.get_balance(target)
            == before[raw_address(target)] - storage_paid(trace, target) + one
        )
        kept += one
    # The change comes back once, from the registry; no pool contract keeps anything.
    (refund,) = trace.find_all(sb.admin.address, m.ReturnExcesses.PREFIX)
    assert refund.in_message is not None and same(refund.in_message.src, pool.registry)
    for contract in (pool.operator, pool.registry):
        raw = raw_address(contract)
        assert chain.get_balance(contract) == before[raw] - storage_paid(trace, contract)
    assert admin_before - sb.admin.balance == payer_cost(trace, sb.admin.address) + kept


def test_refused_members_of_a_batch_are_refunded_to_the_admin(sandbox: PoolSandbox) -> None:
    """A batch naming a bound member, a member who has not bound a worker and an address that
    never registered: only the first is verified, both refusals bounce to the registry and
    go back to the admin, and the refused members' contracts are untouched."""
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    (ok,) = bound_members(sb, 1)
    unbound = sb.add_member("unbound", verify=False)
    stranger = sb.wallet("stranger")
    names = [ok.address, unbound.address, stranger.address]
    targets = [pool.participant_address(a) for a in names]
    unbound_info = pool.participant_info(unbound.address)
    before = balances(sb, [pool.operator, pool.registry, *targets])
    admin_before = sb.admin.balance

    trace = pool.verify_members(sb.admin, names)

    assert trace.find(targets[0], m.MarkVerified.PREFIX).success
    refused = trace.find(targets[1], m.MarkVerified.PREFIX)
    assert refused.exit_code == code("NOT_BOUND") and refused.bounced
    never = trace.find(targets[2], m.MarkVerified.PREFIX)
    assert never.compute_skipped == "no-state" and never.bounced
    assert [tx.success for tx in trace].count(False) == 2  # the two refusals
    assert pool.participant_info(ok.address).verified
    assert pool.participant_info(unbound.address) == unbound_info
    # The change and both bounces' remainders come back to the admin from the registry.
    refunds = trace.find_all(sb.admin.address, m.ReturnExcesses.PREFIX)
    assert len(refunds) == 3
    assert all(r.in_message is not None and same(r.in_message.src, pool.registry) for r in refunds)
    kept = kept_of_value(trace, targets[0], APPLY)
    assert chain.get_balance(targets[1]) == before[raw_address(targets[1])] - storage_paid(
        trace, targets[1]
    )
    assert sb.chain.get_state(targets[2]).status == "nonexist"
    for contract in (pool.operator, pool.registry):
        raw = raw_address(contract)
        assert chain.get_balance(contract) == before[raw] - storage_paid(trace, contract)
    assert admin_before - sb.admin.balance == payer_cost(trace, sb.admin.address) + kept


def refused_at_operator(
    sb: PoolSandbox, members: list[Address], value: int, expected: int
) -> Trace:
    pool, chain = sb.pool, sb.chain
    admin_before = sb.admin.balance
    operator_before = chain.get_balance(pool.operator)
    infos = [pool.participant_info(a) for a in members]
    trace = pool.verify_members(sb.admin, members, value=value)
    assert_refused_and_refunded(
        trace,
        chain,
        sb.admin,
        pool.operator,
        value=value,
        expected=expected,
        payer_before=admin_before,
        contract_before=operator_before,
    )
    assert [pool.participant_info(a) for a in members] == infos
    return trace


def test_a_batch_paid_for_one_member_less_is_refused_whole(sandbox: PoolSandbox) -> None:
    """Too little value for the members named: refused at PoolOperator before any MarkVerified
    leaves, so the registry never has to send what it was not paid for."""
    sb = sandbox
    members = [w.address for w in bound_members(sb, 3)]
    refused_at_operator(sb, members, verify_value(3) - 1, code("OPERATOR_FEE_TOO_LOW"))
    assert not any(sb.pool.participant_info(a).verified for a in members)


def test_a_batch_above_the_limit_is_refused_whole(sandbox: PoolSandbox) -> None:
    sb = sandbox
    (member,) = bound_members(sb, 1)
    # The same member named again and again: the count alone decides.
    members = [member.address] * (MAX_MEMBERS_PER_VERIFY + 1)
    refused_at_operator(sb, members, verify_value(len(members)), code("VERIFY_BATCH_TOO_LARGE"))
    assert not sb.pool.participant_info(member.address).verified


def test_a_batch_at_the_limit_goes_through(sandbox: PoolSandbox) -> None:
    sb, pool = sandbox, sandbox.pool
    (member,) = bound_members(sb, 1)
    members = [member.address] * MAX_MEMBERS_PER_VERIFY
    trace = pool.verify_members(sb.admin, members).assert_success()
    assert len(trace.find_all(pool.participant_address(member.address))) == MAX_MEMBERS_PER_VERIFY
    assert pool.participant_info(member.address).verified


def test_only_the_admin_verifies_a_batch(sandbox: PoolSandbox) -> None:
    sb = sandbox
    members = [w.address for w in bound_members(sb, 2)]
    stranger = sb.wallet("stranger")
    before = stranger.balance
    operator_before = sb.chain.get_balance(sb.pool.operator)
    value = verify_value(2)
    trace = sb.pool.verify_members(stranger, members, value=value)
    assert_refused_and_refunded(
        trace,
        sb.chain,
        stranger,
        sb.pool.operator,
        value=value,
        expected=code("NOT_ADMIN"),
        payer_before=before,
        contract_before=operator_before,
    )
    assert not any(sb.pool.participant_info(a).verified for a in members)


def test_a_batch_held_back_past_a_pause_and_an_epoch_moves_only_its_own_value(
    sandbox: PoolSandbox,
) -> None:
    """The registry's MarkVerified messages (and a refusal's bounce) held back while the pool
    pauses, unpauses and closes an epoch, then delivered: each member's contract keeps only what
    its own message carried beyond its gas, the refusal's value still reaches the admin, no pool
    contract keeps anything, and the books conserve throughout."""
    sb, pool, chain = sandbox, sandbox.pool, sandbox.chain
    members = bound_members(sb, 2)
    stranger = sb.wallet("stranger").address
    names = [w.address for w in members] + [stranger]
    targets = [pool.participant_address(a) for a in names]
    # admin wallet -> PoolOperator -> registry; the registry's messages are held there.
    held = hold(chain, lambda: pool.verify_members(sb.admin, names), 3)
    assert chain.transactions[-1].op == m.ForwardVerification.PREFIX
    marks = [out for out in held if out.op == m.MarkVerified.PREFIX]
    assert [raw_address(out.dest) for out in marks if out.dest] == [raw_address(t) for t in targets]
    (change,) = [out for out in held if out.op == m.ReturnExcesses.PREFIX]
    chain.send_message(change.cell).assert_success()
    assert not any(pool.participant_info(w.address).verified for w in members)

    pool.admin_call(sb.pauser, m.PausePool()).assert_success()
    pool.admin_call(sb.admin, m.UnpausePool()).assert_success()
    pool.send_income(sb.proxy, ton(5)).assert_success()
    sb.close_epoch().assert_success()
    sb.assert_conserved()

    before = balances(sb, [pool.operator, pool.registry, pool.distribution, *targets])
    admin_before = sb.admin.balance
    delivered: list[Trace] = []
    for out, target in zip(marks[:2], targets[:2], strict=True):
        trace = chain.send_message(out.cell).assert_success()
        delivered.append(trace)
        kept = kept_of_value(trace, target, APPLY)
        assert 0 < kept < APPLY
        assert (
            chain.get_balance(target)
            == before[raw_address(target)] - storage_paid(trace, target) + kept
        )
    assert all(pool.participant_info(w.address).verified for w in members)
    # The stranger's MarkVerified bounces; its bounce is held too and delivered last.
    (bounce,) = hold(chain, lambda: chain.send_message(marks[2].cell), 1)
    assert bounce.bounced
    trace = chain.send_message(bounce.cell).assert_success()
    delivered.append(trace)
    (refund,) = trace.find_all(sb.admin.address, m.ReturnExcesses.PREFIX)
    assert refund.in_message is not None and same(refund.in_message.src, pool.registry)
    assert 0 < refund.in_message.value < APPLY
    assert sb.admin.balance == admin_before + refund.in_message.value - sum(
        tx.total_fees for tx in trace.find_all(sb.admin.address)
    )
    for contract in (pool.operator, pool.distribution):
        paid = sum(storage_paid(t, contract) for t in delivered)
        assert chain.get_balance(contract) == before[raw_address(contract)] - paid
    # The registry keeps only the top-up of its storage floor, as every refund through it does.
    paid = sum(storage_paid(t, pool.registry) for t in delivered)
    registry_before = before[raw_address(pool.registry)]
    assert chain.get_balance(pool.registry) == max(
        registry_before - paid, fee("REGISTRY_STORAGE_FLOOR")
    )
    sb.assert_conserved()
