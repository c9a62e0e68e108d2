"""The `cocoon-pool` entry point outside CliRunner (exit codes, a bare sub-command's help,
the version from a checkout never installed) and readable exit codes."""

from __future__ import annotations

import sys
from importlib import metadata

import pytest

from cocoon_pool import __version__
from cocoon_pool.cli import app as app_module
from cocoon_pool.contracts import exit_codes


def test_exit_codes_are_named_by_contract_tvm_or_number() -> None:
    stake = exit_codes.code("STAKE_BELOW_MINIMUM")
    assert exit_codes.code("ERR_STAKE_BELOW_MINIMUM") == stake
    assert exit_codes.describe(stake) == f"STAKE_BELOW_MINIMUM ({stake})"
    assert exit_codes.describe(9) == "cell underflow (malformed message body) (9)"
    assert exit_codes.describe(60_001) == "exit code 60001"


def test_a_bare_sub_command_prints_its_help_and_exits_0(
    capfd: pytest.CaptureFixture[str],
) -> None:
    assert app_module.main(["bench"]) == 0
    out, err = capfd.readouterr()
    assert "Usage:" in out + err and "error:" not in out + err
    assert "Benchmarks: gas per operation" in out + err


def test_an_unknown_command_is_a_usage_error(capfd: pytest.CaptureFixture[str]) -> None:
    assert app_module.main(["no-such-command"]) == 2
    assert capfd.readouterr().err.startswith("error: No such command 'no-such-command'")


def test_a_command_returning_an_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    """`bench fuzz` exits 1 on a break; 0 here. Typer's own Exit carries the code through."""
    assert app_module.main(["info", "--help"]) == 0
    assert "Usage:" in capsys.readouterr().out


def test_version_from_a_checkout_that_was_never_installed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def missing(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", missing)
    assert app_module.version_text().startswith(f"cocoon-pool {__version__} (contracts ")
    monkeypatch.setattr(sys, "argv", ["cocoon-pool", "--version"])
    with pytest.raises(SystemExit) as done:
        app_module.run()
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"cocoon-pool {__version__} (contracts compiled with Tolk ")
