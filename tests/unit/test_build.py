"""Compiling Tolk with the pinned compiler, and the compile cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cocoon_pool.contracts import compile_contract, contracts_dir
from cocoon_pool.contracts.build import cache_dir, repo_root
from cocoon_pool.errors import CompileError

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
    assert cache_dir() == repo_root() / ".cache" / "tolk"
