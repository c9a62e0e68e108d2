"""Get-method stack values to and from the Node helper's JSON (``chain.emulator``): the kinds
no pool getter takes or returns (null, bool, builder, NaN) and the ones it refuses."""

from __future__ import annotations

import pytest
from ton_core import Builder, begin_cell

from cocoon_pool.chain.emulator import _stack_from_json, _stack_to_json
from cocoon_pool.chain.types import cell_to_b64
from cocoon_pool.errors import GetMethodError


def test_null_bool_and_builder_go_on_the_stack() -> None:
    assert _stack_to_json(None) == {"type": "null"}
    assert _stack_to_json(True) == {"type": "int", "value": "-1"}
    assert _stack_to_json(False) == {"type": "int", "value": "0"}
    builder = begin_cell().store_uint(0xABC, 12)
    cell = begin_cell().store_uint(0xABC, 12).end_cell()
    assert _stack_to_json(builder) == {"type": "builder", "boc": cell_to_b64(cell)}
    assert _stack_to_json([None, [1, False]]) == {
        "type": "tuple",
        "items": [
            {"type": "null"},
            {
                "type": "tuple",
                "items": [{"type": "int", "value": "1"}, {"type": "int", "value": "0"}],
            },
        ],
    }


def test_a_value_of_no_stack_kind_is_refused() -> None:
    with pytest.raises(TypeError, match=r"^cannot put float on a TVM stack$"):
        _stack_to_json(1.5)  # type: ignore[arg-type]


def test_builder_nan_and_unknown_kinds_come_back() -> None:
    cell = begin_cell().store_uint(7, 3).end_cell()
    back = _stack_from_json({"type": "builder", "boc": cell_to_b64(cell)})
    assert isinstance(back, Builder) and back.end_cell() == cell
    assert _stack_from_json({"type": "null"}) is None
    with pytest.raises(GetMethodError) as info:
        _stack_from_json({"type": "nan"})
    assert info.value.message == "a get-method returned NaN"
    assert info.value.hint == "the method overflowed an integer"
    with pytest.raises(GetMethodError) as info:
        _stack_from_json({"type": "continuation"})
    assert info.value.message == "unknown stack item type continuation"
    assert info.value.hint == ""
