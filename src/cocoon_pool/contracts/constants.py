"""Constants read from the Tolk sources, so Python never restates a contract's numbers."""

from __future__ import annotations

import re
from decimal import Decimal
from functools import cache

from cocoon_pool.contracts.build import contracts_dir

NANO = 10**9
_CONST = re.compile(r'^const ([A-Z][A-Z0-9_]*) = (?:ton\("([0-9.]+)"\)|(\d+))\s*$', re.MULTILINE)
_ENUM = re.compile(r"^enum (\w+)(?:\s*:\s*\w+)?\s*\{(.*?)^\}", re.MULTILINE | re.DOTALL)
_ENUM_MEMBER = re.compile(r"^\s*([A-Z]\w*)\s*=\s*(\d+)\s*,?\s*(?://.*)?$", re.MULTILINE)


def ton(amount: str | int | Decimal) -> int:
    """Nanotons from a TON amount given as text (``"0.05"``), int or Decimal; exact."""
    value = Decimal(str(amount)) * NANO
    if value != value.to_integral_value():
        raise ValueError(f"{amount} TON is not a whole number of nanotons")
    return int(value)


@cache
def tolk_constants(file_name: str) -> dict[str, int]:
    """Every ``const NAME = <int>`` or ``const NAME = ton("...")`` in contracts/<file_name>."""
    text = (contracts_dir() / file_name).read_text()
    out: dict[str, int] = {}
    for name, ton_text, int_text in _CONST.findall(text):
        out[name] = ton(ton_text) if ton_text else int(int_text)
    return out


@cache
def tolk_enums(file_name: str) -> dict[str, dict[str, int]]:
    """Every ``enum Name { Member = <int> ... }`` in contracts/<file_name> (values written out)."""
    text = (contracts_dir() / file_name).read_text()
    return {
        name: {member: int(value) for member, value in _ENUM_MEMBER.findall(body)}
        for name, body in _ENUM.findall(text)
    }


def upper_snake(camel: str) -> str:
    """``StakeBelowMinimum`` -> ``STAKE_BELOW_MINIMUM``: a Tolk enum member's Python name."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).upper()


def fee(name: str) -> int:
    """A figure from contracts/fees.tolk in nanotons, e.g. ``fee("REGISTER_FEE")``."""
    return tolk_constants("fees.tolk")[name]
