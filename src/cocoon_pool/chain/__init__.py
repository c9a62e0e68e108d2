"""The embedded emulated TON chain (real TVM through a Node helper; state in Python)."""

from __future__ import annotations

from cocoon_pool.chain.emulator import DEFAULT_NOW, LT_ALIGN, EmulatedChain, Wallet
from cocoon_pool.chain.messages import contract_address, external_in_message, internal_message
from cocoon_pool.chain.node import NodeBridge, get_bridge
from cocoon_pool.chain.types import (
    AccountState,
    ExternalMessageRejected,
    GetResult,
    InMessage,
    OutMessage,
    StackValue,
    Trace,
    Transaction,
    raw_address,
)

__all__ = [
    "DEFAULT_NOW",
    "LT_ALIGN",
    "AccountState",
    "EmulatedChain",
    "ExternalMessageRejected",
    "GetResult",
    "InMessage",
    "NodeBridge",
    "OutMessage",
    "StackValue",
    "Trace",
    "Transaction",
    "Wallet",
    "contract_address",
    "external_in_message",
    "get_bridge",
    "internal_message",
    "raw_address",
]
