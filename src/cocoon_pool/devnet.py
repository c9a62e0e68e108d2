"""A local TON network: the public TON HTTP API (toncenter v2) over the embedded chain.

No machine here reaches testnet or mainnet, so the network back end (tonutils'
``ToncenterClient``) is tested end to end against this server: it answers the subset of
toncenter v2 that the client uses (``/sendBoc``, ``/getConfigAll``, ``/getAddressInformation``,
``/getTransactions``, ``/runGetMethod``) from an :class:`EmulatedChain` whose clock follows the
wall clock (wallets put real expiry times into their messages). A faucet wallet (wallet v4r2,
from a mnemonic) holds the network's TON.

Two calls exist only here, for tests and demos: ``POST /devnet/advance {"seconds": N}`` moves
the clock forward (an epoch is a week), and ``GET /devnet/info`` tells the time, the global id
and the faucet's address.

Every request runs under one lock: the emulator is a single Node process and a trace must not
interleave with another.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ton_core import Address, Builder, Cell, Slice, StateInit
from tonutils.contracts import WalletV4R2

from cocoon_pool.chain.emulator import EmulatedChain
from cocoon_pool.chain.types import StackValue, Transaction, cell_from_b64, cell_to_b64, raw_address
from cocoon_pool.errors import ChainError, CocoonPoolError, GetMethodError

API_PREFIX = "/api/v2"
FAUCET_FUNDS = 5_000_000 * 10**9


class DevnetError(CocoonPoolError):
    """A request the local network cannot answer (bad input from the client)."""


@dataclass
class Devnet:
    """The chain behind the server, its clock and the index of transactions per account."""

    chain: EmulatedChain
    faucet: Address | None = None
    offset: int = 0
    """Seconds the clock was moved ahead of the wall clock (``/devnet/advance``)."""
    lock: threading.RLock = field(default_factory=threading.RLock)
    _by_account: dict[str, list[Transaction]] = field(default_factory=dict)
    _indexed: int = 0

    @classmethod
    def create(cls, mnemonic: Sequence[str] | None = None) -> Devnet:
        chain = EmulatedChain(now=int(time.time()))
        devnet = cls(chain)
        if mnemonic is not None:
            devnet.faucet = devnet.fund_wallet(mnemonic, FAUCET_FUNDS)
        return devnet

    # -- state ------------------------------------------------------------------------------

    def tick(self) -> None:
        """The chain's clock follows the wall clock (plus what tests advanced it by)."""
        wall = int(time.time()) + self.offset
        if wall > self.chain.now:
            self.chain.set_now(wall)

    def advance(self, seconds: int) -> int:
        if seconds < 0:
            raise DevnetError("time cannot go backwards", hint="advance by a positive number")
        self.offset += seconds
        self.tick()
        return self.chain.now

    def fund_wallet(self, mnemonic: Sequence[str], balance: int) -> Address:
        """Put an active wallet v4r2 for ``mnemonic`` on the chain with ``balance``."""
        code, data = wallet_v4r2_state(mnemonic)
        address = state_init_address(code, data)
        self.chain.set_account(address, code, data, balance)
        return address

    def transactions_of(self, address_raw: str) -> list[Transaction]:
        """The account's transactions, oldest first (indexed incrementally)."""
        new = self.chain.transactions[self._indexed :]
        for tx in new:
            self._by_account.setdefault(tx.address_raw, []).append(tx)
        self._indexed += len(new)
        return self._by_account.get(address_raw, [])

    # -- the toncenter v2 subset ------------------------------------------------------------

    def send_boc(self, boc: str) -> dict[str, Any]:
        try:
            message = Cell.one_from_boc(base64.b64decode(boc))
        except Exception as exc:  # ton-core (pytoniq_core inside) raises several exception types
            raise DevnetError("boc is not a valid bag of cells", hint="send base64 BoC") from exc
        self.chain.send_message(message)
        return {"@type": "ok"}

    def config_all(self) -> dict[str, Any]:
        config = self.chain.bridge.request("config")["configBoc"]
        return {"@type": "configInfo", "config": {"@type": "tvm.cell", "bytes": config}}

    def address_information(self, address: str) -> dict[str, Any]:
        raw = raw_address(Address(address))
        state = self.chain.get_state(raw)
        history = self.transactions_of(raw)
        last = history[-1] if history else None
        status = {"active": "active", "frozen": "frozen"}.get(state.status, "uninitialized")
        return {
            "@type": "raw.fullAccountState",
            "balance": str(state.balance),
            "code": cell_to_b64(state.code) if state.code is not None else "",
            "data": cell_to_b64(state.data) if state.data is not None else "",
            "last_transaction_id": {
                "@type": "internal.transactionId",
                "lt": str(last.lt if last else 0),
                "hash": _hash_b64(last.hash if last else "00" * 32),
            },
            "state": status,
        }

    def transactions(
        self, address: str, limit: int, lt: int | None, to_lt: int | None
    ) -> list[dict[str, Any]]:
        """Newest first, starting at ``lt`` (inclusive) and stopping above ``to_lt``."""
        history = self.transactions_of(raw_address(Address(address)))
        found = [
            tx
            for tx in reversed(history)
            if (lt is None or tx.lt <= lt) and (to_lt is None or tx.lt > to_lt)
        ]
        return [
            {
                "@type": "raw.transaction",
                "utime": tx.now,
                "data": tx.boc,
                "transaction_id": {"lt": str(tx.lt), "hash": _hash_b64(tx.hash)},
            }
            for tx in found[:limit]
        ]

    def run_get_method(self, address: str, method: str, stack: list[Any]) -> dict[str, Any]:
        try:
            result = self.chain.run_get_method(
                Address(address), method, [_stack_in(item) for item in stack], check=False
            )
        except GetMethodError as exc:
            raise DevnetError(exc.message, exc.hint) from exc
        return {
            "@type": "smc.runResult",
            "gas_used": result.gas_used,
            "exit_code": result.exit_code,
            "stack": [_stack_out(item) for item in result.stack],
        }


def devnet_now(endpoint: str) -> int:
    """A devnet's clock, read from ``/devnet/info`` at its API ``endpoint``."""
    url = endpoint.rstrip("/").removesuffix(API_PREFIX) + "/devnet/info"
    with urllib.request.urlopen(url, timeout=10) as response:
        return int(json.load(response)["result"]["now"])


def clock_offset(endpoint: str) -> int:
    """How far a devnet's clock runs ahead of this machine's (for NetworkChain.clock_offset)."""
    return max(devnet_now(endpoint) - int(time.time()), 0)


# -- wallets ----------------------------------------------------------------------------------


def wallet_v4r2_state(mnemonic: Sequence[str]) -> tuple[Cell, Cell]:
    """Code and data of the standard wallet v4r2 of ``mnemonic`` (subwallet 698983191)."""
    wallet, _, _, _ = WalletV4R2.from_mnemonic(None, list(mnemonic))  # type: ignore[arg-type]
    state = wallet.state_init
    assert state is not None and state.code is not None and state.data is not None
    return state.code, state.data


def state_init_address(code: Cell, data: Cell) -> Address:
    return Address((0, StateInit(code=code, data=data).serialize().hash))


# -- toncenter's stack encoding --------------------------------------------------------------


def _hash_b64(hex_hash: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_hash)).decode()


def _stack_in(item: Any) -> StackValue:
    """``["num", "12"]``, ``["tvm.Slice", b64]``, ``["tvm.Cell", b64]``, ``["tuple", {...}]``."""
    if not (isinstance(item, list) and len(item) == 2):
        raise DevnetError(f"bad stack entry {item!r}", hint='use ["num", "1"] or ["tvm.Cell", b64]')
    tag, value = item
    if tag == "num":
        return int(str(value), 0)
    if tag in ("tvm.Cell", "cell"):
        return cell_from_b64(value["bytes"] if isinstance(value, dict) else value)
    if tag in ("tvm.Slice", "slice"):
        return cell_from_b64(value["bytes"] if isinstance(value, dict) else value).begin_parse()
    if tag == "tuple":
        return [_stack_in(v) for v in value.get("elements", [])]
    raise DevnetError(f"unknown stack entry type {tag!r}", hint="use num, tvm.Cell or tvm.Slice")


def _stack_out(value: StackValue) -> list[Any]:
    if value is None:
        return ["null", None]
    if isinstance(value, int):
        return ["num", hex(value) if value >= 0 else "-" + hex(-value)]
    if isinstance(value, Cell):
        return ["cell", {"bytes": cell_to_b64(value)}]
    if isinstance(value, Slice):
        return ["slice", {"bytes": cell_to_b64(value.to_cell())}]
    if isinstance(value, Builder):
        return ["cell", {"bytes": cell_to_b64(value.end_cell())}]
    if isinstance(value, Address):
        return ["slice", {"bytes": cell_to_b64(Builder().store_address(value).end_cell())}]
    return ["tuple", {"elements": [_entry(v) for v in value]}]


def _entry(value: StackValue) -> dict[str, Any]:
    """A nested (tuple) element, in the ``@type`` form toncenter uses inside tuples."""
    kind, payload = _stack_out(value)
    if kind == "num":
        return {"@type": "tvm.stackEntryNumber", "number": {"number": str(int(payload, 16))}}
    if kind == "null":
        return {"@type": "tvm.stackEntryNull"}
    if kind == "cell":
        return {"@type": "tvm.stackEntryCell", "cell": payload}
    if kind == "slice":
        return {"@type": "tvm.stackEntrySlice", "slice": payload}
    return {"@type": "tvm.stackEntryTuple", "tuple": payload}


# -- HTTP -------------------------------------------------------------------------------------


def _answer(devnet: Devnet, method: str, path: str, query: dict[str, str], body: Any) -> Any:
    devnet.tick()
    if path == "/sendBoc" and method == "POST":
        return devnet.send_boc(str(body.get("boc", "")))
    if path == "/getConfigAll":
        return devnet.config_all()
    if path == "/getAddressInformation":
        return devnet.address_information(_required(query, "address"))
    if path == "/getTransactions":
        return devnet.transactions(
            _required(query, "address"),
            int(query.get("limit", "10")),
            int(query["lt"]) if "lt" in query else None,
            int(query["to_lt"]) if "to_lt" in query else None,
        )
    if path == "/runGetMethod" and method == "POST":
        return devnet.run_get_method(
            str(body.get("address")), str(body.get("method")), list(body.get("stack") or [])
        )
    if path == "/devnet/advance" and method == "POST":
        return {"now": devnet.advance(int(body.get("seconds", 0)))}
    if path == "/devnet/info":
        return {
            "now": devnet.chain.now,
            "global_id": devnet.chain.global_id,
            "faucet": devnet.faucet.to_str(is_user_friendly=False) if devnet.faucet else None,
        }
    raise DevnetError(f"no such endpoint {method} {path}", hint="see cocoon_pool.devnet")


def _required(query: dict[str, str], name: str) -> str:
    if name not in query:
        raise DevnetError(f"missing query parameter {name!r}", hint=f"add ?{name}=...")
    return query[name]


def make_handler(devnet: Devnet) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            path = parts.path.removeprefix(API_PREFIX)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}") if length else {}
                with devnet.lock:
                    result = _answer(devnet, method, path, query, body)
                status, payload = 200, {"ok": True, "result": result}
            except (DevnetError, ChainError) as exc:
                status = 404 if "no such endpoint" in exc.message else 400
                payload = {"ok": False, "error": exc.message, "code": status}
            except (ValueError, KeyError, TypeError) as exc:
                status, payload = 400, {"ok": False, "error": str(exc), "code": 400}
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def log_message(self, format: str, *args: object) -> None:
            pass  # one line per request would drown the CLI's own output

    return Handler


@contextmanager
def serve(devnet: Devnet, port: int = 0, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``devnet`` in a background thread; yields the API base URL."""
    httpd = ThreadingHTTPServer((host, port), make_handler(devnet))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.1,), daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{httpd.server_address[1]}{API_PREFIX}"
    finally:
        httpd.shutdown()
        httpd.server_close()
