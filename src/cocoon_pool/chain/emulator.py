"""An embedded emulated TON chain: real TVM (``@ton/sandbox`` Executor) in the Node helper.

Mirrors ``@ton/sandbox``'s ``Blockchain``: logical time advances by 1,000,000 before every
transaction, the random seed is 32 zero bytes unless set, the message queue is FIFO (children of
a transaction are appended in the order the TVM created them), external-out messages are
collected as events and never delivered.

Account states live in the Node helper (one map per chain, keyed by an id this module
allocates) and whole traces run there: per transaction only a summary crosses the pipe. Python
keeps the time, the balances and the history it is asked to keep (``keep_history``).
Many messages can go in one request (:meth:`EmulatedChain.batch`).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

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
from cocoon_pool.errors import ChainError, GetMethodError, ToolchainError

DEFAULT_NOW = 1_800_000_000
LT_ALIGN = 1_000_000
MAX_TRACE_TRANSACTIONS = 10_000
WALLET_SOURCE = Path(__file__).with_name("wallet.tolk")


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
        body_boc=d["bodyBoc"] or "",
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
        boc=d["boc"] or "",
        body_boc=d["bodyBoc"] or "",
    )


def _transaction(address_raw: str, r: dict[str, Any]) -> Transaction:
    return Transaction(
        address_raw=address_raw,
        lt=int(r["lt"]),
        now=int(r["now"]),
        hash=r["hash"] or "",
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
        boc=r["transactionBoc"] or "",
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
        """Send one internal message from this wallet and run the whole resulting trace.

        A plain wallet (:meth:`EmulatedChain.use_plain_wallets`) sends it straight from its
        address, carrying exactly ``value`` (``mode`` is not used), with no wallet transaction.
        """
        if raw_address(self.address) in self.chain.plain_wallets:
            return self.chain.send_plain(
                self.address, to, value, body, bounce=bounce, state_init=state_init
            )
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


Detail = Literal["full", "summary"]
"""What a transaction brings back from the Node helper: ``"full"`` (every BOC: the
transaction, each message and its body) or ``"summary"`` (no transaction or message BOC and
no internal message body; the bodies of external-out messages, the events, are kept)."""

_CHAIN_IDS = itertools.count(1)
# Chains garbage-collected in Python; their Node-side state is dropped with the next chain
# request (a finalizer must not talk to the helper: it may run in the middle of a request).
_DROPPED: list[int] = []


def _take_dropped() -> list[int]:
    dropped = _DROPPED[:]
    del _DROPPED[: len(dropped)]
    return dropped


class _AccountsView:
    """``chain.accounts``: the addresses that have state, read from the Node helper's map
    (``del chain.accounts[raw]`` removes an account, as if it had never existed)."""

    def __init__(self, chain: EmulatedChain) -> None:
        self._chain = chain

    def __contains__(self, raw: object) -> bool:
        return isinstance(raw, str) and raw in self._chain._balances

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._chain._balances))

    def __len__(self) -> int:
        return len(self._chain._balances)

    def __getitem__(self, raw: str) -> AccountState:
        if raw not in self._chain._balances:
            raise KeyError(raw)
        return self._chain.get_state(raw)

    def __delitem__(self, raw: str) -> None:
        if raw not in self._chain._balances:
            raise KeyError(raw)
        self._chain._request("chainDeleteAccount", address=raw)
        del self._chain._balances[raw]

    def keys(self) -> list[str]:
        return list(self._chain._balances)


class Batch:
    """Messages collected by :meth:`EmulatedChain.batch` and run in one request.

    Each send made while the batch collects returns an empty :class:`Trace` that is filled
    in place when the batch's result is in (:meth:`wait`). The traces run one after the
    other, exactly as the same sends one by one would; a rejected external message stops the
    batch (the traces after it stay empty) and :meth:`wait` raises it.
    """

    def __init__(self, chain: EmulatedChain) -> None:
        self.chain = chain
        self.messages: list[dict[str, Any]] = []
        self.traces: list[Trace] = []
        self._request_id: int | None = None
        self._raw: dict[str, Any] | None = None
        self.collecting = False

    def add(self, dest_raw: str, message_b64: str, debit: tuple[str, int] | None = None) -> Trace:
        trace = Trace(())
        message: dict[str, Any] = {"dest": dest_raw, "boc": message_b64}
        if debit is not None:
            message["debit"] = [debit[0], str(debit[1])]
        self.messages.append(message)
        self.traces.append(trace)
        return trace

    def __len__(self) -> int:
        return len(self.messages)

    def submit(self, *, background: bool = True) -> Batch:
        """Send the collected messages to the helper. ``background``: return at once (the
        helper runs them while Python goes on; :meth:`receive` or :meth:`wait` collects the
        answer); otherwise wait for the answer here."""
        if self._request_id is not None or self._raw is not None:
            raise ChainError("this batch was already submitted", hint="make a new batch")
        self.collecting = False
        if self.chain._batch is self:
            self.chain._batch = None
        params = self.chain._traces_request(self.messages)
        if background:
            self._request_id = self.chain.bridge.send("chainRunTraces", **params)
        else:
            self._raw = self.chain.bridge.request("chainRunTraces", **params)
        return self

    def receive(self) -> Batch:
        """Wait for the helper's answer (not yet turned into transactions)."""
        if self._request_id is None and self._raw is None:
            self.submit(background=False)
        if self._raw is None:
            assert self._request_id is not None
            self._raw = self.chain.bridge.receive(self._request_id, "chainRunTraces")
        return self

    def wait(self) -> list[Trace]:
        """The traces, filled in; raises what running them one by one would have raised."""
        self.receive()
        assert self._raw is not None
        raw, self._raw = self._raw, {}
        if raw:
            self.chain._apply_traces(raw, self.traces)
        return self.traces


class EmulatedChain:
    """Time, balances and transaction history; accounts and the TVM in the Node helper."""

    def __init__(
        self,
        *,
        now: int = DEFAULT_NOW,
        random_seed: bytes = bytes(32),
        bridge: NodeBridge | None = None,
        verbosity: str = "short",
        debug: bool = False,
        max_trace_transactions: int = MAX_TRACE_TRANSACTIONS,
        detail: Detail = "full",
        keep_history: bool | frozenset[str] = True,
        config: Literal["default", "trimmed"] = "default",
        _fork_of: EmulatedChain | None = None,
    ) -> None:
        """``verbosity``: TVM log level per transaction (``"short"`` = none, ``"full"``,
        ``"full_location"``, ``"full_location_gas"``, ``"full_location_stack"``...);
        ``debug``: collect ``debug.print`` output into ``Transaction.debug_log``;
        ``detail``: see :data:`Detail`; ``keep_history``: which transactions ``transactions``
        keeps (all, none, or those on a set of raw addresses), for runs too big to keep all;
        ``config``: ``"trimmed"`` runs transactions with the config minus the parameters no
        transaction of ours reads (validator sets 32-37 and 39, suspended addresses 44), which
        the emulator parses on every transaction: about 30 % faster, same transactions."""
        if len(random_seed) != 32:
            raise ChainError("random_seed must be 32 bytes")
        self.bridge = bridge if bridge is not None else get_bridge()
        self._now = now
        self.lt = 0
        self.random_seed = random_seed
        self.verbosity = verbosity
        self.debug = debug
        self.max_trace_transactions = max_trace_transactions
        self.detail: Detail = detail
        self.keep_history: bool | frozenset[str] = keep_history
        self.bodies_of: frozenset[str] = frozenset()
        """With ``detail="summary"``: raw addresses whose transactions still come back with
        the bodies of their in- and out-messages (for events derived from them)."""
        self._balances: dict[str, int] = {}
        self.transactions: list[Transaction] = []
        self.wallets: dict[str, Wallet] = {}
        self.plain_wallets: frozenset[str] = frozenset()
        """Raw addresses of the wallets made plain by :meth:`use_plain_wallets`."""
        self._wallet_code: Cell | None = None
        self._batch: Batch | None = None
        self.transaction_count = 0
        """Every transaction this chain ran (kept in ``transactions`` or not)."""
        self._id = next(_CHAIN_IDS)
        self.config = config
        if _fork_of is None:
            self._request("chainNew", config=config)
        else:
            self._request("chainFork", chain=_fork_of._id, into=self._id)
        weakref.finalize(self, _DROPPED.append, self._id)

    def _request(self, op: str, **params: Any) -> Any:
        params.setdefault("chain", self._id)
        dropped = _take_dropped()
        if dropped:
            params["drop"] = dropped
        try:
            return self.bridge.request(op, **params)
        except ToolchainError as exc:
            if "unknown chain" in str(exc):
                raise ChainError(
                    "the Node helper lost this chain's state (it was restarted)",
                    hint="build the chain again; its accounts lived in the old helper process",
                ) from exc
            raise

    def fork(self) -> EmulatedChain:
        """An independent copy of this chain (the helper copies its account map; BOC strings
        are immutable, so that is cheap). Tests use it to start many cases from one pool."""
        if self._batch is not None:
            raise ChainError("cannot fork while a batch collects", hint="submit it first")
        other = EmulatedChain(
            now=self._now,
            random_seed=self.random_seed,
            bridge=self.bridge,
            verbosity=self.verbosity,
            debug=self.debug,
            max_trace_transactions=self.max_trace_transactions,
            detail=self.detail,
            keep_history=self.keep_history,
            config=self.config,
            _fork_of=self,
        )
        other.lt = self.lt
        other._balances = dict(self._balances)
        other.transactions = list(self.transactions)
        other.transaction_count = self.transaction_count
        other._wallet_code = self._wallet_code
        other.plain_wallets = self.plain_wallets
        other.bodies_of = self.bodies_of
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

    @property
    def accounts(self) -> _AccountsView:
        """Raw addresses with state (``in``, ``len``, iteration, ``del``)."""
        return _AccountsView(self)

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
        self.set_accounts([(address, code, data, balance)], last_paid=last_paid)

    def set_accounts(
        self,
        accounts: Iterable[tuple[AddressLike, Cell, Cell, int]],
        *,
        last_paid: int | None = None,
    ) -> None:
        """:meth:`set_account` for many (address, code, data, balance) in one request."""
        paid = self._now if last_paid is None else last_paid
        rows = []
        for address, code, data, balance in accounts:
            raw = raw_address(address)
            rows.append(
                {
                    "address": raw,
                    "codeBoc": cell_to_b64(code),
                    "dataBoc": cell_to_b64(data),
                    "balance": str(balance),
                    "lastPaid": paid,
                }
            )
            self._balances[raw] = balance
        if rows:
            self._request("chainSetAccounts", accounts=rows)

    def get_balance(self, address: AddressLike) -> int:
        return self._balances.get(raw_address(address), 0)

    def get_state(self, address: AddressLike) -> AccountState:
        raw = raw_address(address)
        r = self._request("chainGetAccount", address=raw) if raw in self._balances else None
        if r is None:
            return AccountState(raw, "nonexist", 0, None, None, 0)
        return AccountState(
            address_raw=raw,
            status=r["status"],
            balance=int(r["balance"]),
            code=cell_from_b64(r["codeBoc"]) if r["codeBoc"] else None,
            data=cell_from_b64(r["dataBoc"]) if r["dataBoc"] else None,
            last_paid=int(r["lastPaid"]),
        )

    def shard_account(self, address: AddressLike) -> str | None:
        """The account's ShardAccount BOC (base64), or None if it has no state."""
        raw = raw_address(address)
        r = self._request("chainGetAccount", address=raw, withShardAccount=True)
        return None if r is None else str(r["shardAccount"])

    # -- wallets & deploy -----------------------------------------------------------------

    def wallet_code(self) -> Cell:
        if self._wallet_code is None:
            # imported here: cocoon_pool.contracts.build imports this package
            from cocoon_pool.contracts.build import compile_contract  # noqa: PLC0415

            self._wallet_code = compile_contract(WALLET_SOURCE).code
        return self._wallet_code

    def create_wallet(self, name: str, balance: int) -> Wallet:
        """A funded test wallet whose address depends only on ``name``."""
        return self.create_wallets([name], balance)[0]

    def create_wallets(self, names: Sequence[str], balance: int) -> list[Wallet]:
        """:meth:`create_wallet` for many names in one request."""
        code = self.wallet_code()
        made: list[tuple[Wallet, Cell]] = []
        for name in names:
            if name in self.wallets or any(w.name == name for w, _ in made):
                raise ChainError(f"wallet {name!r} already exists", hint="pick another name")
            data = begin_cell().store_bytes(hashlib.sha256(name.encode()).digest()).end_cell()
            made.append((Wallet(self, name, contract_address(code, data)), data))
        self.set_accounts((w.address, code, data, balance) for w, data in made)
        for wallet, _ in made:
            self.wallets[wallet.name] = wallet
        return [w for w, _ in made]

    def use_plain_wallets(self, wallets: Iterable[Wallet], *, plain: bool = True) -> None:
        """Make these wallets plain accounts, or (``plain=False``) wallets again.

        For runs too big for wallet transactions (the scale benchmark; tests keep full
        wallets): a plain wallet's code never runs. What it sends goes out as an internal
        message straight from its address, like ``@ton/sandbox``'s
        ``sendMessage(internal(...))``, and its balance is debited by the value (no fees);
        what it receives is credited to its balance, with no transaction. Every other
        account's transactions run on the TVM as before. Their gas does not change, the lt
        of later transactions does (fewer transactions run), and a trace has no wallet
        transactions.
        """
        raws = [raw_address(w.address) for w in wallets]
        if raws:
            self._request("chainSetPlain", addresses=raws, plain=plain)
        if plain:
            self.plain_wallets |= frozenset(raws)
        else:
            self.plain_wallets -= frozenset(raws)

    def send_plain(
        self,
        src: AddressLike,
        dest: AddressLike,
        value: int,
        body: Cell | None = None,
        *,
        bounce: bool = True,
        state_init: tuple[Cell, Cell] | None = None,
    ) -> Trace:
        """An internal message from plain wallet ``src`` (see :meth:`use_plain_wallets`),
        its value debited from it."""
        src_raw = raw_address(src)
        if src_raw not in self.plain_wallets:
            raise ChainError(f"{src_raw} is not a plain wallet", hint="use Wallet.send")
        dest_raw, msg = self._internal(src, dest, value, body, bounce, False, state_init)
        return self._run_trace(dest_raw, msg, (src_raw, value))

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
        return self._run_trace(*self._internal(src, dest, value, body, bounce, bounced, state_init))

    def _internal(  # noqa: PLR0917 (the message's fields, in their TL-B order)
        self,
        src: AddressLike,
        dest: AddressLike,
        value: int,
        body: Cell | None,
        bounce: bool,
        bounced: bool,
        state_init: tuple[Cell, Cell] | None,
    ) -> tuple[str, str]:
        """An internal message created now: the destination's raw address and the BOC."""
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
        return raw_address(dest_addr), cell_to_b64(msg)

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

    @contextmanager
    def batch(self, *, wait: bool = True, submit: bool = True) -> Iterator[Batch]:
        """Collect every send made inside the block and run them all in one request.

        Sends return empty traces, filled when the batch's result is in: on leaving the
        block (default), or at ``batch.wait()`` when ``wait=False`` (the block's end only
        submits, so Python can prepare the next batch while the helper runs this one) or
        ``submit=False`` (the caller submits it later). Nothing inside the block may read
        chain state that the batch changes. Pipelining callers receive a batch's answer
        before submitting the next one: the helper reads no request while it runs one, and
        a big request and a big answer would otherwise wait for each other in the pipes.
        """
        if self._batch is not None:
            raise ChainError("a batch is already collecting", hint="batches do not nest")
        batch = Batch(self)
        batch.collecting = True
        self._batch = batch
        try:
            yield batch
        except BaseException:
            self._batch = None
            raise
        if not submit:
            batch.collecting = False
            self._batch = None
        elif wait:
            batch.submit(background=False).wait()
        else:
            batch.submit()

    def _run_trace(
        self, first_dest: str, first_message: str, debit: tuple[str, int] | None = None
    ) -> Trace:
        if self._batch is not None:
            return self._batch.add(first_dest, first_message, debit)
        batch = Batch(self)
        trace = batch.add(first_dest, first_message, debit)
        batch.submit(background=False).wait()
        return trace

    def _traces_request(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        dropped = _take_dropped()
        params: dict[str, Any] = {
            "chain": self._id,
            "messages": messages,
            "now": self._now,
            "randomSeed": self.random_seed.hex(),
            "verbosity": self.verbosity,
            "debug": self.debug,
            "detail": self.detail,
            "maxTransactions": self.max_trace_transactions,
        }
        if self.bodies_of:
            params["bodiesOf"] = sorted(self.bodies_of)
        if dropped:
            params["drop"] = dropped
        return params

    def _apply_traces(self, raw: dict[str, Any], traces: list[Trace]) -> None:
        self.lt = int(raw["lt"])
        for address, balance in raw.get("plainBalances", {}).items():
            self._balances[address] = int(balance)
        keep = self.keep_history
        for trace, r in zip(traces, raw["traces"], strict=False):
            txs = tuple(_transaction(t["address"], t) for t in r["transactions"])
            for tx in txs:
                self._balances[tx.address_raw] = tx.balance_after
                if tx.end_status == "nonexist":
                    self._balances.pop(tx.address_raw, None)
            if keep is True:
                self.transactions.extend(txs)
            elif keep:
                self.transactions.extend(tx for tx in txs if tx.address_raw in keep)
            self.transaction_count += len(txs)
            # The trace objects were handed out empty when the sends were collected.
            object.__setattr__(trace, "transactions", txs)
            if r["overflow"]:
                raise ChainError(
                    f"trace exceeded {self.max_trace_transactions} transactions",
                    hint="a contract is probably ping-ponging messages forever",
                )
            rejected = r["rejected"]
            if rejected is not None:
                code = rejected["vmExitCode"]
                raise ExternalMessageRejected(
                    f"{rejected['address']} rejected the external message: {rejected['error']}"
                    + (f" (exit code {code})" if code is not None else ""),
                    exit_code=code,
                    vm_log=rejected["vmLog"],
                )

    def run_in_sandbox(self, message: Cell) -> tuple[Trace, dict[str, int]]:
        """The canary: ``message`` through ``@ton/sandbox``'s own ``Blockchain``, started from
        this chain's accounts, time, lt and seed; this chain is left unchanged. Returns the
        trace (each transaction's ``balance_after`` is its account's balance at the end of the
        trace: Blockchain keeps no per-transaction states) and the final balances."""
        r = self._request(
            "chainSandboxRun",
            message=cell_to_b64(message),
            now=self._now,
            randomSeed=self.random_seed.hex(),
        )
        txs = tuple(_transaction(t["address"], t) for t in r["transactions"])
        return Trace(txs), {k: int(v) for k, v in r["balances"].items()}

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
        if raw not in self._balances:
            raise GetMethodError(
                f"account {raw} does not exist", hint="deploy the contract before querying it"
            )
        try:
            r = self._request(
                "chainRunGetMethod",
                address=raw,
                method=method,
                stack=[_stack_to_json(v) for v in stack],
                now=self._now,
                randomSeed=self.random_seed.hex(),
                verbosity=verbosity or self.verbosity,
                debug=self.debug,
            )
        except ToolchainError as exc:
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
