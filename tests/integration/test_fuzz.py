"""Fuzzing the real compiled contracts: generated messages to every contract, every invariant
checked after each one (cocoon_pool.fuzz; docs/fuzzing.md).

CI runs a fixed, derandomized sample per contract; `cocoon-pool bench fuzz` runs the same
engine for 100,000 messages.
"""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ton_core import begin_cell
from typer.testing import CliRunner

from cocoon_pool.chain.types import raw_address
from cocoon_pool.cli.app import app
from cocoon_pool.contracts import messages as m
from cocoon_pool.contracts.constants import fee, ton
from cocoon_pool.contracts.reports import report_value
from cocoon_pool.fuzz import (
    BODY_KINDS,
    TARGETS,
    FuzzEngine,
    FuzzMessage,
    FuzzWorld,
    MessageGenerator,
    RandomSource,
    Violation,
    merge_reports,
    message_strategy,
    same_content,
)

EXAMPLES_PER_CONTRACT = 6


@pytest.fixture(scope="module")
def world() -> FuzzWorld:
    return FuzzWorld.build()


def breaks(found: list[Violation]) -> list[Violation]:
    return [v for v in found if not v.informational]


def explain(found: list[Violation]) -> str:
    return "\n\n".join(f"{v.invariant}: {v.message.describe()}\n{v.detail}" for v in found)


@pytest.mark.parametrize("target", TARGETS)
def test_generated_messages_keep_every_invariant(world: FuzzWorld, target: str) -> None:
    """1-3 generated messages in a row to one contract, from every kind of sender, with every
    kind of body, value and bounce flag: no value lost or created, refused messages change
    nothing and come back, and the books balance after each."""
    engine = FuzzEngine(world)

    @settings(
        max_examples=EXAMPLES_PER_CONTRACT,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(message_strategy(world, target), min_size=1, max_size=3))
    def check(batch: list[FuzzMessage]) -> None:
        found = breaks(engine.run_sequence(batch))
        assert not found, explain(found)

    check()
    assert engine.report.by_op and {t for t, _ in engine.report.by_op} == {target}
    assert engine.report.refusals_checked > 0


def test_seeded_loop_keeps_every_invariant(world: FuzzWorld) -> None:
    """The benchmark's plain loop: episodes carry state from message to message."""
    engine = FuzzEngine(world)
    report = engine.run(30, seed=3, episode_length=15)
    assert report.messages == 30 and report.episodes == 2
    assert not report.violations, explain(report.violations)
    assert sum(report.accepted.values()) + sum(report.refused.values()) == 30
    assert report.conservation_checks > 0 and report.refusals_checked > 0


def test_generation_covers_every_message_struct_kind_sender_and_fee(world: FuzzWorld) -> None:
    """Opcodes come from the message classes: every struct, every body kind and sender, and
    the values just below every fee are all drawn (no chain needed)."""
    generator = MessageGenerator(world)
    src = RandomSource(random.Random(5))
    drawn = [generator.message(src) for _ in range(1_500)]
    valid = {msg.op_class for msg in drawn if msg.kind == "valid"}
    assert valid == {cls.__name__ for cls in m.top_level_messages()}
    assert {msg.kind for msg in drawn} == {*BODY_KINDS, "bounced"}
    assert {msg.target for msg in drawn} == set(TARGETS)
    assert {msg.sender for msg in drawn} == set(world.wallets) | {
        "operator",
        "registry",
        "distribution",
        "participant",
    }
    values = Counter(msg.value for msg in drawn)
    for name in ("MEMBER_OP_FEE", "REPORT_FEE", "ADMIN_OP_FEE", "EPOCH_CRANK_FEE"):
        assert values[fee(name) - 1] > 0, name
    assert values[0] > 0 and values[1] > 0
    assert {msg.bounce for msg in drawn} == {True, False}
    assert any(msg.via_wallet for msg in drawn) and any(msg.advance for msg in drawn)


def test_state_comparison_sees_a_data_change(world: FuzzWorld) -> None:
    """The refused-state check compares code and data, not balances: a paid-in income changes
    the distribution's balance only (same content), a pause changes its data."""
    sb = world.base.fork()
    distribution = world.addresses["distribution"]
    before = sb.chain.shard_account(distribution)
    sb.pool.send_income(sb.proxy, ton(1)).assert_success()
    income = sb.chain.shard_account(distribution)
    sb.pool.admin_call(sb.pauser, m.PausePool(query_id=1)).assert_success()
    paused = sb.chain.shard_account(distribution)
    assert before is not None and income is not None and paused is not None
    assert before != income and same_content(before, income)
    assert not same_content(income, paused)


def test_refused_message_is_checked_and_refunded(world: FuzzWorld) -> None:
    """A stranger's admin call with a fee's worth of value: refused, bounced back minus fees,
    the operator's data untouched; all three checks run and pass."""
    engine = FuzzEngine(world)
    msg = FuzzMessage(
        target="operator",
        sender="stranger",
        kind="valid",
        op_class="PausePool",
        body=m.PausePool(query_id=7).to_cell(),
        value=fee("ADMIN_OP_FEE"),
        bounce=True,
        via_wallet=True,
    )
    episode = engine.episode()
    stranger = episode.sandbox.chain.wallets[world.wallets["stranger"]]
    before = stranger.balance
    assert not engine.send(episode, msg)
    assert engine.report.refused["operator"] == 1 and engine.report.refusals_checked == 1
    assert before - stranger.balance < fee("ADMIN_OP_FEE") // 2  # only fees were kept


def test_conservation_check_catches_value_the_books_miss(world: FuzzWorld) -> None:
    """The checks have teeth: a made-up bounce (which no contract caused) that the distribution
    refuses leaves its value on the balance without being income, and the conservation check
    reports exactly that amount minus the fees, as informational (synthetic message)."""
    engine = FuzzEngine(world)
    body = (
        begin_cell()
        .store_uint(m.PLAIN_BOUNCE_PREFIX, 32)
        .store_uint(m.CloseEpoch.PREFIX or 0, 32)
        .store_uint(0, 64)
        .end_cell()
    )
    msg = FuzzMessage(
        target="distribution",
        sender="member",
        kind="bounced",
        op_class="(bounced)",
        body=body,
        value=ton(1),
        bounce=False,
        bounced=True,
        original="CloseEpoch",
    )
    found = engine.send(engine.episode(), msg)
    assert [v.invariant for v in found] == ["conservation"], explain(found)
    assert found[0].informational and not engine.report.violations
    assert sum(engine.report.notes.values()) == 1
    # The equation's difference is the kept value: received misses it, the balance has it.
    assert "received - accounted = -" in found[0].detail


def test_bench_fuzz_command(world: FuzzWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    """`cocoon-pool bench fuzz --json`: counts per contract and op class, rate, breaks."""
    # The pool is the module's (same build), to keep the CI sample short.
    monkeypatch.setattr(FuzzWorld, "build", classmethod(lambda cls: world))
    result = CliRunner().invoke(
        app, ["bench", "fuzz", "--messages", "12", "--seed", "4", "--episode", "6", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["messages"] == 12 and data["complete"] and data["invariant_breaks"] == 0
    assert sum(sum(ops.values()) for ops in data["by_contract"].values()) == 12
    assert data["messages_per_second"] > 0
    assert raw_address(world.addresses["distribution"])  # the world is untouched by the run


def test_parallel_reports_add_up(world: FuzzWorld) -> None:
    """`bench fuzz --workers N` merges each worker's report: counts add up, breaks are kept
    with their worker, the rate is all messages over the longest run."""
    parts = []
    for seed in (1, 2):
        engine = FuzzEngine(world)
        engine.run(4, seed=seed, episode_length=4)
        parts.append({**engine.report.as_dict(), "seconds": 2.0 * seed})
    merged = merge_reports(parts)
    assert merged["messages"] == 8 and merged["episodes"] == 2
    assert merged["transactions"] == parts[0]["transactions"] + parts[1]["transactions"]
    assert merged["messages_per_second"] == 2.0  # 8 messages over the longer 4 s
    assert sum(sum(ops.values()) for ops in merged["by_contract"].values()) == 8
    assert sum(merged["accepted"].values()) + sum(merged["refused"].values()) == 8
    assert all(v["worker"] in (0, 1) for v in merged["informational_examples"])


def test_signed_reports_come_alone_batched_and_with_a_bad_link(world: FuzzWorld) -> None:
    """Signed reports are drawn alone, as a batch of two members' signed reports, and with a
    ``next`` that is no report; each shape relayed to the distribution keeps every invariant:
    the batch counts both reports, the bad link refuses the whole message."""
    generator = MessageGenerator(world)
    src = RandomSource(random.Random(11))
    shapes: dict[str, m.SubmitReport] = {}
    for _ in range(200):
        report = generator.signed_report(src)
        if report.next is None:
            shapes.setdefault("alone", report)
            continue
        try:
            link = m.SubmitReport.from_cell(report.next)
        except Exception:  # not a report: the garbage link
            shapes.setdefault("bad link", report)
        else:
            assert link.next is None and link.query_id == 0
            shapes.setdefault("batch", report)
    assert set(shapes) == {"alone", "batch", "bad link"}
    engine = FuzzEngine(world)
    for shape, report in sorted(shapes.items()):
        msg = FuzzMessage(
            target="distribution",
            sender="keeper",
            kind="signed-report",
            op_class="SubmitReport(signed)",
            body=report.to_cell(),
            value=report_value(2),
            bounce=True,
            via_wallet=True,
        )
        found = breaks(engine.run_sequence([msg]))
        assert not found, f"{shape}: {explain(found)}"
    assert engine.report.refused["distribution"] >= 1  # the bad link at least
