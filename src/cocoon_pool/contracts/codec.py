"""Declarative TL-B layouts matching Tolk's struct serialization.

Each message or storage struct is a frozen dataclass whose fields carry their Tolk type in
the field metadata; :class:`TlbStruct` turns that into ``to_cell()`` / ``from_cell()``. The
prefix (opcode) is a class attribute, as in Tolk where the struct prefix is the only place
an opcode is written.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from ton_core import Address, Builder, Cell, Slice, begin_cell

from cocoon_pool.errors import CocoonPoolError


class DecodeError(CocoonPoolError):
    """A cell does not hold the struct it was parsed as."""


class FieldType:
    """How one Tolk field type is written to and read from a cell."""

    def store(self, b: Builder, value: Any) -> None:
        raise NotImplementedError

    def load(self, s: Slice) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class Uint(FieldType):
    bits: int

    def store(self, b: Builder, value: Any) -> None:
        if not 0 <= int(value) < (1 << self.bits):
            raise ValueError(f"{value} does not fit uint{self.bits}")
        b.store_uint(int(value), self.bits)

    def load(self, s: Slice) -> Any:
        return s.load_uint(self.bits)


@dataclass(frozen=True)
class Int(FieldType):
    bits: int

    def store(self, b: Builder, value: Any) -> None:
        if not -(1 << (self.bits - 1)) <= int(value) < (1 << (self.bits - 1)):
            raise ValueError(f"{value} does not fit int{self.bits}")
        b.store_int(int(value), self.bits)

    def load(self, s: Slice) -> Any:
        return s.load_int(self.bits)


@dataclass(frozen=True)
class Bool(FieldType):
    def store(self, b: Builder, value: Any) -> None:
        b.store_bit(1 if value else 0)

    def load(self, s: Slice) -> Any:
        return bool(s.load_bit())


@dataclass(frozen=True)
class Coins(FieldType):
    def store(self, b: Builder, value: Any) -> None:
        if not 0 <= int(value) < (1 << 120):
            raise ValueError(f"{value} is not a valid coins amount")
        b.store_coins(int(value))

    def load(self, s: Slice) -> Any:
        return s.load_coins()


@dataclass(frozen=True)
class Addr(FieldType):
    """``address`` (internal, 267 bits); with ``optional`` it is Tolk's ``address?``."""

    optional: bool = False

    def store(self, b: Builder, value: Any) -> None:
        if value is None and not self.optional:
            raise ValueError("address is required")
        b.store_address(value)

    def load(self, s: Slice) -> Any:
        value = s.load_address()
        if value is None and not self.optional:
            raise DecodeError("expected an internal address, found none")
        return value


@dataclass(frozen=True)
class Bits(FieldType):
    bits: int

    def store(self, b: Builder, value: Any) -> None:
        data = bytes(value)
        if len(data) * 8 != self.bits:
            raise ValueError(f"expected {self.bits // 8} bytes, got {len(data)}")
        b.store_bytes(data)

    def load(self, s: Slice) -> Any:
        return s.load_bytes(self.bits // 8)


@dataclass(frozen=True)
class RawCell(FieldType):
    """``cell`` (a ref); with ``optional`` it is ``cell?`` (Maybe ^Cell)."""

    optional: bool = False

    def store(self, b: Builder, value: Any) -> None:
        if self.optional:
            b.store_maybe_ref(value)
        else:
            b.store_ref(value)

    def load(self, s: Slice) -> Any:
        return s.load_maybe_ref() if self.optional else s.load_ref()


@dataclass(frozen=True)
class Ref(FieldType):
    """``Cell<T>`` (or ``Cell<T>?``): a struct stored in its own cell."""

    struct: type[TlbStruct]
    optional: bool = False

    def store(self, b: Builder, value: Any) -> None:
        if self.optional:
            b.store_maybe_ref(None if value is None else value.to_cell())
        else:
            b.store_ref(value.to_cell())

    def load(self, s: Slice) -> Any:
        cell = s.load_maybe_ref() if self.optional else s.load_ref()
        return None if cell is None else self.struct.from_cell(cell)


@dataclass(frozen=True)
class Nested(FieldType):
    """A struct field ``T`` (not nullable): its fields in place, no presence bit."""

    struct: type[TlbStruct]

    def store(self, b: Builder, value: Any) -> None:
        value.store(b)

    def load(self, s: Slice) -> Any:
        return self.struct.load(s)


@dataclass(frozen=True)
class Inline(FieldType):
    """``T?`` for a struct ``T`` stored in place: one presence bit, then its fields."""

    struct: type[TlbStruct]

    def store(self, b: Builder, value: Any) -> None:
        b.store_bit(0 if value is None else 1)
        if value is not None:
            value.store(b)

    def load(self, s: Slice) -> Any:
        return self.struct.load(s) if s.load_bit() else None


@dataclass(frozen=True)
class InlineOrRef(FieldType):
    """``Either X ^X``: a message body, in place (bit 0) or in a ref (bit 1)."""

    struct: type[TlbStruct]
    in_ref: bool = False

    def store(self, b: Builder, value: Any) -> None:
        b.store_bit(1 if self.in_ref else 0)
        if self.in_ref:
            b.store_ref(value.to_cell())
        else:
            value.store(b)

    def load(self, s: Slice) -> Any:
        return self.struct.from_cell(s.load_ref()) if s.load_bit() else self.struct.load(s)


@dataclass(frozen=True)
class EmptyDict(FieldType):
    """``map<K, V>`` that Python only ever writes empty (initial data) and reads as a cell."""

    def store(self, b: Builder, value: Any) -> None:
        b.store_maybe_ref(value)

    def load(self, s: Slice) -> Any:
        return s.load_maybe_ref()


def tl(kind: FieldType, default: Any = dataclasses.MISSING) -> Any:
    """A dataclass field with its Tolk type."""
    if default is dataclasses.MISSING:
        return field(metadata={"tl": kind})
    return field(default=default, metadata={"tl": kind})


def u(bits: int, default: Any = dataclasses.MISSING) -> Any:
    return tl(Uint(bits), default)


def coins(default: Any = dataclasses.MISSING) -> Any:
    return tl(Coins(), default)


def addr(default: Any = dataclasses.MISSING) -> Any:
    return tl(Addr(), default)


def opt_addr(default: Any = dataclasses.MISSING) -> Any:
    return tl(Addr(optional=True), default)


def boolean(default: Any = dataclasses.MISSING) -> Any:
    return tl(Bool(), default)


@dataclass(frozen=True)
class TlbStruct:
    """Base of every struct mirrored from contracts/*.tolk."""

    PREFIX: ClassVar[int | None] = None
    PREFIX_BITS: ClassVar[int] = 32

    def store(self, b: Builder) -> Builder:
        if self.PREFIX is not None:
            b.store_uint(self.PREFIX, self.PREFIX_BITS)
        for f in dataclasses.fields(self):
            kind: FieldType = f.metadata["tl"]
            try:
                kind.store(b, getattr(self, f.name))
            except (ValueError, TypeError) as exc:
                raise CocoonPoolError(
                    f"{type(self).__name__}.{f.name}: {exc}",
                    hint="check the value against the field's type in contracts/messages.tolk",
                ) from exc
        return b

    def to_cell(self) -> Cell:
        return self.store(begin_cell()).end_cell()

    @classmethod
    def load(cls, s: Slice) -> Self:
        if cls.PREFIX is not None:
            found = s.load_uint(cls.PREFIX_BITS)
            if found != cls.PREFIX:
                raise DecodeError(
                    f"{cls.__name__}: prefix {found:#x}, expected {cls.PREFIX:#x}",
                    hint="the cell holds a different message",
                )
        values = {f.name: f.metadata["tl"].load(s) for f in dataclasses.fields(cls)}
        return cls(**values)

    @classmethod
    def from_cell(cls, cell: Cell) -> Self:
        return cls.load(cell.begin_parse())

    @classmethod
    def matches(cls, cell: Cell) -> bool:
        s = cell.begin_parse()
        return (
            cls.PREFIX is not None
            and s.remaining_bits >= cls.PREFIX_BITS
            and (s.preload_uint(cls.PREFIX_BITS) == cls.PREFIX)
        )


def addresses_equal(a: Address | None, b: Address | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.wc == b.wc and a.hash_part == b.hash_part
