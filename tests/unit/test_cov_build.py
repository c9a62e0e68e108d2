"""scripts/build_contracts.py's machinery (cocoon_pool.contracts.build) on a copy of
``compiled/``: it writes exactly what is missing or stale, removes what is superfluous, and
says no when the sources or the compiler do not match what was shipped."""

from __future__ import annotations

import dataclasses
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from cocoon_pool.contracts import build
from cocoon_pool.errors import CocoonPoolError


@pytest.fixture
def compiled_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``compiled/`` redirected to an empty folder (the checkout's own stays untouched)."""
    target = tmp_path / "compiled"
    monkeypatch.setattr(build, "COMPILED_DIR", target)
    build.read_shipped.cache_clear()
    yield target
    build.read_shipped.cache_clear()


def test_write_compiled_fills_an_empty_folder_then_has_nothing_to_do(compiled_copy: Path) -> None:
    expected = build.expected_compiled_files(use_cache=True)
    assert build.compiled_drift(use_cache=True) == sorted(expected)
    (compiled_copy / "sources").mkdir(parents=True)
    (compiled_copy / "sources" / "Gone.tolk").write_text("// removed contract\n")
    written = build.write_compiled(use_cache=True)
    assert written == sorted([*expected, "sources/Gone.tolk"])
    assert not (compiled_copy / "sources" / "Gone.tolk").exists()
    for name, data in expected.items():
        path = compiled_copy / name
        assert path.read_bytes() == data
        assert stat.S_IMODE(path.stat().st_mode) == 0o644  # package data every user reads
    assert build.write_compiled(use_cache=True) == []
    assert build.compiled_drift(use_cache=True) == []
    assert list(compiled_copy.rglob("*.tmp")) == []


def test_without_a_checkout_nothing_can_be_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build, "checkout_contracts_dir", lambda: None)
    with pytest.raises(CocoonPoolError, match="needs the Tolk sources of a source checkout"):
        build.expected_compiled_files()


def test_a_source_outside_contracts_cannot_be_shipped() -> None:
    src_dir = build.checkout_contracts_dir()
    assert src_dir is not None
    compiled = build.compile_contract(src_dir / "PoolOperator.tolk")
    outside = dataclasses.replace(compiled, sources=(*compiled.sources, Path(__file__)))
    with pytest.raises(CocoonPoolError, match=r"PoolOperator\.tolk reads .*outside"):
        build._shipped_record(outside, "PoolOperator", src_dir)


def test_a_cache_record_is_used_only_while_its_sources_are_unchanged(tmp_path: Path) -> None:
    source = tmp_path / "a.tolk"
    source.write_text("fun main() {}\n")
    record = tmp_path / "record.json"
    digest = build._sha256_file(source)
    record.write_text(json.dumps({"sources": {str(source): digest}}))
    assert build._load_cached(record) == {"sources": {str(source): digest}}
    source.write_text("fun main() { }\n")
    assert build._load_cached(record) is None  # edited since
    source.unlink()
    assert build._load_cached(record) is None  # gone
    record.write_text(json.dumps({"no": "sources"}))
    assert build._load_cached(record) is None
    record.write_text("{not json")
    assert build._load_cached(record) is None
    assert build._load_cached(tmp_path / "missing.json") is None


def test_a_failed_atomic_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        build._write_atomic(tmp_path / "out.json", 12345)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_shipped_code_counts_only_for_the_same_compiler_and_sources(tmp_path: Path) -> None:
    src_dir = build.checkout_contracts_dir()
    assert src_dir is not None
    shipped = build.read_shipped("Participant")
    assert build._built_from(shipped, src_dir)
    other_compiler = dataclasses.replace(shipped, tolk_version="0.0.1")
    assert not build._built_from(other_compiler, src_dir)
    assert not build._built_from(shipped, tmp_path)  # the sources are not there
    with pytest.raises(ValueError, match="'Nope' is not a pool contract"):
        build.pool_contract_code("Nope")
