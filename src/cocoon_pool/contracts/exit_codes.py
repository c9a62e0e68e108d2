"""Exit codes of the pool contracts, read from contracts/errors.tolk (the single source).

Each contract has an error enum there; ``RegistryError.StakeBelowMinimum = 205`` is
``ERR_STAKE_BELOW_MINIMUM`` here.
"""

from __future__ import annotations

from cocoon_pool.contracts.constants import tolk_enums, upper_snake

# Codes the TVM itself raises, worth naming in messages to users.
TVM_EXIT_CODES = {
    5: "integer out of range",
    7: "type check error",
    8: "cell overflow",
    9: "cell underflow (malformed message body)",
    13: "out of gas",
    37: "not enough TON for the outgoing messages",
}


def exit_codes() -> dict[str, int]:
    """``ERR_<NAME>`` -> code for every member of the error enums in contracts/errors.tolk."""
    return {
        f"ERR_{upper_snake(member)}": value
        for members in tolk_enums("errors.tolk").values()
        for member, value in members.items()
    }


def code(name: str) -> int:
    """The exit code of ``ERR_<name>`` (``name`` may be given with or without the prefix)."""
    key = name if name.startswith("ERR_") else f"ERR_{name}"
    return exit_codes()[key]


def describe(exit_code: int) -> str:
    """A readable name for an exit code, e.g. ``STAKE_BELOW_MINIMUM (205)``."""
    for name, value in exit_codes().items():
        if value == exit_code:
            return f"{name.removeprefix('ERR_')} ({exit_code})"
    if exit_code in TVM_EXIT_CODES:
        return f"{TVM_EXIT_CODES[exit_code]} ({exit_code})"
    return f"exit code {exit_code}"
