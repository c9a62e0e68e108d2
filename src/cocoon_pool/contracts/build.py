"""Compile Tolk contracts with ``@ton/tolk-js`` (through the Node helper), with a disk cache.

The cache lives in ``.cache/tolk/`` at the repository root. Its key is the sha256 of the
compiler version, the options, the entry file's path and every ``*.tolk`` file under the entry's
directory tree; a hit is also checked against the recorded contents of every source the compiler
actually read (so imports from outside that tree invalidate it too).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ton_core import Cell

from cocoon_pool.chain.node import find_node_dir, get_bridge
from cocoon_pool.errors import CompileError

CACHE_FORMAT = 1


@dataclass(frozen=True)
class CompiledContract:
    """The output of the Tolk compiler for one entry file."""

    path: Path
    code: Cell
    code_boc64: str
    code_hash: bytes
    fift: str
    tolk_version: str
    sources: tuple[Path, ...]
    from_cache: bool

    @property
    def code_hash_hex(self) -> str:
        return self.code_hash.hex()


def repo_root() -> Path:
    return find_node_dir().parent


def contracts_dir() -> Path:
    """The repository's ``contracts/`` directory (the pool's Tolk sources)."""
    return repo_root() / "contracts"


def cache_dir() -> Path:
    return repo_root() / ".cache" / "tolk"


def tolk_version() -> str:
    """The pinned compiler version, read from its package.json (no Node start needed)."""
    pkg = find_node_dir() / "node_modules" / "@ton" / "tolk-js" / "package.json"
    try:
        version = json.loads(pkg.read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError):
        return "unknown"
    return str(version)


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cache_key(entry: Path, optimization_level: int, version: str) -> str:
    h = hashlib.sha256()
    h.update(f"format={CACHE_FORMAT};tolk={version};O={optimization_level};".encode())
    h.update(str(entry).encode())
    root = entry.parent
    for src in sorted(root.rglob("*.tolk")):
        h.update(b"\0" + str(src.relative_to(root)).encode() + b"\0")
        h.update(src.read_bytes())
    return h.hexdigest()


def _from_record(entry: Path, record: dict[str, Any], from_cache: bool) -> CompiledContract:
    code_boc64 = str(record["codeBoc64"])
    return CompiledContract(
        path=entry,
        code=Cell.one_from_boc(base64.b64decode(code_boc64)),
        code_boc64=code_boc64,
        code_hash=bytes.fromhex(str(record["codeHashHex"])),
        fift=str(record["fiftCode"]),
        tolk_version=str(record["tolkVersion"]),
        sources=tuple(Path(p) for p in record["sources"]),
        from_cache=from_cache,
    )


def _load_cached(path: Path) -> dict[str, Any] | None:
    try:
        record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    try:
        for src, digest in record["sources"].items():
            if _sha256_file(Path(src)) != digest:
                return None
    except (OSError, KeyError, AttributeError):
        return None
    return record


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def compile_contract(
    path: Path | str, *, optimization_level: int = 2, use_cache: bool = True
) -> CompiledContract:
    """Compile one Tolk entry file; raise :class:`CompileError` with the compiler's message."""
    entry = Path(path).resolve()
    if not entry.is_file():
        raise CompileError(
            f"no such Tolk file: {entry}", hint="check the path (relative paths use the cwd)"
        )
    version = tolk_version()
    key = _cache_key(entry, optimization_level, version)
    cache_file = cache_dir() / f"{entry.stem}-{key[:32]}.json"
    if use_cache:
        cached = _load_cached(cache_file)
        if cached is not None:
            return _from_record(entry, cached, from_cache=True)

    res = get_bridge().request("compile", entry=str(entry), optimizationLevel=optimization_level)
    if not res.get("ok"):
        message = str(res.get("message", "unknown compiler error")).strip()
        raise CompileError(
            f"Tolk compilation of {entry.name} failed:\n{message}",
            hint="fix the reported line in the Tolk source (the compiler is Tolk "
            f"{version}; see the stdlib in node/node_modules/@ton/tolk-js/dist/tolk-stdlib)",
        )
    sources = sorted({str(Path(p).resolve()) for p in res["sources"]})
    record: dict[str, Any] = {
        "codeBoc64": res["codeBoc64"],
        "codeHashHex": res["codeHashHex"],
        "fiftCode": res["fiftCode"],
        "tolkVersion": res["tolkVersion"],
        "sources": {src: _sha256_file(Path(src)) for src in sources},
    }
    if use_cache:
        _write_atomic(cache_file, json.dumps(record))
    return _from_record(entry, record, from_cache=False)
