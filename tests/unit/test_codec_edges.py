"""Edge cases of the TL-B codec, the message builders, the keeper's log formats, the
stop-signal helper, transfer links and the oracle's database URLs: every refusal names the
field and its bound, nothing is half-written."""

from __future__ import annotations

import io
import json
import logging
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ton_core import Address, begin_cell

from cocoon_pool.chain.messages import internal_message, wallet_body
from cocoon_pool.contracts import messages as m
from cocoon_pool.contracts.codec import (
    Addr,
    Bits,
    Coins,
    DecodeError,
    FieldType,
    Inline,
    Int,
    TlbStruct,
    Uint,
    addresses_equal,
    tl,
    u,
)
from cocoon_pool.errors import CocoonPoolError, UsageError
from cocoon_pool.keeper import logs
from cocoon_pool.member_links import parse_transfer_link
from cocoon_pool.oracle.db import resolve_database_url
from cocoon_pool.oracle.errors import OracleConfigError
from cocoon_pool.signals import on_stop_signals

A = Address("0:" + "11" * 32)


@dataclass(frozen=True)
class Point(TlbStruct):
    PREFIX = 0x1234ABCD
    x: int = u(8)
    y: int = tl(Int(8))


@dataclass(frozen=True)
class Holder(TlbStruct):
    point: Point | None = tl(Inline(Point))
    owner: Address | None = tl(Addr())
    key: bytes = tl(Bits(16))
    amount: int = tl(Coins())


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        (Uint(8), 256, "256 does not fit uint8"),
        (Uint(8), -1, "-1 does not fit uint8"),
        (Int(8), 128, "128 does not fit int8"),
        (Int(8), -129, "-129 does not fit int8"),
        (Coins(), 1 << 120, "is not a valid coins amount"),
        (Coins(), -1, "is not a valid coins amount"),
        (Addr(), None, "address is required"),
        (Bits(16), b"\x00", "expected 2 bytes, got 1"),
    ],
)
def test_a_value_outside_its_field_type_is_refused(
    kind: FieldType, value: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        kind.store(begin_cell(), value)


def test_the_base_field_type_has_no_encoding() -> None:
    with pytest.raises(NotImplementedError):
        FieldType().store(begin_cell(), 0)
    with pytest.raises(NotImplementedError):
        FieldType().load(begin_cell().end_cell().begin_parse())


def test_a_struct_names_the_field_that_does_not_fit() -> None:
    with pytest.raises(CocoonPoolError, match=r"Point\.x: 300 does not fit uint8") as caught:
        Point(x=300, y=0).to_cell()
    assert "contracts/messages.tolk" in caught.value.hint


def test_structs_round_trip_with_and_without_the_optional_part() -> None:
    full = Holder(point=Point(x=7, y=-3), owner=A, key=b"\x01\x02", amount=10**9)
    assert Holder.from_cell(full.to_cell()) == full
    empty = Holder(point=None, owner=A, key=b"\x00\x00", amount=0)
    assert Holder.from_cell(empty.to_cell()) == empty
    assert Point.matches(Point(x=1, y=1).to_cell())
    assert not Point.matches(begin_cell().store_uint(1, 8).end_cell())  # too short for a prefix


def test_a_wrong_prefix_or_a_missing_address_does_not_decode() -> None:
    other = begin_cell().store_uint(0xDEADBEEF, 32).store_uint(1, 8).store_int(1, 8).end_cell()
    with pytest.raises(DecodeError, match=r"prefix 0xdeadbeef, expected 0x1234abcd"):
        Point.from_cell(other)
    no_owner = (
        begin_cell()
        .store_bit(0)
        .store_address(None)
        .store_bytes(b"\x00\x00")
        .store_coins(0)
        .end_cell()
    )
    with pytest.raises(DecodeError, match="expected an internal address, found none"):
        Holder.from_cell(no_owner)


def test_addresses_compare_by_workchain_and_hash() -> None:
    assert addresses_equal(A, Address(A.to_str()))
    assert addresses_equal(None, None)
    assert not addresses_equal(A, None) and not addresses_equal(None, A)
    assert not addresses_equal(A, Address("-1:" + "11" * 32))


def test_message_builders_refuse_what_the_chain_would_refuse() -> None:
    with pytest.raises(ValueError, match="must be >= 0"):
        internal_message(dest=A, value=-1)
    cell = begin_cell().end_cell()
    with pytest.raises(ValueError, match=r"1\.\.4 messages"):
        wallet_body([])
    with pytest.raises(ValueError, match=r"1\.\.4 messages"):
        wallet_body([(cell, 3)] * 5)
    assert wallet_body([(cell, 3)] * 4).refs == [cell] * 4


def keeper_record(exc: bool = False) -> logging.LogRecord:
    record = logging.makeLogRecord(
        {"name": logs.LOGGER_NAME, "levelname": "WARNING", "msg": "step %s", "args": (3,)}
    )
    record.__dict__.update(event="step", epoch=5)
    if exc:
        try:
            raise RuntimeError("chain went away")
        except RuntimeError:
            record.exc_info = sys.exc_info()
    return record


def test_json_log_lines_carry_the_fields_and_the_exception() -> None:
    data = json.loads(logs.JsonFormatter().format(keeper_record(exc=True)))
    assert data["level"] == "warning" and data["msg"] == "step 3"
    assert (data["event"], data["epoch"]) == ("step", 5)
    assert "RuntimeError: chain went away" in data["exc"]


def test_text_log_lines_are_stamp_level_message_and_pairs() -> None:
    line = logs.TextFormatter().format(keeper_record())
    stamp, level, rest = line.split(" ", 2)
    assert stamp.endswith("Z") and level == "warning"
    assert rest.strip() == "step 3 event=step epoch=5"
    bare = logging.makeLogRecord({"levelname": "INFO", "msg": "plain"})
    assert logs.TextFormatter().format(bare).endswith("info    plain")


def test_configure_replaces_the_handler_and_writes_the_chosen_format() -> None:
    stream = io.StringIO()
    logs.configure(json_lines=False, stream=io.StringIO())
    logs.configure(json_lines=True, stream=stream)
    logger = logging.getLogger(logs.LOGGER_NAME)
    try:
        assert len(logger.handlers) == 1
        logger.info("hello", extra={"event": "test"})
        assert json.loads(stream.getvalue())["event"] == "test"
    finally:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)


def test_stop_signals_are_only_installed_from_the_main_thread() -> None:
    before = signal.getsignal(signal.SIGTERM)
    seen: list[object] = []

    def in_thread() -> None:
        with on_stop_signals(lambda signum: None):
            seen.append(signal.getsignal(signal.SIGTERM))

    worker = threading.Thread(target=in_thread)
    worker.start()
    worker.join()
    assert seen == [before]  # a worker thread leaves the process's handlers alone
    with on_stop_signals(lambda signum: None):
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before


def test_relative_oracle_sqlite_paths_follow_the_config_file(tmp_path: Path) -> None:
    base = tmp_path
    assert resolve_database_url("sqlite:///oracle.db", base) == f"sqlite:///{base / 'oracle.db'}"
    for kept in ("sqlite:////var/oracle.db", "sqlite://", "postgresql://u@h/db"):
        assert resolve_database_url(kept, base) == kept
    with pytest.raises(OracleConfigError, match="is not a database URL"):
        resolve_database_url("not a url", base)


def test_a_malformed_transfer_link_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="not a transfer link with amount and bin"):
        parse_transfer_link("ton://transfer/nowhere?amount=x")


def test_a_joining_binding_needs_its_worker() -> None:
    """``WorkerBinding.joining`` is what ``Pool.register`` and the member link both carry."""
    worker, node = Address(f"0:{1:064x}"), Address(f"0:{2:064x}")
    assert m.WorkerBinding.joining(None, None) is None
    assert m.WorkerBinding.joining(worker, None) == m.WorkerBinding(worker=worker)
    assert m.WorkerBinding.joining(worker, node) == m.WorkerBinding(worker=worker, node_wallet=node)
    with pytest.raises(ValueError, match="bound together with its worker"):
        m.WorkerBinding.joining(None, node)
