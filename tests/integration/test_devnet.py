"""tonutils' own toncenter client against the local network (cocoon_pool.devnet): the path a
real testnet or mainnet deployment takes, over HTTP on 127.0.0.1, on the real TVM."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from ton_core import Address, NetworkGlobalID, begin_cell
from tonutils.clients import ToncenterClient
from tonutils.contracts import WalletV4R2

from cocoon_pool.chain.types import raw_address
from cocoon_pool.cli.app import main
from cocoon_pool.contracts.constants import ton
from cocoon_pool.contracts.pool import Pool, PoolParams
from cocoon_pool.contracts.reports import OracleSigner
from cocoon_pool.devnet import FAUCET_FUNDS, Devnet, serve

T = TypeVar("T")
MNEMONIC = WalletV4R2.create(None)[3]  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def devnet() -> Iterator[tuple[Devnet, str]]:
    net = Devnet.create(MNEMONIC)
    with serve(net) as url:
        yield net, url


def with_client(url: str, work: Callable[[ToncenterClient], Awaitable[T]]) -> T:
    async def main() -> T:
        client = ToncenterClient(NetworkGlobalID.MAINNET, base_url=url, rps_limit=1000)
        await client.connect()
        try:
            return await work(client)
        finally:
            await client.close()

    return asyncio.run(main())


def call(url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        url + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)["result"]


def test_the_faucet_sends_with_a_signed_external_message(devnet: tuple[Devnet, str]) -> None:
    net, url = devnet
    recipient = Address("0:" + "42" * 32)

    async def work(client: ToncenterClient) -> tuple[int, int, str]:
        wallet, _, _, _ = WalletV4R2.from_mnemonic(client, MNEMONIC)
        before = await client.get_info(wallet.address)
        await wallet.transfer(recipient, ton(3), body="hello", bounce=False)
        after = await client.get_info(recipient)
        return before.balance, after.balance, after.state.value

    faucet_balance, received, state = with_client(url, work)
    assert faucet_balance == FAUCET_FUNDS
    assert received == ton(3)  # a non-bounceable transfer to a fresh address stays there
    assert state == "uninit"
    info = call(url, "/devnet/info")
    assert info["faucet"] == net.faucet.to_str(is_user_friendly=False)  # type: ignore[union-attr]
    assert info["global_id"] == -239


def test_get_methods_and_transactions_of_a_deployed_pool(devnet: tuple[Devnet, str]) -> None:
    net, url = devnet
    signer = OracleSigner.from_seed_text("devnet-oracle")
    with net.lock:
        admin = net.chain.create_wallet("devnet-admin", ton(1_000))
        pool, trace = Pool.deploy(net.chain, admin, PoolParams(oracle_key=signer.public_key))
        trace.assert_success()
        expected = pool.pool_info()
        operator_raw = raw_address(pool.operator)
        history = [tx.lt for tx in net.chain.transactions if tx.address_raw == operator_raw]

    async def work(client: ToncenterClient) -> tuple[list[Any], list[int]]:
        stack = await client.run_get_method(pool.operator, "poolInfo")
        txs = await client.get_transactions(pool.operator, limit=10)
        return stack, [tx.lt for tx in txs]

    stack, lts = with_client(url, work)
    assert stack[0] == expected.pool_id and stack[1] == expected.status
    assert stack[2] == expected.commission_bps and stack[9] == expected.operator_stake
    assert lts == list(reversed(history))


def test_the_clock_runs_and_can_be_advanced(devnet: tuple[Devnet, str]) -> None:
    _, url = devnet
    before = call(url, "/devnet/info")["now"]
    after = call(url, "/devnet/advance", {"seconds": 7 * 86_400})["now"]
    assert after >= before + 7 * 86_400


def test_bad_requests_get_clear_errors(devnet: tuple[Devnet, str]) -> None:
    _, url = devnet
    for path, body in (("/sendBoc", {"boc": "not-a-boc"}), ("/nowhere", None)):
        with pytest.raises(urllib.error.HTTPError) as failure:
            call(url, path, body)
        answer = json.load(failure.value)
        assert answer["ok"] is False and answer["error"]


def test_the_cli_serves_until_stopped(tmp_path: Path) -> None:
    words = tmp_path / "faucet.words"
    words.write_text(" ".join(MNEMONIC))
    cli = Path(sys.executable).with_name("cocoon-pool")
    proc = subprocess.Popen(
        [str(cli), "devnet", "--port", "0", "--mnemonic-file", str(words), "--json"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        started = json.loads(proc.stdout.readline())
        info = call(started["endpoint"], "/devnet/info")
        assert info["faucet"] == started["faucet"]
        assert started["faucet_nanoton"] == FAUCET_FUNDS
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ([], {}, "give exactly one of --mnemonic-file and --mnemonic-env"),
        (["--mnemonic-env", "NO_SUCH_VAR_X"], {}, "environment variable NO_SUCH_VAR_X is empty"),
        (["--mnemonic-env", "FAUCET_X"], {"FAUCET_X": "one two"}, "the mnemonic has 2 words"),
        (
            ["--mnemonic-file", "/nonexistent/faucet.words"],
            {},
            "cannot read /nonexistent/faucet.words: No such file or directory",
        ),
        (
            ["--mnemonic-file", "/etc/hostname", "--mnemonic-env", "FAUCET_X"],
            {"FAUCET_X": "x"},
            "give exactly one of --mnemonic-file and --mnemonic-env",
        ),
    ],
)
def test_the_cli_explains_a_missing_mnemonic(
    args: list[str],
    env: dict[str, str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["devnet", "--port", "0", *args]) == 2
    err = capsys.readouterr().err
    assert message in " ".join(err.split()) and "Traceback" not in err


def post_error(url: str, path: str, data: bytes) -> tuple[int, str]:
    request = urllib.request.Request(
        url + path, data=data, headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as failure:
        urllib.request.urlopen(request)
    answer = json.load(failure.value)
    assert answer["ok"] is False and answer["code"] == failure.value.code
    return failure.value.code, answer["error"]


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/devnet/advance", {"seconds": -5}, "time cannot go backwards"),
        ("/getAddressInformation", None, "missing query parameter 'address'"),
        (
            "/runGetMethod",
            {"address": "0:" + "00" * 32, "method": "x", "stack": [["num"]]},
            "bad stack entry",
        ),
        (
            "/runGetMethod",
            {"address": "0:" + "00" * 32, "method": "x", "stack": [["tvm.Blob", "AA=="]]},
            "unknown stack entry type 'tvm.Blob'",
        ),
    ],
)
def test_requests_the_devnet_cannot_answer_are_400_with_the_reason(
    devnet: tuple[Devnet, str], path: str, body: dict[str, Any] | None, message: str
) -> None:
    _, url = devnet
    if body is None:
        with pytest.raises(urllib.error.HTTPError) as failure:
            urllib.request.urlopen(url + path)
        code, error = failure.value.code, json.load(failure.value)["error"]
    else:
        code, error = post_error(url, path, json.dumps(body).encode())
    assert code == 400 and message in error


def test_a_body_that_is_not_json_is_a_400(devnet: tuple[Devnet, str]) -> None:
    _, url = devnet
    code, error = post_error(url, "/sendBoc", b"{not json")
    assert code == 400 and error


def test_get_method_arguments_of_every_stack_kind_reach_the_tvm(devnet: tuple[Devnet, str]) -> None:
    """Cells, slices and tuples in toncenter's encoding decode to TVM values (the get-method
    reads only its own argument, so the extra entries below it change nothing)."""
    net, url = devnet
    with net.lock:
        admin = net.chain.create_wallet("devnet-stack-admin", ton(1_000))
        pool, _ = Pool.deploy(
            net.chain, admin, PoolParams(oracle_key=OracleSigner.from_seed_text("s").public_key)
        )
    empty = base64.b64encode(begin_cell().end_cell().to_boc()).decode()
    stack = [
        ["tvm.Cell", empty],
        ["tvm.Slice", {"bytes": empty}],
        ["tuple", {"elements": [["num", "1"]]}],
        ["num", "0x1"],
    ]
    result = call(
        url,
        "/runGetMethod",
        {"address": raw_address(pool.distribution), "method": "finalEpoch", "stack": stack},
    )
    assert result["exit_code"] == 0 and result["stack"]
