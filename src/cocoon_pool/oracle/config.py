"""The oracle's configuration: a TOML file (see ``docs/oracle.md``).

::

    [oracle]
    database_url = "sqlite:///oracle.db"   # relative SQLite paths: next to this file
    poll_interval = 60                     # seconds between polls (one sample slot)
    timeout = 5.0                          # seconds per HTTP request
    concurrency = 16                       # HTTP requests in flight at once
    distribution = "EQ..."                 # the pool's RewardDistribution address
    key_file = "oracle.key"                # or: key_env = "COCOON_ORACLE_SEED"
    check_owner = true                     # worker owner_address must be the pool
    auto_report = true                     # `oracle run` signs reports when an epoch ends

    [epoch]
    start = 1767225600                     # unix time when epoch `first` starts
    length = 604800
    first = 0

    [scoring]
    points_per_token_per_second = 100
    [scoring.gpu_table]                    # replaces the default table when given
    "H100" = 100000

    [[members]]
    address = "EQ..."
    stats_url = "http://10.0.0.5:12000/jsonstats"
    health_url = "http://10.0.0.5:12001/health"   # optional
    name = "alice"                                 # optional label
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ton_core import Address

from cocoon_pool.chain.types import raw_address
from cocoon_pool.contracts.reports import OracleSigner
from cocoon_pool.oracle.db import resolve_database_url
from cocoon_pool.oracle.errors import OracleConfigError
from cocoon_pool.oracle.metrics import DEFAULT_GPU_TABLE, DEFAULT_POINTS_PER_TPS, Scoring

DEFAULT_DATABASE_URL = "sqlite:///oracle.db"
DEFAULT_INTERVAL = 60
DEFAULT_TIMEOUT = 5.0
DEFAULT_CONCURRENCY = 16
MAX_CONCURRENCY = 256
SEED_BYTES = 32


@dataclass(frozen=True)
class MemberConfig:
    address: str
    """Raw form ``<wc>:<hex>``; the database key of the member."""
    stats_url: str
    health_url: str | None = None
    name: str | None = None

    @property
    def label(self) -> str:
        return self.name or self.address


@dataclass(frozen=True)
class EpochConfig:
    start: int
    length: int
    first: int = 0

    def window_of(self, epoch: int) -> tuple[int, int]:
        """``(start, length)`` of on-chain epoch ``epoch`` (epochs follow each other)."""
        if epoch < self.first:
            raise OracleConfigError(
                f"epoch {epoch} is before the first configured epoch {self.first}",
                "pass --start and --length for epochs the [epoch] table does not cover",
            )
        return self.start + (epoch - self.first) * self.length, self.length

    def epoch_at(self, t: int) -> int:
        return self.first + (t - self.start) // self.length


@dataclass(frozen=True)
class KeySource:
    """Where the oracle's ed25519 seed is; the secret itself is read only on use."""

    file: Path | None = None
    env: str | None = None

    def describe(self) -> str:
        return f"key file {self.file}" if self.file else f"environment variable {self.env}"

    def load(self) -> OracleSigner:
        if self.file is not None:
            try:
                text = self.file.read_text(encoding="utf-8")
            except OSError as exc:
                raise OracleConfigError(
                    f"cannot read the oracle key file {self.file}: {exc.strerror}",
                    "create it with 64 hex characters (the 32-byte ed25519 seed), mode 600",
                ) from exc
        else:
            assert self.env is not None
            value = os.environ.get(self.env)
            if value is None:
                raise OracleConfigError(
                    f"environment variable {self.env} (the oracle key) is not set",
                    f"export {self.env}=<64 hex characters of the ed25519 seed>",
                )
            text = value
        return OracleSigner(_decode_seed(text.strip(), self.describe()))


def _decode_seed(text: str, where: str) -> bytes:
    seed: bytes | None = None
    try:
        seed = bytes.fromhex(text)
    except ValueError:
        try:
            seed = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            seed = None
    if seed is None or len(seed) != SEED_BYTES:
        # Never echo the content: it is (or is close to) the secret.
        raise OracleConfigError(
            f"the oracle key in {where} is not a 32-byte seed",
            "store the ed25519 seed as 64 hex characters (or 44 base64 characters)",
        )
    return seed


@dataclass(frozen=True)
class OracleConfig:
    path: Path
    database_url: str
    interval: int
    timeout: float
    concurrency: int
    distribution: str
    """Raw form of the pool's RewardDistribution address."""
    key: KeySource
    epoch: EpochConfig
    members: tuple[MemberConfig, ...]
    scoring: Scoring = field(default_factory=Scoring)
    check_owner: bool = True
    auto_report: bool = True


def _err(path: Path, message: str, hint: str) -> OracleConfigError:
    return OracleConfigError(f"{path}: {message}", hint)


def _table(data: Mapping[str, Any], key: str, path: Path, required: bool = True) -> dict[str, Any]:
    value = data.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise _err(path, f"missing table [{key}]", "see docs/oracle.md for a complete example")
    return value


def _int(
    table: Mapping[str, Any],
    key: str,
    where: str,
    path: Path,
    *,
    span: tuple[int, int],
    default: int | None = None,
) -> int:
    low, high = span
    value = table.get(key, default)
    if value is None:
        raise _err(path, f"missing {where}.{key}", f"set {key} to a whole number ({low}..{high})")
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _err(
            path,
            f"{where}.{key} = {value!r} is not a whole number in {low}..{high}",
            f"set {key} to a whole number between {low} and {high}",
        )
    return value


def _str(table: Mapping[str, Any], key: str, where: str, path: Path) -> str | None:
    value = table.get(key)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise _err(path, f"{where}.{key} must be a non-empty string", f"quote the {key} value")
    return value.strip() if isinstance(value, str) else None


def _address(value: object, where: str, path: Path) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _err(path, f"missing {where}", "give a TON address (EQ..., UQ... or 0:<hex>)")
    try:
        return raw_address(Address(value.strip()))
    except Exception as exc:  # pytoniq raises plain exceptions of several types
        raise _err(
            path,
            f"{where} = {value!r} is not a TON address",
            "give a TON address (EQ..., UQ... or 0:<hex>)",
        ) from exc


def _url(value: object, where: str, path: Path) -> str:
    if not isinstance(value, str):
        raise _err(path, f"missing {where}", "give an http:// or https:// URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _err(
            path,
            f"{where} = {value!r} is not an http(s) URL",
            "give e.g. http://10.0.0.5:12000/jsonstats",
        )
    return value


def _members(raw: object, path: Path) -> tuple[MemberConfig, ...]:
    if not isinstance(raw, list) or not raw:
        raise _err(
            path,
            "no [[members]] to watch",
            "add a [[members]] table per member with address and stats_url",
        )
    members: list[MemberConfig] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw):
        where = f"members[{i}]"
        if not isinstance(entry, dict):
            raise _err(path, f"{where} is not a table", "write each member as [[members]]")
        address = _address(entry.get("address"), f"{where}.address", path)
        if address in seen:
            raise _err(
                path, f"{where}.address {entry['address']} is listed twice", "list each member once"
            )
        seen.add(address)
        health = entry.get("health_url")
        members.append(
            MemberConfig(
                address=address,
                stats_url=_url(entry.get("stats_url"), f"{where}.stats_url", path),
                health_url=None if health is None else _url(health, f"{where}.health_url", path),
                name=_str(entry, "name", where, path),
            )
        )
    return tuple(members)


def _scoring(raw: Mapping[str, Any], path: Path) -> Scoring:
    points = _int(
        raw,
        "points_per_token_per_second",
        "scoring",
        path,
        span=(0, 1_000_000),
        default=DEFAULT_POINTS_PER_TPS,
    )
    table_raw = raw.get("gpu_table")
    if table_raw is None:
        return Scoring(points_per_tps=points, gpu_table=DEFAULT_GPU_TABLE)
    if not isinstance(table_raw, dict):
        raise _err(path, "[scoring.gpu_table] must be a table", 'write e.g. "H100" = 100000')
    table = {
        str(name).upper(): _int(table_raw, name, "scoring.gpu_table", path, span=(0, 1_000_000))
        for name in table_raw
    }
    return Scoring(points_per_tps=points, gpu_table=tuple(sorted(table.items())))


def parse_config(data: Mapping[str, Any], path: Path) -> OracleConfig:
    oracle = _table(data, "oracle", path)
    epoch = _table(data, "epoch", path)
    interval = _int(
        oracle, "poll_interval", "oracle", path, span=(1, 86_400), default=DEFAULT_INTERVAL
    )
    timeout = oracle.get("timeout", DEFAULT_TIMEOUT)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or not 0 < timeout < interval
    ):
        raise _err(
            path,
            f"oracle.timeout = {timeout!r} must be > 0 and below poll_interval",
            "a poll must finish before the next one is due; e.g. timeout = 5",
        )
    key_file = _str(oracle, "key_file", "oracle", path)
    key_env = _str(oracle, "key_env", "oracle", path)
    if (key_file is None) == (key_env is None):
        raise _err(
            path,
            "give exactly one of oracle.key_file and oracle.key_env",
            "point key_file at a file with the 32-byte seed in hex, or name an env var",
        )
    key = KeySource(
        file=(path.parent / key_file) if key_file else None,
        env=key_env,
    )
    database = oracle.get("database_url", DEFAULT_DATABASE_URL)
    if not isinstance(database, str) or not database:
        raise _err(
            path,
            "oracle.database_url must be a string",
            "use e.g. sqlite:///oracle.db or postgresql://user@host/dbname",
        )
    length = _int(epoch, "length", "epoch", path, span=(interval, 2**32 - 1))
    flags = {}
    for name in ("check_owner", "auto_report"):
        value = oracle.get(name, True)
        if not isinstance(value, bool):
            raise _err(path, f"oracle.{name} must be true or false", f"write {name} = true")
        flags[name] = value
    return OracleConfig(
        path=path,
        database_url=resolve_database_url(database, path.parent),
        interval=interval,
        timeout=float(timeout),
        concurrency=_int(
            oracle,
            "concurrency",
            "oracle",
            path,
            span=(1, MAX_CONCURRENCY),
            default=DEFAULT_CONCURRENCY,
        ),
        distribution=_address(oracle.get("distribution"), "oracle.distribution", path),
        key=key,
        epoch=EpochConfig(
            start=_int(epoch, "start", "epoch", path, span=(0, 2**40)),
            length=length,
            first=_int(epoch, "first", "epoch", path, span=(0, 2**32 - 1), default=0),
        ),
        members=_members(data.get("members"), path),
        scoring=_scoring(_table(data, "scoring", path, required=False), path),
        check_owner=flags["check_owner"],
        auto_report=flags["auto_report"],
    )


def load_config(path: Path) -> OracleConfig:
    """Read and validate ``path``; every problem is an OracleConfigError with a hint."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise OracleConfigError(
            f"cannot read the oracle config {path}: {exc.strerror}",
            "pass --config with the path of your oracle.toml (see docs/oracle.md)",
        ) from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise OracleConfigError(
            f"{path} is not valid TOML: {exc}", "fix the syntax at the position shown"
        ) from exc
    return parse_config(data, path.resolve())
