"""`cocoon-pool devnet` in this process: it serves the local network, prints the endpoint
(JSON or text), answers while it waits, and Ctrl-C stops it cleanly. (test_devnet.py runs the
installed command as a process; this one sees the command's own code run.)"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from tonutils.contracts import WalletV4R2
from typer.testing import CliRunner

from cocoon_pool.cli import devnet_cmd
from cocoon_pool.cli.app import app, main
from cocoon_pool.devnet import FAUCET_FUNDS, Devnet, devnet_now
from cocoon_pool.devnet import serve as real_serve

MNEMONIC = WalletV4R2.create(None)[3]  # type: ignore[arg-type]


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """While the command waits for Ctrl-C: read the served devnet's clock, then press it."""
    seen: list[tuple[str, int]] = []
    urls: list[str] = []

    @contextmanager
    def serve(net: Devnet, port: int = 0) -> Iterator[str]:
        with real_serve(net, port) as url:
            urls.append(url)
            yield url

    class CtrlC:
        @staticmethod
        def sleep(seconds: float) -> None:
            seen.append((urls[-1], devnet_now(urls[-1])))
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(devnet_cmd, "serve", serve)
    monkeypatch.setattr(devnet_cmd, "time", CtrlC)
    return seen


def test_json_line_then_serves_until_ctrl_c(served: list[tuple[str, int]], tmp_path: Path) -> None:
    words = tmp_path / "faucet.words"
    words.write_text(" ".join(MNEMONIC))
    result = CliRunner().invoke(
        app, ["devnet", "--port", "0", "--mnemonic-file", str(words), "--json"]
    )
    assert result.exit_code == 0, result.output
    first, rest = result.stdout.split("\n", 1)
    started = json.loads(first)
    assert started["faucet_nanoton"] == FAUCET_FUNDS
    assert started["faucet"].startswith("0:")
    ((url, now),) = served
    assert started["endpoint"] == url and now > 0
    assert rest.strip() == "stopped"


def test_text_mode_names_the_endpoint_and_the_faucet(
    served: list[tuple[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COV_FAUCET_WORDS", " ".join(MNEMONIC))
    result = CliRunner().invoke(
        app, ["devnet", "--port", "0", "--mnemonic-env", "COV_FAUCET_WORDS"]
    )
    assert result.exit_code == 0, result.output
    ((url, _),) = served
    out = " ".join(result.stdout.split())
    assert f"local TON network at {url} (toncenter v2)" in out
    assert f"holds {FAUCET_FUNDS // 10**9:,} TON" in out
    assert "Ctrl-C stops it; its state lives in memory only." in out
    assert out.endswith("stopped")


def test_a_mnemonic_of_the_wrong_length_is_a_usage_error(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    words = tmp_path / "faucet.words"
    words.write_text(" ".join(MNEMONIC[:5]))
    assert main(["devnet", "--mnemonic-file", str(words)]) == 2
    assert "error: the mnemonic has 5 words (hint: a TON wallet mnemonic has 24 words)" in (
        capfd.readouterr().err
    )
