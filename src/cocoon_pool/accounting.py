"""The conservation check of DESIGN.md §3, on chain balances, to the nanoton.

    received == commission + paid + pending + reserve + fees

* ``received``: every nanoton of income that reached RewardDistribution (Cocoon payouts,
  excesses, comments, plain transfers, and any value a failed non-bounceable message left).
* ``commission``, ``paid``, ``reserve``: the contract's own cumulative counters.
* ``pending``: owed but not yet sent — unsettled epoch pots, credited amounts below the
  minimum payout, and income not yet reconciled into an epoch (negative if storage fees
  have dented the storage floor since the last reconciliation).
* ``fees``: what the contract paid out of pool money: storage fees of every transaction
  and the gas of income transactions. Operations are paid from the caller's value, so
  their gas is not here.

The income side comes from the emulator's transaction records, the rest from get-methods,
so the equation checks the contract's bookkeeping against what really moved.
"""

from __future__ import annotations

from dataclasses import dataclass

from ton_core import Address

from cocoon_pool.chain.emulator import EmulatedChain
from cocoon_pool.chain.types import Transaction, raw_address
from cocoon_pool.contracts.messages import CocoonExcesses, CocoonPayout
from cocoon_pool.contracts.views import Ledger

INCOME_OPS = frozenset({0, CocoonPayout.PREFIX, CocoonExcesses.PREFIX})


def is_income(tx: Transaction) -> bool:
    """Whether a RewardDistribution transaction took in pool income."""
    msg = tx.in_message
    if msg is None or msg.kind != "internal" or msg.bounced:
        return False
    if msg.op is None or msg.op in INCOME_OPS:
        return True
    # A message the contract refused leaves its value behind unless a bounce really went
    # out: non-bounceable, or bounceable with too little left to pay the bounce's fee.
    return not tx.success and not tx.internal_out


@dataclass(frozen=True)
class Conservation:
    received: int
    commission: int
    paid: int
    owed: int
    """Unsettled epoch pots plus amounts credited below the minimum payout."""
    open_income: int
    """Income not yet reconciled into an epoch (negative while storage dents the floor)."""
    reserve: int
    fees: int

    @property
    def pending(self) -> int:
        return self.owed + self.open_income

    @property
    def accounted(self) -> int:
        return self.commission + self.paid + self.pending + self.reserve + self.fees

    @property
    def conserved(self) -> bool:
        return self.received == self.accounted

    def as_dict(self) -> dict[str, int | bool]:
        return {
            "received_nanoton": self.received,
            "commission_nanoton": self.commission,
            "paid_nanoton": self.paid,
            "pending_nanoton": self.pending,
            "reserve_nanoton": self.reserve,
            "fees_nanoton": self.fees,
            "conserved": self.conserved,
        }


class IncomeTracker:
    """Follows a chain's transactions on the distribution contract, incrementally."""

    def __init__(self, chain: EmulatedChain, distribution: Address) -> None:
        self.chain = chain
        self.distribution_raw = raw_address(distribution)
        self.received = 0
        self.fees = 0
        self._seen = 0

    def fork(self, chain: EmulatedChain) -> IncomeTracker:
        """This tracker's totals, following ``chain`` (a fork of the one it follows)."""
        other = IncomeTracker(chain, Address(self.distribution_raw))
        other.received, other.fees, other._seen = self.received, self.fees, self._seen
        return other

    def update(self) -> None:
        history = self.chain.transactions
        for tx in history[self._seen :]:
            if tx.address_raw != self.distribution_raw:
                continue
            if is_income(tx):
                self.received += tx.in_message.value if tx.in_message else 0
                self.fees += tx.total_fees
            else:
                self.fees += tx.storage_fees
        self._seen = len(history)

    def check(self, ledger: Ledger) -> Conservation:
        self.update()
        return Conservation(
            received=self.received,
            commission=ledger.commission,
            paid=ledger.paid,
            owed=ledger.unsettled + ledger.pending_credit,
            open_income=ledger.open_income,
            reserve=ledger.reserve,
            fees=self.fees,
        )
