"""Exit codes of the pool contracts, read from contracts/errors.tolk (the single source)."""

from __future__ import annotations

from cocoon_pool.contracts.constants import tolk_constants

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
    """Name -> code for every ``const ERR_...`` in contracts/errors.tolk."""
    return {k: v for k, v in tolk_constants("errors.tolk").items() if k.startswith("ERR_")}


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
