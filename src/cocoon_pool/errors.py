"""The one exception family of the package.

Every error carries a ``hint``: one sentence telling the user how to fix it. The CLI prints
``message`` and ``hint`` and never a traceback.
"""

from __future__ import annotations


class CocoonPoolError(Exception):
    """Base class of every error this package raises on purpose."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message


class ToolchainError(CocoonPoolError):
    """Node, the Tolk compiler or the TVM emulator could not be started or failed."""


class CompileError(CocoonPoolError):
    """A Tolk source did not compile."""


class ChainError(CocoonPoolError):
    """The emulated chain was asked to do something impossible (unknown account, bad time)."""


class TransactionFailed(CocoonPoolError):
    """A transaction the caller expected to succeed did not."""


class GetMethodError(CocoonPoolError):
    """A get-method threw or does not exist."""


class EconomicsError(CocoonPoolError):
    """Inputs to the reward model are outside the documented bounds."""


class UsageError(CocoonPoolError):
    """Bad command-line or API arguments."""
