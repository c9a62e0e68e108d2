"""`cocoon-pool devnet`: a local TON network on 127.0.0.1 for the network back end."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Annotated

import typer

from cocoon_pool.cli.output import console
from cocoon_pool.devnet import FAUCET_FUNDS, Devnet, serve
from cocoon_pool.errors import UsageError
from cocoon_pool.signals import on_stop_signals


def read_mnemonic(mnemonic_file: Path | None, mnemonic_env: str | None) -> list[str]:
    """24 words from a file or an environment variable, never from the command line (shell
    history and process lists would show it)."""
    if (mnemonic_file is None) == (mnemonic_env is None):
        raise UsageError(
            "give exactly one of --mnemonic-file and --mnemonic-env",
            hint="the faucet wallet's mnemonic comes from a file or an environment variable",
        )
    if mnemonic_file is not None:
        try:
            text = mnemonic_file.read_text()
        except OSError as exc:
            raise UsageError(
                f"cannot read {mnemonic_file}: {exc.strerror}",
                hint="point --mnemonic-file at a file with the 24 words",
            ) from exc
    else:
        assert mnemonic_env is not None
        text = os.environ.get(mnemonic_env, "")
        if not text:
            raise UsageError(
                f"environment variable {mnemonic_env} is empty",
                hint=f"export {mnemonic_env}='word1 word2 ... word24'",
            )
    words = text.split()
    if len(words) not in (12, 24):
        raise UsageError(
            f"the mnemonic has {len(words)} words", hint="a TON wallet mnemonic has 24 words"
        )
    return words


def devnet(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free port).")] = 8081,
    mnemonic_file: Annotated[
        Path | None, typer.Option(help="File with the faucet wallet's 24 words.")
    ] = None,
    mnemonic_env: Annotated[
        str | None, typer.Option(help="Environment variable holding the faucet's words.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the endpoint as JSON.")] = False,
) -> None:
    """Serve a local TON network (toncenter v2 API) over the embedded chain until Ctrl-C.

    Its faucet is a wallet v4r2 of the given mnemonic holding 5,000,000 TON; its clock follows
    the wall clock (POST /devnet/advance moves it on). Point `--network local` commands at the
    printed endpoint.
    """
    net = Devnet.create(read_mnemonic(mnemonic_file, mnemonic_env))
    with serve(net, port) as url:
        faucet = net.faucet.to_str(is_user_friendly=False) if net.faucet else ""
        if as_json:
            # One line, flushed: a script reads it from a pipe while the server runs on.
            line = {"endpoint": url, "faucet": faucet, "faucet_nanoton": FAUCET_FUNDS}
            print(json.dumps(line), flush=True)
        else:
            console.print(f"local TON network at [bold]{url}[/bold] (toncenter v2)")
            console.print(f"faucet wallet v4r2 {faucet} holds {FAUCET_FUNDS // 10**9:,} TON")
            console.print("Ctrl-C stops it; its state lives in memory only.")
        # SIGINT and SIGTERM stop it, as they stop the oracle, indexer and keeper loops. The
        # handlers are installed explicitly: a process started from a background job inherits
        # SIGINT ignored, and Python then never raises KeyboardInterrupt. Short sleeps, not one
        # endless wait: a handler runs only between them.
        stopping = threading.Event()
        with on_stop_signals(lambda _signum: stopping.set()):
            while not stopping.is_set():
                time.sleep(0.2)
        console.print("stopped")
