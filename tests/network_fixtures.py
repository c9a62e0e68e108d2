"""Shared set-up of the CLI tests against a local devnet: the served devnet, the pool.toml
they write, and the admin (the devnet's faucet) whose words the CLI reads from a variable.

Why shared: `deploy`, `member` and `keeper` tests each need the same pool.toml and the same
admin set-up; one copy keeps them from drifting apart as the config format grows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cocoon_pool.chain.types import raw_address
from cocoon_pool.cli.app import main
from cocoon_pool.devnet import Devnet, serve


def serve_devnet(admin_words: list[str]) -> Iterator[tuple[Devnet, str]]:
    """Body of a module-scoped ``endpoint`` fixture: a devnet whose faucet has these words."""
    net = Devnet.create(admin_words)
    with serve(net) as url:
        yield net, url


def pool_toml(
    url: str,
    admin: str,
    *,
    mnemonic_env: str,
    oracle_key: int,
    network: str = "local",
    pool_id: int | None = None,
    extra: str = "",
) -> str:
    """A pool.toml for ``url``; ``extra`` is appended as is (further sections)."""
    pool_id_line = "" if pool_id is None else f"id = {pool_id}\n"
    return f"""network = "{network}"

[api]
endpoint = "{url}"

[wallet]
mnemonic_env = "{mnemonic_env}"

[roles]
admin = "{admin}"

[pool]
{pool_id_line}oracle_keys = ["{oracle_key:064x}"]
{extra}"""


def write_pool_toml(tmp_path: Path, text: str) -> Path:
    """``text`` (from :func:`pool_toml`) as ``tmp_path / "pool.toml"``."""
    path = tmp_path / "pool.toml"
    path.write_text(text)
    return path


def devnet_admin(
    endpoint: tuple[Devnet, str],
    monkeypatch: pytest.MonkeyPatch,
    env: str,
    admin_words: list[str],
) -> tuple[Devnet, str, str]:
    """The devnet, its URL and its faucet's raw address, with the faucet's words in ``env``.

    The faucet is the admin: it is the devnet's one funded wallet from the start.
    """
    net, url = endpoint
    assert net.faucet is not None
    monkeypatch.setenv(env, " ".join(admin_words))
    return net, url, raw_address(net.faucet)


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``cocoon-pool argv`` in process: its exit code, stdout and stderr."""
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err
