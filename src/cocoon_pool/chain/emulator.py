"""An embedded emulated TON chain: real TVM (``@ton/sandbox`` Executor), state in Python.

Mirrors ``@ton/sandbox``'s ``Blockchain``: logical time advances by 1,000,000 before every
transaction, the random seed is 32 zero bytes unless set, the message queue is FIFO (children of
a transaction are appended in the order the TVM created them), external-out messages are
collected as events and never delivered.
"""

from __future__ import annotations

import base64
import hashlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ton_core import Address, Builder, Cell, HashMap, Slice, begin_cell

from cocoon_pool.chain.messages import (
    contract_address,
    external_in_message,
    internal_message,
    wallet_body,
)
from cocoon_pool.chain.node import NodeBridge, get_bridge
from cocoon_pool.chain.protocol import SendingWallet, deploy_from
from cocoon_pool.chain.types import (
    AccountState,
    AddressLike,
    ExternalMessageRejected,
    GetResult,
    InMessage,
    OutMessage,
    StackValue,
    Trace,
    Transaction,
    cell_from_b64,
    cell_to_b64,
    raw_address,
)
from cocoon_pool.errors import ChainError, GetMethodError

DEFAULT_NOW = 1_800_000_000
LT_ALIGN = 1_000_000
MAX_TRACE_TRANSACTIONS = 10_000
WALLET_SOURCE = Path(__file__).with_name("wallet.tolk")


@dataclass
class _Account:
    shard_account: str
    balance: int


def _addr(a: AddressLike) -> Address:
    return a if isinstance(a, Address) else Address(a)


def _opt_address(raw: str | None) -> Address | None:
    if raw is None or (not raw[:1].isdigit() and not raw.startswith("-")):
        return None
    return Address(raw)


def _in_message(d: dict[str, Any] | None) -> InMessage | None:
    if d is None:
        return None
    return InMessage(
        kind=d["kind"],
        src=_opt_address(d["src"]),
        value=int(d["value"]) if d["value"] is not None else 0,
        bounce=bool(d["bounce"]),
        bounced=bool(d["bounced"]),
        op=d["op"],
        body_boc=d["bodyBoc"],
        created_lt=int(d["createdLt"]) if d["createdLt"] is not None else 0,
    )


def _out_message(d: dict[str, Any]) -> OutMessage:
    return OutMessage(
        kind=d["kind"],
        src=_opt_address(d["src"]),
        dest_raw=d["dest"],
        value=int(d["value"]) if d["value"] is not None else 0,
        fwd_fee=int(d["fwdFee"]) if d["fwdFee"] is not None else 0,
        bounce=bool(d["bounce"]),
        bounced=bool(d["bounced"]),
        has_state_init=bool(d["hasStateInit"]),
        created_lt=int(d["createdLt"]) if d["createdLt"] is not None else 0,
        op=d["op"],
        boc=d["boc"],
        body_boc=d["bodyBoc"],
    )


def _transaction(address_raw: str, r: dict[str, Any]) -> Transaction:
    return Transaction(
        address_raw=address_raw,
        lt=int(r["lt"]),
        now=int(r["now"]),
        hash=r["hash"],
        in_message=_in_message(r["inMessage"]),
        compute_skipped=r["computeSkipped"],
        compute_success=bool(r["computeSuccess"]),
        exit_code=r["exitCode"],
        gas_used=int(r["gasUsed"]),
        vm_steps=int(r["vmSteps"]),
        aborted=bool(r["aborted"]),
        destroyed=bool(r["destroyed"]),
        action_result_code=r["actionResultCode"],
        total_actions=int(r["totalActions"]),
        total_fees=int(r["totalFees"]),
        storage_fees=int(r["storageFees"]),
        compute_fees=int(r["computeFees"]),
        action_fees=int(r["actionFees"]),
        fwd_fees=int(r["fwdFees"]),
        bounced=bool(r["bounced"]),
        orig_status=r["origStatus"],
        end_status=r["endStatus"],
        balance_after=int(r["balance"]),
        out_messages=tuple(_out_message(m) for m in r["outMessages"]),
        boc=r["transactionBoc"],
        vm_log=r.get("vmLog"),
        debug_log=r.get("debugLogs"),
    )


def _stack_to_json(value: StackValue | bool) -> dict[str, Any]:
    if value is None:
        return {"type": "null"}
    if isinstance(value, bool):
        return {"type": "int", "value": "-1" if value else "0"}
    if isinstance(value, int):
        return {"type": "int", "value": str(value)}
    if isinstance(value, Address):
        return {"type": "slice", "boc": cell_to_b64(begin_cell().store_address(value).end_cell())}
    if isinstance(value, Cell):
        return {"type": "cell", "boc": cell_to_b64(value)}
    if isinstance(value, Slice):
        return {"type": "slice", "boc": cell_to_b64(value.to_cell())}
    if isinstance(value, Builder):
        return {"type": "builder", "boc": cell_to_b64(value.end_cell())}
    if isinstance(value, list | tuple):
        return {"type": "tuple", "items": [_stack_to_json(v) for v in value]}
    raise TypeError(f"cannot put {type(value).__name__} on a TVM stack")


def _stack_from_json(item: dict[str, Any]) -> StackValue:
    kind = item["type"]
    if kind == "int":
        return int(item["value"])
    if kind == "null":
        return None
    if kind == "cell":
        return cell_from_b64(item["boc"])
    if kind == "slice":
        return cell_from_b64(item["boc"]).begin_parse()
    if kind == "builder":
        return cell_from_b64(item["boc"]).to_builder()
    if kind == "tuple":
        return [_stack_from_json(i) for i in item["items"]]
    if kind == "nan":
        raise GetMethodError("a get-method returned NaN", hint="the method overflowed an integer")
    raise GetMethodError(f"unknown stack item type {kind}")


class Wallet:
    """An emulator-only wallet (no signature): sends whatever it is told to send."""

    def __init__(self, chain: EmulatedChain, name: str, address: Address) -> None:
        self.chain = chain
        self.name = name
        self.address = address

    def __repr__(self) -> str:
        return f"Wallet({self.name!r}, {raw_address(self.address)})"

    @property
    def balance(self) -> int:
        return self.chain.get_balance(self.address)

    def send(
        self,
        to: AddressLike,
        value: int,
        body: Cell | None = None,
        *,
        bounce: bool = True,
        state_init: tuple[Cell, Cell] | None = None,
        mode: int = 3,
    ) -> Trace:
        """Send one internal message from this wallet and run the whole resulting trace."""
        msg = internal_message(
            dest=_addr(to), value=value, body=body, bounce=bounce, state_init=state_init
        )
        return self.send_raw([(msg, mode)])

    def send_raw(self, messages: list[tuple[Cell, int]]) -> Trace:
        """Send 1..4 prepared message cells (with their send modes) in one transaction."""
        return self.chain.send_external(self.address, wallet_body(messages))


_GLOBAL_IDS: dict[int, int] = {}


def _config_global_id(bridge: NodeBridge) -> int:
    if id(bridge) not in _GLOBAL_IDS:
        config = Cell.one_from_boc(base64.b64decode(bridge.request("config")["configBoc"]))
        params = HashMap.parse(config.begin_parse(), 32, value_deserializer=lambda s: s.load_ref())
        if not params or 19 not in params:
            raise ChainError("the emulator's config has no global id (param 19)")
        _GLOBAL_IDS[id(bridge)] = params[19].begin_parse().load_int(32)
    return _GLOBAL_IDS[id(bridge)]


class EmulatedChain:
    """Accounts, time, logical time and transaction history; transactions run in the real TVM."""

    def __init__(
        self,
        *,
        now: int = DEFAULT_NOW,
        random_seed: bytes = bytes(32),
        bridge: NodeBridge | None = None,
        verbosity: str = "short",
        debug: bool = False,
        max_trace_transactions: int = MAX_TRACE_TRANSACTIONS,
    ) -> None:
        """``verbosity``: TVM log level per transaction (``"short"`` = none, ``"full"``,
        ``"full_location"``, ``"full_location_gas"``, ``"full_location_stack"``...);
        ``debug``: collect ``debug.print`` output into ``Transaction.debug_log``."""
        if len(random_seed) != 32:
            raise ChainError("random_seed must be 32 bytes")
        self.bridge = bridge if bridge is not None else get_bridge()
        self._now = now
        self.lt = 0
        self.random_seed = random_seed
        self.verbosity = verbosity
        self.debug = debug
        self.max_trace_transactions = max_trace_transactions
        self.accounts: dict[str, _Account] = {}
        self.transactions: list[Transaction] = []
        self.wallets: dict[str, Wallet] = {}
        self._wallet_code: Cell | None = None

    def fork(self) -> EmulatedChain:
        """An independent copy of this chain: state lives here in Python, the TVM is stateless.

        Accounts are replaced, never mutated, after a transaction, so a shallow copy of the
        account table is enough. Tests use it to start many cases from one built pool.
        """
        other = EmulatedChain(
            now=self._now,
            random_seed=self.random_seed,
            bridge=self.bridge,
            verbosity=self.verbosity,
            debug=self.debug,
            max_trace_transactions=self.max_trace_transactions,
        )
        other.lt = self.lt
        other.accounts = dict(self.accounts)
        other.transactions = list(self.transactions)
        other._wallet_code = self._wallet_code
        other.wallets = {name: Wallet(other, name, w.address) for name, w in self.wallets.items()}
        return other

    @property
    def global_id(self) -> int:
        """The network's global id (config param 19) that the contracts read."""
        return _config_global_id(self.bridge)

    # -- time -----------------------------------------------------------------------------

    @property
    def now(self) -> int:
        return self._now

    def set_now(self, t: int) -> None:
        if t < self._now:
            raise ChainError(
                f"time cannot go backwards (now={self._now}, asked {t})",
                hint="use advance() with a non-negative number of seconds",
            )
        self._now = t

    def advance(self, seconds: int) -> int:
        """Move time forward; return the new unix time."""
        self.set_now(self._now + seconds)
        return self._now

    # -- accounts -------------------------------------------------------------------------

    def _shard_account(self, raw: str) -> str:
        acc = self.accounts.get(raw)
        if acc is not None:
            return acc.shard_account
        sa: str = self.bridge.request("emptyAccount", address=raw)["shardAccount"]
        return sa

    def set_account(
        self,
        address: AddressLike,
        code: Cell,
        data: Cell,
        balance: int,
        *,
        last_paid: int | None = None,
    ) -> None:
        """Put an active account with this state on the chain (overwrites what was there).

        ``last_paid``: when it last paid storage (default now); a time long ago leaves it a
        storage debt, which tests use to freeze an account.
        """
        raw = raw_address(address)
        res = self.bridge.request(
            "createAccount",
            address=raw,
            codeBoc=cell_to_b64(code),
            dataBoc=cell_to_b64(data),
            balance=str(balance),
            lastPaid=self._now if last_paid is None else last_paid,
        )
        self.accounts[raw] = _Account(res["shardAccount"], balance)

    def get_balance(self, address: AddressLike) -> int:
        acc = self.accounts.get(raw_address(address))
        return acc.balance if acc is not None else 0

    def get_state(self, address: AddressLike) -> AccountState:
        raw = raw_address(address)
        acc = self.accounts.get(raw)
        if acc is None:
            return AccountState(raw, "nonexist", 0, None, None, 0)
        r = self.bridge.request("parseAccount", shardAccount=acc.shard_account)
        return AccountState(
            address_raw=raw,
            status=r["status"],
            balance=int(r["balance"]),
            code=cell_from_b64(r["codeBoc"]) if r["codeBoc"] else None,
            data=cell_from_b64(r["dataBoc"]) if r["dataBoc"] else None,
            last_paid=int(r["lastPaid"]),
        )

    # -- wallets & deploy -----------------------------------------------------------------

    def wallet_code(self) -> Cell:
        if self._wallet_code is None:
            # imported here: cocoon_pool.contracts.build imports this package
            from cocoon_pool.contracts.build import compile_contract  # noqa: PLC0415

            self._wallet_code = compile_contract(WALLET_SOURCE).code
        return self._wallet_code

    def create_wallet(self, name: str, balance: int) -> Wallet:
        """A funded test wallet whose address depends only on ``name``."""
        if name in self.wallets:
            raise ChainError(f"wallet {name!r} already exists", hint="pick another name")
        code = self.wallet_code()
        data = begin_cell().store_bytes(hashlib.sha256(name.encode()).digest()).end_cell()
        address = contract_address(code, data)
        self.set_account(address, code, data, balance)
        wallet = Wallet(self, name, address)
        self.wallets[name] = wallet
        return wallet

    def deploy(
        self,
        code: Cell,
        data: Cell,
        value: int,
        from_wallet: SendingWallet,
        *,
        body: Cell | None = None,
        bounce: bool = False,
    ) -> tuple[Address, Trace]:
        """Deploy code+data (workchain 0) with a message from ``from_wallet``."""
        return deploy_from(from_wallet, code, data, value, body=body, bounce=bounce)

    # -- messages -------------------------------------------------------------------------

    def send_external(
        self, to: AddressLike, body: Cell | None = None, state_init: tuple[Cell, Cell] | None = None
    ) -> Trace:
        """Inject an external-in message; ExternalMessageRejected if the contract refuses it."""
        dest = _addr(to)
        msg = external_in_message(dest=dest, body=body, state_init=state_init)
        return self._run_trace(raw_address(dest), cell_to_b64(msg))

    def send_internal(
        self,
        src: AddressLike,
        dest: AddressLike,
        value: int,
        body: Cell | None = None,
        *,
        bounce: bool = True,
        bounced: bool = False,
        state_init: tuple[Cell, Cell] | None = None,
    ) -> Trace:
        """Inject an internal message from any address (nobody pays for it: value is minted)."""
        dest_addr = _addr(dest)
        msg = internal_message(
            src=_addr(src),
            dest=dest_addr,
            value=value,
            body=body,
            bounce=bounce,
            bounced=bounced,
            state_init=state_init,
            created_lt=self.lt,
            created_at=self._now,
        )
        return self._run_trace(raw_address(dest_addr), cell_to_b64(msg))

    def send_message(self, message: Cell) -> Trace:
        """Inject a ready message cell (internal or external-in)."""
        s = message.begin_parse()
        if s.load_bit() == 0:  # int_msg_info$0
            s.skip_bits(3)
            s.load_address()
        else:
            if s.load_bit() == 1:
                raise ChainError("cannot inject an external-out message")
            s.load_address()
        dest = s.load_address()
        if not isinstance(dest, Address):
            raise ChainError("message has no internal destination")
        return self._run_trace(raw_address(dest), cell_to_b64(message))

    def _execute(self, dest_raw: str, message_b64: str) -> dict[str, Any]:
        self.lt += LT_ALIGN
        r: dict[str, Any] = self.bridge.request(
            "runTransaction",
            shardAccount=self._shard_account(dest_raw),
            message=message_b64,
            now=self._now,
            lt=str(self.lt),
            randomSeed=self.random_seed.hex(),
            verbosity=self.verbosity,
            debug=self.debug,
        )
        return r

    def _run_trace(self, first_dest: str, first_message: str) -> Trace:
        queue: deque[tuple[str, str]] = deque([(first_dest, first_message)])
        txs: list[Transaction] = []
        while queue:
            if len(txs) >= self.max_trace_transactions:
                raise ChainError(
                    f"trace exceeded {self.max_trace_transactions} transactions",
                    hint="a contract is probably ping-ponging messages forever",
                )
            dest_raw, msg = queue.popleft()
            r = self._execute(dest_raw, msg)
            if r["rejected"]:
                self.lt -= LT_ALIGN
                raise ExternalMessageRejected(
                    f"{dest_raw} rejected the external message: {r['error']}"
                    + (f" (exit code {r['vmExitCode']})" if r["vmExitCode"] is not None else ""),
                    exit_code=r["vmExitCode"],
                    vm_log=r["vmLog"],
                )
            tx = _transaction(dest_raw, r)
            self.accounts[dest_raw] = _Account(r["shardAccount"], tx.balance_after)
            self.transactions.append(tx)
            txs.append(tx)
            for out in tx.out_messages:
                if out.kind == "internal" and out.dest_raw is not None:
                    queue.append((out.dest_raw, out.boc))
        return Trace(tuple(txs))

    # -- get-methods ----------------------------------------------------------------------

    def run_get_method(
        self,
        address: AddressLike,
        method: str | int,
        stack: Sequence[StackValue | bool] = (),
        *,
        check: bool = True,
        verbosity: str | None = None,
    ) -> GetResult:
        """Run a get-method on an active account; GetMethodError on exit code not 0/1."""
        raw = raw_address(address)
        acc = self.accounts.get(raw)
        if acc is None:
            raise GetMethodError(
                f"account {raw} does not exist", hint="deploy the contract before querying it"
            )
        try:
            r = self.bridge.request(
                "runGetMethod",
                shardAccount=acc.shard_account,
                method=method,
                stack=[_stack_to_json(v) for v in stack],
                now=self._now,
                randomSeed=self.random_seed.hex(),
                verbosity=verbosity or self.verbosity,
                debug=self.debug,
            )
        except Exception as exc:
            if "account is not active" in str(exc):
                raise GetMethodError(
                    f"account {raw} is not active", hint="deploy the contract before querying it"
                ) from exc
            raise
        result = GetResult(
            method=method,
            exit_code=int(r["exitCode"]),
            gas_used=int(r["gasUsed"]),
            stack=[_stack_from_json(i) for i in r["stack"]],
            vm_log=r.get("vmLog"),
            debug_log=r.get("debugLogs"),
        )
        if check and result.exit_code not in (0, 1):
            hint = (
                "no such get-method in the contract"
                if result.exit_code == 11
                else "look up the exit code in the contract's error constants"
            )
            raise GetMethodError(
                f"get-method {method!r} on {raw} failed with exit code {result.exit_code}",
                hint=hint,
            )
        return result
