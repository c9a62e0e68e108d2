"""`cocoon-pool member ...`: the printed link is exactly the Pool facade's message, and on the
local network a member registers, binds and has a refused claim reported by name."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import pytest
from ton_core import Address, Cell
from tonutils.contracts import WalletV4R2
from typer.testing import CliRunner, Result

from cocoon_pool.chain.network import NetworkChain
from cocoon_pool.chain.protocol import Chain
from cocoon_pool.chain.types import AddressLike, Trace, raw_address
from cocoon_pool.cli.app import main
from cocoon_pool.cli.member_cmd import member_app
from cocoon_pool.contracts.addresses import derive_pool_addresses
from cocoon_pool.contracts.constants import fee, ton
from cocoon_pool.contracts.pool import Pool
from cocoon_pool.contracts.reports import OracleSigner
from cocoon_pool.devnet import Devnet
from cocoon_pool.member_links import parse_transfer_link
from cocoon_pool.pool_config import load_pool_file
from network_fixtures import devnet_admin, pool_toml, serve_devnet, write_pool_toml

ADMIN_WORDS = list(WalletV4R2.create(None)[3])  # type: ignore[arg-type]
MEMBER_WORDS = list(WalletV4R2.create(None)[3])  # type: ignore[arg-type]
SIGNER = OracleSigner.from_seed_text("member-cmd-oracle")
ADMIN_ENV = "MEMBER_CMD_ADMIN_WORDS"
EMPTY_WORDS = list(WalletV4R2.create(None)[3])  # type: ignore[arg-type]
MEMBER = Address("0:" + "55" * 32)
WORKER = Address("0:" + "77" * 32)
NODE_WALLET = Address("0:" + "88" * 32)


def write_config(tmp_path: Path, url: str, admin: str, network: str = "local") -> Path:
    text = pool_toml(
        url, admin, mnemonic_env=ADMIN_ENV, oracle_key=SIGNER.public_key, network=network
    )
    return write_pool_toml(tmp_path, text)


def invoke(argv: list[str]) -> Result:
    return CliRunner().invoke(member_app, argv)


class RecordingWallet:
    """Takes what the Pool facade sends instead of sending it."""

    def __init__(self, address: Address) -> None:
        self._address = address
        self.sent: list[tuple[str, int, Cell | None]] = []

    @property
    def address(self) -> Address:
        return self._address

    def send(
        self,
        to: AddressLike,
        value: int,
        body: Cell | None = None,
        *,
        bounce: bool = True,
        state_init: tuple[Cell, Cell] | None = None,
    ) -> Trace:
        assert bounce and state_init is None
        self.sent.append((raw_address(to), value, body))
        return Trace(())


def query_id_of(body: Cell) -> int:
    # Every member message starts with op (32 bits) and query id (64 bits).
    return int(body.begin_parse().skip_bits(32).load_uint(64))


# -- the link is the facade's message ---------------------------------------------------------

FacadeCall = Callable[[Pool, RecordingWallet], object]
ACTIONS: list[tuple[str, list[str], FacadeCall]] = [
    ("register", ["--stake", "12.5"], lambda p, w: p.register(w, ton("12.5"))),
    (
        "register",
        ["--stake", "10", "--worker", WORKER.to_str(), "--node-wallet", raw_address(NODE_WALLET)],
        lambda p, w: p.register(w, ton(10), worker=WORKER, node_wallet=NODE_WALLET),
    ),
    (
        "bind",
        ["--worker", WORKER.to_str(), "--node-wallet", raw_address(NODE_WALLET)],
        lambda p, w: p.bind_worker(w, WORKER, NODE_WALLET),
    ),
    ("claim", ["--epoch", "7"], lambda p, w: p.claim_rewards(w, 7)),
    ("claim-pending", [], lambda p, w: p.claim_pending(w)),
    ("unregister", [], lambda p, w: p.unregister(w)),
    ("withdraw", [], lambda p, w: p.withdraw_stake(w)),
]


@pytest.mark.parametrize(
    ("action", "options", "facade"),
    ACTIONS,
    ids=[a[0] + ("-bound" if "--worker" in a[1] and a[0] == "register" else "") for a in ACTIONS],
)
def test_link_decodes_to_the_facade_message(
    action: str, options: list[str], facade: FacadeCall, tmp_path: Path
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/api/v2", "0:" + "66" * 32, "testnet")
    pool_file = load_pool_file(config)
    operator = derive_pool_addresses(pool_file.admin, pool_file.params()).operator
    # No chain is touched: the facade only builds the message and hands it to the wallet.
    pool = Pool(cast(Chain, None), operator)
    wallet = RecordingWallet(MEMBER)
    facade(pool, wallet)
    [(to, value, body)] = wallet.sent
    assert body is not None

    argv = [action, "--config", str(config), "--member", MEMBER.to_str(), *options]
    argv += ["--query-id", str(query_id_of(body)), "--json"]
    result = invoke(argv)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    for link in (out["link"], out["tonkeeper_link"]):
        assert link.startswith(("ton://transfer/", "https://app.tonkeeper.com/transfer/"))
        destination, amount, decoded = parse_transfer_link(link)
        assert (raw_address(destination), amount, decoded.hash) == (to, value, body.hash)
        # Bounceable and test-only: a refusal returns the value, on the right network.
        shown = Address(link.split("/")[-1].split("?")[0])
        assert shown.is_bounceable and shown.is_test_only
    assert raw_address(out["destination"]) == to and out["amount_nanoton"] == value
    assert Cell.one_from_boc(base64.b64decode(out["body_boc_base64"])).hash == body.hash

    text = invoke(argv[:-1])  # the same without --json: the links on their own lines
    assert text.exit_code == 0, text.output
    assert out["link"] in text.stdout.splitlines()


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["bind", "--worker", "not-an-address", "--member", MEMBER.to_str()], "not a TON address"),
        (["register", "--stake", "9.99"], "below the pool's minimum stake 10 TON"),
        (
            ["register", "--stake", "10", "--node-wallet", NODE_WALLET.to_str()],
            "--node-wallet is bound together with the worker",
        ),
        (["claim", "--epoch", "1"], "missing option --member"),
        (["claim", "--epoch", "1", "--send"], "--mnemonic-env"),
        (
            ["claim", "--epoch", "1", "--send", "--mnemonic-env", "word1 word2 word3"],
            "takes the name of an environment variable, not the words",
        ),
        (
            ["claim", "--epoch", "1", "--send", "--mnemonic-env", "MEMBER_CMD_NEVER_SET"],
            "environment variable MEMBER_CMD_NEVER_SET is not set",
        ),
        (
            ["claim", "--epoch", "1", "--send", "--mnemonic-file", "/nonexistent/member.words"],
            "cannot read the mnemonic file /nonexistent/member.words",
        ),
        (
            ["claim", "--epoch", "1", "--member", MEMBER.to_str(), "--mnemonic-env", "X"],
            "are only read with --send",
        ),
    ],
)
def test_errors_are_one_line_exit_2(argv: list[str], words: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/api/v2", "0:" + "66" * 32)
    result = invoke([*argv, "--config", str(config)])
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "hint:" in lines[0]
    assert words in lines[0] and "Traceback" not in result.stderr


def test_a_mnemonic_that_is_not_one_is_refused_without_echoing_it(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/api/v2", "0:" + "66" * 32)
    words = tmp_path / "member.words"
    words.write_text("correct horse battery staple " * 6)
    result = invoke(
        ["claim", "--epoch", "1", "--config", str(config), "--send", "--mnemonic-file", str(words)]
    )
    assert result.exit_code == 2
    assert f"the file {words} does not hold a valid TON mnemonic" in " ".join(result.stderr.split())
    assert "horse" not in result.stderr
    words.write_bytes(b"\xff\xfe not text")
    result = invoke(
        ["claim", "--epoch", "1", "--config", str(config), "--send", "--mnemonic-file", str(words)]
    )
    assert result.exit_code == 2 and "not UTF-8 text" in result.stderr


def test_sending_needs_an_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = pool_toml("x", "0:" + "66" * 32, mnemonic_env=ADMIN_ENV, oracle_key=SIGNER.public_key)
    config = write_pool_toml(tmp_path, text.replace('[api]\nendpoint = "x"\n', ""))
    monkeypatch.setenv("MEMBER_CMD_WORDS", " ".join(MEMBER_WORDS))
    result = invoke(
        ["claim-pending", "--config", str(config), "--send", "--mnemonic-env", "MEMBER_CMD_WORDS"]
    )
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert "names no API endpoint for the local network" in " ".join(result.stderr.split())


# -- on the local network ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def endpoint() -> Iterator[tuple[Devnet, str]]:
    yield from serve_devnet(ADMIN_WORDS)


def test_register_bind_and_a_refused_claim_on_the_local_network(
    endpoint: tuple[Devnet, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    net, url, admin = devnet_admin(endpoint, monkeypatch, ADMIN_ENV, ADMIN_WORDS)
    with net.lock:  # the server's threads use the chain too
        member = net.fund_wallet(MEMBER_WORDS, ton(100))
    monkeypatch.setenv("MEMBER_CMD_WORDS", " ".join(MEMBER_WORDS))
    config = write_config(tmp_path, url, admin)
    assert main(["deploy", "--config", str(config), "--json"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    send = ["--config", str(config), "--send", "--mnemonic-env", "MEMBER_CMD_WORDS"]

    registered = invoke(["register", "--stake", "10", *send, "--json"])
    assert registered.exit_code == 0, registered.output
    sent = json.loads(registered.stdout)["sent"]
    assert sent["success"] and sent["transactions"] >= 4
    # The stake and the storage reserve stay on the Participant; change of the fee is back.
    kept = ton(10) + fee("PARTICIPANT_STORAGE_RESERVE")
    assert kept < sent["wallet_spent_nanoton"] < kept + fee("REGISTER_FEE")

    words_file = tmp_path / "member.words"
    words_file.write_text(" ".join(MEMBER_WORDS))
    file_send = ["--config", str(config), "--send", "--mnemonic-file", str(words_file)]
    bound = invoke(["bind", "--worker", raw_address(WORKER), *file_send])
    assert bound.exit_code == 0, bound.output
    assert "done" in bound.stdout

    pool_file = load_pool_file(config)
    operator = derive_pool_addresses(pool_file.admin, pool_file.params()).operator
    with NetworkChain(url, poll_interval=0.05) as chain:
        pool = Pool(chain, operator)
        info = pool.participant_info(member)
        assert info.registered and info.stake == ton(10)
        assert info.member == member
        assert info.worker is not None and raw_address(info.worker) == raw_address(WORKER)
        before = chain.get_balance(member)

        refused = invoke(["claim", "--epoch", "0", *send, "--member", member.to_str()])
        assert refused.exit_code == 1, refused.output
        assert "NOTHING_TO_CLAIM" in refused.stderr and "Traceback" not in refused.stderr
        lost = before - chain.get_balance(member)
        # The 0.05 TON bounced back: only the network fees are gone.
        assert 0 < lost < fee("MEMBER_OP_FEE") // 2

        other = invoke(["claim", "--epoch", "0", *send, "--member", MEMBER.to_str()])
        assert other.exit_code == 2 and "is not the mnemonic's wallet" in other.stderr

    # A wallet that holds less than the message carries is stopped before anything is signed.
    monkeypatch.setenv("MEMBER_CMD_EMPTY_WORDS", " ".join(EMPTY_WORDS))
    empty = ["--config", str(config), "--send", "--mnemonic-env", "MEMBER_CMD_EMPTY_WORDS"]
    poor = invoke(["register", "--stake", "10", *empty])
    assert poor.exit_code == 1 and "Traceback" not in poor.stderr
    assert "holds" in poor.stderr and poor.stdout == ""
