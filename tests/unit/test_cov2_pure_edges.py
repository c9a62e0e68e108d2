"""Pure edges the coverage run missed: fuzz's account-content comparison on BOCs it cannot
read, the scale and simulation configs' refusals, a transaction with no inbound message,
the devnet's toncenter stack entries of builders, addresses and nested tuples, and the
oracle's sample row of a failed poll."""

from __future__ import annotations

import pytest
from ton_core import Address, Builder, begin_cell

from cocoon_pool.chain.emulator import _in_message
from cocoon_pool.chain.types import cell_to_b64
from cocoon_pool.devnet import _stack_out
from cocoon_pool.errors import UsageError
from cocoon_pool.fuzz import _boc_content_key, _content_hashes, same_content
from cocoon_pool.oracle.config import MemberConfig
from cocoon_pool.oracle.models import Sample
from cocoon_pool.oracle.poller import SAMPLE_COLUMNS, PollResult
from cocoon_pool.scale import MAX_PARTICIPANTS, ScaleConfig
from cocoon_pool.simulate import SimulationConfig

MAGIC = bytes.fromhex("b5ee9c72")


def test_boc_content_key_refuses_what_is_not_an_account_layout() -> None:
    assert _boc_content_key(b"") is None
    assert _boc_content_key(bytes(16)) is None  # no BOC magic
    # one plain cell: there is no second (Account) cell to read
    single = begin_cell().store_uint(5, 8).end_cell().to_boc()
    assert single[:4] == MAGIC
    assert _boc_content_key(single) is None
    # flags 0x01 (1-byte indices), 1-byte offsets, 1 cell, 1 root, 0 absent, 2 bytes of
    # cells, root 0; the cell's descriptor marks it exotic
    exotic = MAGIC + bytes([0x01, 0x01, 1, 1, 0, 2, 0]) + bytes([0x08, 0x00])
    assert _boc_content_key(exotic) is None


def test_same_content_shortcut_and_a_cell_without_references() -> None:
    empty = cell_to_b64(begin_cell().end_cell())
    assert same_content(empty, empty) is True
    assert _content_hashes(empty) == ()
    other = cell_to_b64(begin_cell().store_uint(1, 1).end_cell())
    assert same_content(empty, other) is True  # neither has code or data to differ in


def test_no_inbound_message_reads_as_none() -> None:
    assert _in_message(None) is None


@pytest.mark.parametrize(
    ("config", "message", "hint"),
    [
        (
            ScaleConfig(participants=0),
            f"--participants must be between 1 and {MAX_PARTICIPANTS:,}",
            "the pool's per-member cost does not depend on N; 100,000 is the target",
        ),
        (
            ScaleConfig(participants=1, epochs=53),
            "--epochs must be between 1 and 52",
            "1 is a full cycle",
        ),
        (
            ScaleConfig(participants=1, batch=10_001),
            "--batch must be between 1 and 10,000",
            "the default is fine",
        ),
        (
            ScaleConfig(participants=1, check_every=-1),
            "--check-every must be >= 0",
            "0 checks at phase ends only",
        ),
    ],
)
def test_scale_config_refusals(config: ScaleConfig, message: str, hint: str) -> None:
    with pytest.raises(UsageError) as info:
        config.validate()
    assert (info.value.message, info.value.hint) == (message, hint)


def test_simulation_refuses_a_negative_min_payout() -> None:
    with pytest.raises(UsageError) as info:
        SimulationConfig(participants=1, epochs=1, min_payout=-1).validate()
    assert (info.value.message, info.value.hint) == ("min_payout must be >= 0, got -1", "nanotons")


def test_devnet_stack_of_builders_addresses_and_nested_tuples() -> None:
    cell = begin_cell().store_uint(9, 4).end_cell()
    address = Address("0:" + "22" * 32)
    address_boc = cell_to_b64(Builder().store_address(address).end_cell())
    assert _stack_out(begin_cell().store_uint(9, 4)) == ["cell", {"bytes": cell_to_b64(cell)}]
    assert _stack_out(address) == ["slice", {"bytes": address_boc}]
    assert _stack_out([None, cell, cell.begin_parse(), [-1]]) == [
        "tuple",
        {
            "elements": [
                {"@type": "tvm.stackEntryNull"},
                {"@type": "tvm.stackEntryCell", "cell": {"bytes": cell_to_b64(cell)}},
                {"@type": "tvm.stackEntrySlice", "slice": {"bytes": cell_to_b64(cell)}},
                {
                    "@type": "tvm.stackEntryTuple",
                    "tuple": {
                        "elements": [{"@type": "tvm.stackEntryNumber", "number": {"number": "-1"}}]
                    },
                },
            ]
        },
    ]


def test_a_failed_poll_becomes_a_sample_row() -> None:
    member = MemberConfig(address="0:" + "33" * 32, stats_url="http://127.0.0.1:9/stats")
    result = PollResult(member=member, taken_at=1_700_000_000, ok=False, reason="down")
    values = result.row_values(poll_id=4)
    assert list(values) == ["poll_id", *SAMPLE_COLUMNS]
    assert values["poll_id"] == 4 and values["member"] == member.address
    assert (values["ok"], values["reason"], values["gpu_model"]) == (False, "down", None)
    row = result.to_row(4)
    assert isinstance(row, Sample)
    assert (row.poll_id, row.member, row.taken_at, row.ok, row.reason) == (
        4,
        member.address,
        1_700_000_000,
        False,
        "down",
    )
    assert row.throughput_mtps is None
