"""Compile Tolk contracts with ``@ton/tolk-js`` (through the Node helper), with a disk cache,
and ship the compiled pool contracts so an installed package needs neither Node nor a checkout.

The cache lives in ``.cache/tolk/`` at the repository root. Its key is the sha256 of the
compiler version, the options, the entry file's path and every ``*.tolk`` file under the entry's
directory tree; a hit is also checked against the recorded contents of every source the compiler
actually read (so imports from outside that tree invalidate it too).

Shipped code: ``compiled/<Name>.json`` holds, for each of the four pool contracts, the code BOC,
its hash, the Tolk version and the sha256 of every source the compiler read; ``compiled/sources/``
is a byte-for-byte copy of ``contracts/*.tolk`` (the constants Python reads from the sources, and
what anyone can recompile to check the code hash). Both are written by
``scripts/build_contracts.py`` and committed; ``tests/unit/test_build.py`` fails whenever they
differ from what the current sources compile to. :func:`pool_contract_code` explains which of the
two (shipped or freshly compiled) code is used.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ton_core import Cell

from cocoon_pool.chain.node import find_node_dir, get_bridge
from cocoon_pool.errors import CocoonPoolError, CompileError, ToolchainError

CACHE_FORMAT = 1

# The four contracts a pool consists of; their compiled code ships with the package.
POOL_CONTRACTS = ("PoolOperator", "ParticipantRegistry", "Participant", "RewardDistribution")
COMPILED_DIR = Path(__file__).resolve().with_name("compiled")
SHIPPED_SOURCES_DIR = COMPILED_DIR / "sources"
SHIPPED_FORMAT = 1
SHIPPED_OPTIMIZATION_LEVEL = 2
BUILD_COMMAND = ".venv/bin/python scripts/build_contracts.py"


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


def checkout_contracts_dir() -> Path | None:
    """``contracts/`` of the source checkout this module runs from, or None once installed.

    Found from this file's own place (``src/cocoon_pool/contracts/build.py``), not from
    ``$COCOON_POOL_NODE_DIR``: an installed package must use its own shipped contracts even when
    it borrows a checkout's Node helper for the embedded chain.
    """
    root = Path(__file__).resolve().parents[3]
    candidate = root / "contracts"
    if (root / "pyproject.toml").is_file() and (candidate / "PoolOperator.tolk").is_file():
        return candidate
    return None


def contracts_dir() -> Path:
    """The pool's Tolk sources: the checkout's ``contracts/``, else the copy shipped with it."""
    return checkout_contracts_dir() or SHIPPED_SOURCES_DIR


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


def _write_atomic(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
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


# -- shipped compiled pool contracts ---------------------------------------------------------


@dataclass(frozen=True)
class ShippedContract:
    """One pool contract as shipped in ``compiled/<name>.json``."""

    name: str
    code: Cell
    tolk_version: str
    # (path relative to contracts/, sha256) of every source the compiler read, sorted
    sources: tuple[tuple[str, str], ...]


def _shipped_record(compiled: CompiledContract, name: str, src_dir: Path) -> dict[str, Any]:
    sources: dict[str, str] = {}
    for src in compiled.sources:
        try:
            rel = src.resolve().relative_to(src_dir.resolve())
        except ValueError:
            raise CompileError(
                f"{name}.tolk reads {src}, which is outside {src_dir}",
                hint="keep every source of a pool contract in contracts/ so the package ships it",
            ) from None
        sources[rel.as_posix()] = _sha256_file(src)
    return {
        "format": SHIPPED_FORMAT,
        "name": name,
        "tolkVersion": compiled.tolk_version,
        "optimizationLevel": SHIPPED_OPTIMIZATION_LEVEL,
        "codeHashHex": compiled.code_hash_hex,
        "codeBoc64": compiled.code_boc64,
        "sources": dict(sorted(sources.items())),
    }


def expected_compiled_files(*, use_cache: bool = True) -> dict[str, bytes]:
    """What ``compiled/`` must hold for the checkout's sources: path in compiled/ -> bytes."""
    src_dir = checkout_contracts_dir()
    if src_dir is None:
        raise ToolchainError(
            "building the shipped contracts needs the Tolk sources of a source checkout",
            hint=f"run `{BUILD_COMMAND}` in a clone of the repository",
        )
    files: dict[str, bytes] = {}
    for name in POOL_CONTRACTS:
        compiled = compile_contract(
            src_dir / f"{name}.tolk",
            optimization_level=SHIPPED_OPTIMIZATION_LEVEL,
            use_cache=use_cache,
        )
        record = _shipped_record(compiled, name, src_dir)
        files[f"{name}.json"] = (json.dumps(record, indent=2) + "\n").encode()
    for src in sorted(src_dir.rglob("*.tolk")):
        files[f"sources/{src.relative_to(src_dir).as_posix()}"] = src.read_bytes()
    return files


def _present_compiled_files() -> dict[str, bytes]:
    if not COMPILED_DIR.is_dir():
        return {}
    return {
        path.relative_to(COMPILED_DIR).as_posix(): path.read_bytes()
        for path in sorted(COMPILED_DIR.rglob("*"))
        if path.is_file() and path.suffix in {".json", ".tolk"}
    }


def compiled_drift(*, use_cache: bool = True) -> list[str]:
    """Files of ``compiled/`` that are missing, stale or superfluous (empty when up to date)."""
    expected = expected_compiled_files(use_cache=use_cache)
    present = _present_compiled_files()
    return sorted(n for n in expected.keys() | present.keys() if expected.get(n) != present.get(n))


def write_compiled(*, use_cache: bool = False) -> list[str]:
    """Recompile the pool contracts into ``compiled/``; return the files written or removed."""
    expected = expected_compiled_files(use_cache=use_cache)
    present = _present_compiled_files()
    changed: list[str] = []
    for name in sorted(expected.keys() | present.keys()):
        if expected.get(name) == present.get(name):
            continue
        if name in expected:
            _write_atomic(COMPILED_DIR / name, expected[name])
            # mkstemp creates 0600 files; these are package data that every user reads
            (COMPILED_DIR / name).chmod(0o644)
        else:
            (COMPILED_DIR / name).unlink()
        changed.append(name)
    read_shipped.cache_clear()
    return changed


@cache
def read_shipped(name: str) -> ShippedContract:
    """The shipped compiled code of pool contract ``name``, checked against its recorded hash."""
    path = COMPILED_DIR / f"{name}.json"
    hint = f"reinstall cocoon-pool (in a source checkout: run `{BUILD_COMMAND}`)"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        boc = base64.b64decode(str(record["codeBoc64"]), validate=True)
        code_hash = bytes.fromhex(str(record["codeHashHex"]))
        version = str(record["tolkVersion"])
        sources = tuple(sorted((str(k), str(v)) for k, v in record["sources"].items()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CocoonPoolError(
            f"the shipped contract {path} is missing or unreadable: {exc}", hint
        ) from exc
    try:
        code = Cell.one_from_boc(boc)
    except Exception as exc:  # ton_core raises several types for a malformed BOC
        raise CocoonPoolError(f"the shipped contract {path} holds a malformed BOC", hint) from exc
    if code.hash != code_hash:
        raise CocoonPoolError(f"the shipped code in {path} does not match its code hash", hint)
    return ShippedContract(name=name, code=code, tolk_version=version, sources=sources)


def shipped_tolk_version() -> str:
    """The Tolk compiler version the shipped pool contracts were compiled with."""
    return ", ".join(sorted({read_shipped(name).tolk_version for name in POOL_CONTRACTS}))


def _built_from(shipped: ShippedContract, src_dir: Path) -> bool:
    """True when ``shipped`` is what compiling ``src_dir`` with the installed compiler gives."""
    try:
        # Without node_modules nothing can compile, so the version cannot disagree.
        installed = tolk_version()
    except ToolchainError:
        installed = "unknown"
    if installed not in {"unknown", shipped.tolk_version}:
        return False
    try:
        return all(_sha256_file(src_dir / rel) == digest for rel, digest in shipped.sources)
    except OSError:
        return False


def pool_contract_code(name: str) -> Cell:
    """The code of pool contract ``name`` (one of :data:`POOL_CONTRACTS`).

    One rule: the shipped code is used when it was compiled from exactly the sources at hand
    (the sha256 of every file the compiler read) with the installed compiler; otherwise the
    sources are compiled, which needs Node.

    - Installed package: there is no checkout, the shipped code is used; no Node, no sources.
    - Checkout with unchanged sources: the shipped code too, so ``cocoon-pool info`` needs no
      Node there either; the drift test proves that compiling would give the same bytes.
    - Checkout with edited sources: they are compiled (and cached), so a developer's edit
      takes effect at once; the drift test then fails until ``scripts/build_contracts.py``
      rewrites the shipped files.
    """
    if name not in POOL_CONTRACTS:
        raise ValueError(f"{name!r} is not a pool contract; expected one of {POOL_CONTRACTS}")
    src_dir = checkout_contracts_dir()
    if src_dir is None:
        return read_shipped(name).code
    try:
        shipped: ShippedContract | None = read_shipped(name)
    except CocoonPoolError:
        shipped = None  # not built yet (or damaged) in this checkout: compile instead
    if shipped is not None and _built_from(shipped, src_dir):
        return shipped.code
    entry = src_dir / f"{name}.tolk"
    return compile_contract(entry, optimization_level=SHIPPED_OPTIMIZATION_LEVEL).code
