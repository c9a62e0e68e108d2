"""Compiling Tolk with the pinned compiler, the compile cache, and the shipped contracts."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from cocoon_pool import __version__
from cocoon_pool.chain import node
from cocoon_pool.chain.node import NodeBridge, find_node_dir
from cocoon_pool.cli.app import main
from cocoon_pool.contracts import build, compile_contract, contracts_dir
from cocoon_pool.contracts.build import (
    BUILD_COMMAND,
    COMPILED_DIR,
    POOL_CONTRACTS,
    SHIPPED_SOURCES_DIR,
    cache_dir,
    checkout_contracts_dir,
    compiled_drift,
    pool_contract_code,
    read_shipped,
    repo_root,
)
from cocoon_pool.errors import CocoonPoolError, CompileError, ToolchainError

FIXTURES = Path(__file__).parent.parent / "fixtures"


def test_compile_and_cache_hit(tmp_path: Path) -> None:
    src = tmp_path / "counter.tolk"
    shutil.copy(FIXTURES / "counter.tolk", src)
    first = compile_contract(src)
    assert not first.from_cache
    assert first.tolk_version == "1.3.0"
    assert first.code.hash == first.code_hash
    assert "DECLMETHOD" in first.fift
    assert first.sources == (src.resolve(),)
    second = compile_contract(src)
    assert second.from_cache
    assert second.code.hash == first.code.hash
    assert second.fift == first.fift
    # any change of a source in the tree recompiles
    (tmp_path / "unused.tolk").write_text("fun unused(): int { return 1; }\n")
    assert not compile_contract(src).from_cache


def test_imports_are_tracked(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    lib = tmp_path / "lib" / "math.tolk"
    lib.write_text("fun answer(): int { return 42; }\n")
    main = tmp_path / "main.tolk"
    main.write_text(
        'import "lib/math"\n\nfun onInternalMessage(in: InMessage) {}\n\n'
        "get fun get_answer(): int { return answer(); }\n"
    )
    compiled = compile_contract(main)
    assert set(compiled.sources) == {main.resolve(), lib.resolve()}
    assert compile_contract(main).from_cache
    lib.write_text("fun answer(): int { return 43; }\n")
    changed = compile_contract(main)
    assert not changed.from_cache
    assert changed.code.hash != compiled.code.hash


def test_compile_error_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tolk"
    bad.write_text("fun onInternalMessage(in: InMessage) {\n    val x: int = undefinedThing;\n}\n")
    with pytest.raises(CompileError) as info:
        compile_contract(bad)
    assert "undefinedThing" in info.value.message
    assert info.value.hint
    with pytest.raises(CompileError, match="no such Tolk file"):
        compile_contract(tmp_path / "missing.tolk")


def test_paths() -> None:
    assert (repo_root() / "node" / "bridge.mjs").is_file()
    assert contracts_dir() == repo_root() / "contracts"
    assert checkout_contracts_dir() == repo_root() / "contracts"
    assert cache_dir() == repo_root() / ".cache" / "tolk"


def test_shipped_contracts_are_current() -> None:
    """The committed compiled contracts are exactly what the current sources compile to."""
    stale = compiled_drift()
    assert not stale, (
        "the shipped contracts in src/cocoon_pool/contracts/compiled/ differ from what "
        f"contracts/*.tolk compile to ({', '.join(stale)}): run `{BUILD_COMMAND}` "
        "and commit the files it writes"
    )


def _shipped_hash(name: str) -> str:
    return str(json.loads((COMPILED_DIR / f"{name}.json").read_text())["codeHashHex"])


def _no_compiler(*args: object, **kwargs: object) -> None:
    raise AssertionError("compiled although the shipped code applies")


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """This package as pip installs it: no checkout around it, no Node anywhere."""
    monkeypatch.setattr(build, "checkout_contracts_dir", lambda: None)
    monkeypatch.setattr(build, "compile_contract", _no_compiler)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(node.NODE_DIR_ENV, raising=False)


@pytest.mark.usefixtures("installed")
def test_installed_package_uses_the_shipped_code_and_sources() -> None:
    for name in POOL_CONTRACTS:
        assert pool_contract_code(name).hash.hex() == _shipped_hash(name)
    assert contracts_dir() == SHIPPED_SOURCES_DIR
    # constants.py reads contracts_dir(): the shipped copy is the checkout's, byte for byte
    for src in (repo_root() / "contracts").glob("*.tolk"):
        assert (SHIPPED_SOURCES_DIR / src.name).read_bytes() == src.read_bytes()


@pytest.mark.usefixtures("installed")
def test_damaged_shipped_code_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shipped = tmp_path / "compiled"
    shutil.copytree(COMPILED_DIR, shipped)
    monkeypatch.setattr(build, "COMPILED_DIR", shipped)
    record = json.loads((shipped / "Participant.json").read_text())
    record["codeHashHex"] = "00" * 32
    (shipped / "Participant.json").write_text(json.dumps(record))
    (shipped / "PoolOperator.json").unlink()
    record = json.loads((shipped / "RewardDistribution.json").read_text())
    record["codeBoc64"] = base64.b64encode(b"not a bag of cells").decode()
    (shipped / "RewardDistribution.json").write_text(json.dumps(record))
    read_shipped.cache_clear()
    try:
        with pytest.raises(CocoonPoolError, match="does not match its code hash") as info:
            pool_contract_code("Participant")
        assert "reinstall" in info.value.hint
        with pytest.raises(CocoonPoolError, match="missing or unreadable"):
            pool_contract_code("PoolOperator")
        with pytest.raises(CocoonPoolError, match="holds a malformed BOC") as info:
            pool_contract_code("RewardDistribution")
        assert "reinstall" in info.value.hint
    finally:
        read_shipped.cache_clear()


def test_checkout_compiles_edited_sources(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    src = tmp_path / "contracts"
    shutil.copytree(repo_root() / "contracts", src)
    monkeypatch.setattr(build, "checkout_contracts_dir", lambda: src)
    compiled: list[str] = []
    real_compile = build.compile_contract

    def spy(path: Path, *, optimization_level: int = 2, use_cache: bool = True) -> object:
        compiled.append(Path(path).name)
        return real_compile(path, optimization_level=optimization_level, use_cache=use_cache)

    monkeypatch.setattr(build, "compile_contract", spy)
    # unchanged sources: the shipped code, no compiler
    shipped = pool_contract_code("ParticipantRegistry")
    assert compiled == []
    # an edited source it imports: compiled (a comment, so the code itself stays the same)
    fees = src / "fees.tolk"
    fees.write_text(fees.read_text() + "\n// edited\n")
    assert pool_contract_code("ParticipantRegistry").hash == shipped.hash
    assert compiled == ["ParticipantRegistry.tolk"]


def test_checkout_compiles_with_another_compiler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build, "tolk_version", lambda: "9.9.9")
    fake = SimpleNamespace(code="compiled")
    monkeypatch.setattr(build, "compile_contract", lambda *a, **k: fake)
    assert pool_contract_code("Participant") == "compiled"
    with pytest.raises(ValueError, match="not a pool contract"):
        pool_contract_code("wallet")


def test_missing_node_says_what_the_embedded_chain_needs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(node.NODE_DIR_ENV, raising=False)
    monkeypatch.setattr(node, "__file__", str(tmp_path / "site-packages" / "node.py"))
    with pytest.raises(ToolchainError, match=r"needs Node\.js 20 and the checkout's node/") as info:
        find_node_dir()
    assert "network back end" in info.value.hint
    monkeypatch.undo()
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolchainError, match="`node` is not on PATH") as info:
        NodeBridge(find_node_dir()).request("compile", entry="x.tolk")
    assert "install Node.js 20" in info.value.hint


def test_version_names_the_shipped_compiler(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    expected = f"cocoon-pool {__version__} (contracts compiled with Tolk 1.3.0)\n"
    assert capsys.readouterr().out == expected


def test_a_compiler_package_that_cannot_be_read_is_an_unknown_version(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(build, "find_node_dir", lambda: tmp_path)
    assert build.tolk_version() == "unknown"  # no node_modules at all
    package = tmp_path / "node_modules" / "@ton" / "tolk-js" / "package.json"
    package.parent.mkdir(parents=True)
    package.write_text('{"name": "@ton/tolk-js"}')
    assert build.tolk_version() == "unknown"  # no version in it
    package.write_text('{"version": "1.2.3"}')
    assert build.tolk_version() == "1.2.3"
