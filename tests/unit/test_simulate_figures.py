"""simulate's figures read right: the members' columns add up to the summary, no negative
income, units and plurals (issue "Proof at scale", "Figures that read right")."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from cocoon_pool.cli.app import main
from cocoon_pool.cli.output import NANO
from cocoon_pool.cli.simulate_cmd import MEMBER_COLUMNS, plural, show_result
from cocoon_pool.contracts.constants import ton
from cocoon_pool.simulate import SimulationConfig, run_simulation

SPLIT_KEYS = ("owed_nanoton", "open_income_nanoton", "income_fees_nanoton", "floor_storage_nanoton")


def check_json(out: dict[str, Any]) -> None:
    members = out["members"]
    assert sum(m["paid"] for m in members) == out["paid_nanoton"]
    assert sum(m["pending"] for m in members) == out["owed_nanoton"]
    for m in members:
        assert m["base"] + m["bonus"] - m["penalty"] == m["earned"] == m["paid"] + m["pending"]
        assert m["paid"] >= 0 and m["pending"] >= 0
    assert all(out[key] >= 0 for key in SPLIT_KEYS)
    assert out["conserved"] is True and out["figures_add_up"] is True
    # The raw equation (backwards compatible keys) and the split one both hold.
    assert out["received_nanoton"] == (
        out["commission_nanoton"]
        + out["paid_nanoton"]
        + out["pending_nanoton"]
        + out["reserve_nanoton"]
        + out["fees_nanoton"]
    )
    assert out["received_nanoton"] == (
        out["commission_nanoton"]
        + out["paid_nanoton"]
        + out["owed_nanoton"]
        + out["open_income_nanoton"]
        + out["reserve_nanoton"]
        + out["income_fees_nanoton"]
    )
    assert out["pending_nanoton"] == (
        out["owed_nanoton"] + out["open_income_nanoton"] - out["floor_storage_nanoton"]
    )
    assert out["fees_nanoton"] == out["income_fees_nanoton"] + out["floor_storage_nanoton"]


def ton_cell(text: str) -> Decimal:
    return Decimal(text.strip().removesuffix("TON").strip().replace(",", ""))


def parse_table(text: str) -> tuple[list[dict[str, Decimal]], dict[str, Decimal]]:
    """The members' money columns and the summary rows, as TON."""
    rows, summary = [], {}
    money = [c for c in MEMBER_COLUMNS if c.endswith("(TON)")]
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if cells[0].startswith("member-"):
            assert len(cells) == len(MEMBER_COLUMNS)
            named = dict(zip(MEMBER_COLUMNS, cells, strict=True))
            rows.append({c: ton_cell(named[c]) for c in money})
        elif len(cells) == 2 and cells[1].endswith(" TON"):
            summary[cells[0]] = ton_cell(cells[1])
    return rows, summary


def check_table(text: str, participants: int) -> dict[str, Decimal]:
    """The members' columns add up to the summary, which adds up and has no negative figure."""
    rows, summary = parse_table(text)
    assert len(rows) == participants
    assert sum(r["paid (TON)"] for r in rows) == summary["paid to members"]
    assert sum(r["pending (TON)"] for r in rows) == summary["owed to members, not yet sent"]
    amounts = [line.split("│")[-2] for line in text.splitlines() if line.endswith(" TON │")]
    assert len(amounts) == len(summary) and not any("-" in a for a in amounts)
    assert summary["received"] == sum(
        value
        for label, value in summary.items()
        if label not in ("received", "storage paid from the floor (next income refills it)")
    )
    for line in ("conserved", "members add up to the summary", "matches reference model"):
        assert any(
            row.startswith(f"│ {line} ") and row.rstrip(" │").endswith("yes")
            for row in text.splitlines()
        )
    return summary


def test_simulate_json_members_add_up(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "-n", "4", "-e", "2", "-s", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    check_json(out)
    # The case that used to print a negative income: storage dented the floor after the
    # last close; it is now its own figure, and the open epoch's income is 0, not below.
    assert out["floor_storage_nanoton"] > 0 and out["open_income_nanoton"] == 0
    assert out["pending_nanoton"] < 0  # the raw, backwards-compatible figure


def test_pending_and_carried_credit_add_up(capsys: pytest.CaptureFixture[str]) -> None:
    # A high minimum payout: in this run one member's epoch-1 share is credited and then sent
    # with its epoch-2 share, another's stays credited, so paid, pending and the carry all
    # show up (at 0.5 TON only very large pools have shares this small).
    result = run_simulation(SimulationConfig(participants=3, epochs=2, seed=1, min_payout=ton(250)))
    out = result.as_json()
    check_json(out)
    assert out["owed_nanoton"] > 0 and out["paid_nanoton"] > 0
    assert any(m.paid > 0 and m.pending == 0 for m in result.members)
    assert any(m.pending > 0 for m in result.members)
    show_result(result)
    summary = check_table(capsys.readouterr().out, 3)
    assert summary["paid to members"] == Decimal(result.conservation.paid) / NANO
    assert summary["owed to members, not yet sent"] == Decimal(result.conservation.owed) / NANO


def test_simulate_table_adds_up_and_says_members(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "-n", "3", "-e", "2", "-s", "2"]) == 0
    text = capsys.readouterr().out
    assert "3 members, 2 epochs" in text
    for column in MEMBER_COLUMNS[3:]:
        assert column in text
    check_table(text, 3)


def test_one_member_one_epoch_is_singular(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "-n", "1", "-e", "1"]) == 0
    text = capsys.readouterr().out
    assert "1 member, 1 epoch" in text and "1 members" not in text and "1 epochs" not in text


@pytest.mark.parametrize(
    ("count", "text"),
    [(0, "0 members"), (1, "1 member"), (2, "2 members"), (1000, "1,000 members")],
)
def test_plural(count: int, text: str) -> None:
    assert plural(count, "member") == text
