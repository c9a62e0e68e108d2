"""The oracle's configuration: a TOML file (see ``docs/oracle.md``).

::

    [oracle]
    database_url = "sqlite:///oracle.db"   # relative SQLite paths: next to this file
    poll_interval = 60                     # seconds between polls (one sample slot)
    timeout = 5.0                          # seconds per HTTP request
    attempts = 3                           # tries per HTTP request (1 = no retry)
    retry_backoff = 0.5                    # seconds before the 2nd try, doubled after
    concurrency = 16                       # HTTP requests in flight at once
    discard_poll_down_fraction = 0.9       # this share unreachable: the oracle's failure
    discard_poll_min_members = 3           # ... judged only from this many members up
    distribution = "EQ..."                 # the pool's RewardDistribution address
    network = "mainnet"                    # or "testnet": signed into every report
    key_index = 0                          # this oracle's key in the pool's oracle set
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

The file is validated by the pydantic models below in strict mode with unknown keys
forbidden, so a typo (``pol_interval``) or a quoted number is an error naming the key and
the file rather than a silently applied default. The models are the schema only; callers
get the frozen dataclasses :class:`OracleConfig` and friends.
"""

from __future__ import annotations

import base64
import binascii
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)
from pydantic_core import PydanticCustomError
from ton_core import Address

from cocoon_pool.chain.types import raw_address
from cocoon_pool.config_errors import SchemaErrors, summary
from cocoon_pool.contracts.reports import MAINNET_GLOBAL_ID, TESTNET_GLOBAL_ID, OracleSigner
from cocoon_pool.economics import MAX_GPU_SCORE
from cocoon_pool.oracle.db import resolve_database_url
from cocoon_pool.oracle.errors import OracleConfigError
from cocoon_pool.oracle.metrics import DEFAULT_GPU_TABLE, DEFAULT_POINTS_PER_TPS, Scoring

DEFAULT_DATABASE_URL = "sqlite:///oracle.db"
DEFAULT_INTERVAL = 60
DEFAULT_TIMEOUT = 5.0
DEFAULT_CONCURRENCY = 16
MAX_CONCURRENCY = 256
DEFAULT_ATTEMPTS = 3
MAX_ATTEMPTS = 10
DEFAULT_RETRY_BACKOFF = 0.5
MAX_RETRY_BACKOFF = 60.0
DEFAULT_DISCARD_FRACTION = 0.9
DEFAULT_DISCARD_MIN_MEMBERS = 3
POLL_BUDGET_SHARE = 0.8
"""A poll, retries included, ends within this share of ``poll_interval`` (or ``timeout``
when that is longer), leaving the rest for storing the samples before the next poll."""
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
    attempts: int = DEFAULT_ATTEMPTS
    """Tries per HTTP request within one poll (1 = no retry)."""
    retry_backoff: float = DEFAULT_RETRY_BACKOFF
    """Seconds before the second try; each further pause is twice the previous one."""
    discard_poll_down_fraction: float = DEFAULT_DISCARD_FRACTION
    discard_poll_min_members: int = DEFAULT_DISCARD_MIN_MEMBERS
    network: str = "mainnet"
    """The network the pool runs on; its global id is signed into every report."""
    key_index: int = 0
    """This oracle's index in the pool's oracle key set (0 for a 1-of-1 set)."""

    @property
    def global_id(self) -> int:
        return MAINNET_GLOBAL_ID if self.network == "mainnet" else TESTNET_GLOBAL_ID

    @property
    def poll_budget(self) -> float:
        """Seconds a whole poll may take, retries included; always below ``interval``."""
        return max(self.interval * POLL_BUDGET_SHARE, self.timeout)


# -- the file's schema ------------------------------------------------------------------


def _ton_address(value: str) -> str:
    try:
        return raw_address(Address(value))
    except Exception as exc:  # ton-core (pytoniq_core inside) raises several exception types
        raise PydanticCustomError("ton_address", "not a TON address") from exc


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PydanticCustomError("http_url", "not an http(s) URL")
    return value


NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
TonAddress = Annotated[NonEmpty, AfterValidator(_ton_address)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
TableScore = Annotated[int, Field(ge=0, le=MAX_GPU_SCORE)]


class _Schema(BaseModel):
    # strict: TOML has real types, so "60" or 1-for-true are mistakes, not conversions.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class OracleTable(_Schema):
    distribution: TonAddress
    network: Literal["mainnet", "testnet"] = "mainnet"
    key_index: Annotated[int, Field(ge=0, le=15)] = 0
    database_url: NonEmpty = DEFAULT_DATABASE_URL
    poll_interval: Annotated[int, Field(ge=1, le=86_400)] = DEFAULT_INTERVAL
    timeout: Seconds = DEFAULT_TIMEOUT
    attempts: Annotated[int, Field(ge=1, le=MAX_ATTEMPTS)] = DEFAULT_ATTEMPTS
    retry_backoff: Annotated[float, Field(ge=0, le=MAX_RETRY_BACKOFF, allow_inf_nan=False)] = (
        DEFAULT_RETRY_BACKOFF
    )
    concurrency: Annotated[int, Field(ge=1, le=MAX_CONCURRENCY)] = DEFAULT_CONCURRENCY
    # Above one half: a threshold any lower would let a poll in which most workers really
    # were down be written off as the oracle's failure.
    discard_poll_down_fraction: Annotated[float, Field(gt=0.5, le=1.0)] = DEFAULT_DISCARD_FRACTION
    discard_poll_min_members: Annotated[int, Field(ge=1, le=1_000_000)] = (
        DEFAULT_DISCARD_MIN_MEMBERS
    )
    key_file: NonEmpty | None = None
    key_env: NonEmpty | None = None
    check_owner: bool = True
    auto_report: bool = True


class EpochTable(_Schema):
    start: Annotated[int, Field(ge=0, le=2**40)]
    length: Annotated[int, Field(ge=1, le=2**32 - 1)]
    first: Annotated[int, Field(ge=0, le=2**32 - 1)] = 0


class ScoringTable(_Schema):
    points_per_token_per_second: Annotated[int, Field(ge=0, le=1_000_000)] = DEFAULT_POINTS_PER_TPS
    gpu_table: dict[str, TableScore] | None = None


class MemberEntry(_Schema):
    address: TonAddress
    stats_url: HttpUrl
    health_url: HttpUrl | None = None
    name: NonEmpty | None = None


class OracleFile(_Schema):
    oracle: OracleTable
    epoch: EpochTable
    scoring: ScoringTable = Field(default_factory=ScoringTable)
    members: list[MemberEntry] = Field(default_factory=list)


# -- turning validation errors into one clear message -----------------------------------

_TABLES: dict[tuple[str, ...], type[BaseModel]] = {
    (): OracleFile,
    ("oracle",): OracleTable,
    ("epoch",): EpochTable,
    ("scoring",): ScoringTable,
    ("members", "*"): MemberEntry,
}
"""Where each schema model sits in the file; ``*`` stands for an array index."""

_HINTS = {
    "distribution": "give a TON address (EQ..., UQ... or 0:<hex>)",
    "address": "give a TON address (EQ..., UQ... or 0:<hex>)",
    "network": 'set network to "mainnet" or "testnet"',
    "key_index": "set key_index to this oracle's index in the pool's oracle set, 0..15",
    "database_url": "use e.g. sqlite:///oracle.db or postgresql://user@host/dbname",
    "poll_interval": "set poll_interval to a whole number of seconds, 1..86400",
    "timeout": "set timeout to the seconds one HTTP request may take, e.g. 5",
    "attempts": f"set attempts to a whole number of tries per request, 1..{MAX_ATTEMPTS}",
    "retry_backoff": "set retry_backoff to the seconds before the second try, e.g. 0.5",
    "concurrency": f"set concurrency to a whole number, 1..{MAX_CONCURRENCY}",
    "discard_poll_down_fraction": (
        "set discard_poll_down_fraction to a number above 0.5 and at most 1, e.g. 0.9"
    ),
    "discard_poll_min_members": "set discard_poll_min_members to a whole number, e.g. 3",
    "key_file": "point key_file at a file with the 32-byte seed in hex",
    "key_env": "name the environment variable that holds the seed",
    "check_owner": "write check_owner = true or false (no quotes)",
    "auto_report": "write auto_report = true or false (no quotes)",
    "start": "set start to the unix time (whole seconds) when epoch `first` starts",
    "length": "set length to the epoch length in whole seconds",
    "first": "set first to the on-chain number of the epoch that starts at `start`",
    "points_per_token_per_second": "set points_per_token_per_second to a whole number",
    "gpu_table": 'write e.g. "H100" = 100000',
    "stats_url": "give an http:// or https:// URL, e.g. http://10.0.0.5:12000/jsonstats",
    "health_url": "give an http:// or https:// URL, e.g. http://10.0.0.5:12001/health",
    "name": 'quote the label, e.g. name = "alice"',
}
_DEFAULT_HINT = "see docs/oracle.md for a complete example"


def _hint_for(shape: tuple[str, ...]) -> str:
    if shape[:2] == ("scoring", "gpu_table"):
        return _HINTS["gpu_table"]
    named = [part for part in shape if part != "*"]
    return _HINTS.get(named[-1], _DEFAULT_HINT) if named else _DEFAULT_HINT


_SCHEMA_ERRORS = SchemaErrors(
    tables=_TABLES,
    hint_for=_hint_for,
    default_hint=_DEFAULT_HINT,
    arrays={
        ("members",): ("members must be an array of tables", "write each member as [[members]]")
    },
)


def _schema_error(exc: ValidationError, path: Path) -> OracleConfigError:
    problems = _SCHEMA_ERRORS.problems(exc)
    return OracleConfigError(f"{path}: {summary(problems)}", problems[0].hint)


# -- from the validated file to OracleConfig --------------------------------------------


def _err(path: Path, message: str, hint: str) -> OracleConfigError:
    return OracleConfigError(f"{path}: {message}", hint)


def _members(entries: Sequence[MemberEntry], path: Path) -> tuple[MemberConfig, ...]:
    if not entries:
        raise _err(
            path,
            "no [[members]] to watch",
            "add a [[members]] table per member with address and stats_url",
        )
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        if entry.address in seen:
            raise _err(
                path,
                f"members[{i}].address {entry.address} is listed twice",
                "list each member once",
            )
        seen.add(entry.address)
    return tuple(
        MemberConfig(address=e.address, stats_url=e.stats_url, health_url=e.health_url, name=e.name)
        for e in entries
    )


def _scoring(table: ScoringTable) -> Scoring:
    if table.gpu_table is None:
        return Scoring(
            points_per_tps=table.points_per_token_per_second, gpu_table=DEFAULT_GPU_TABLE
        )
    gpus = {name.upper(): score for name, score in table.gpu_table.items()}
    return Scoring(
        points_per_tps=table.points_per_token_per_second, gpu_table=tuple(sorted(gpus.items()))
    )


def parse_config(data: Mapping[str, Any], path: Path) -> OracleConfig:
    """Validate parsed TOML; every problem is an OracleConfigError naming key and file."""
    try:
        parsed = OracleFile.model_validate(dict(data))
    except ValidationError as exc:
        raise _schema_error(exc, path) from None
    oracle, epoch = parsed.oracle, parsed.epoch
    if oracle.timeout >= oracle.poll_interval:
        raise _err(
            path,
            f"oracle.timeout = {oracle.timeout:g} must be below poll_interval "
            f"({oracle.poll_interval})",
            "a poll must finish before the next one is due; e.g. timeout = 5",
        )
    if epoch.length < oracle.poll_interval:
        raise _err(
            path,
            f"epoch.length = {epoch.length} is shorter than oracle.poll_interval "
            f"({oracle.poll_interval})",
            "an epoch holds at least one sample slot; check both values",
        )
    if (oracle.key_file is None) == (oracle.key_env is None):
        raise _err(
            path,
            "give exactly one of oracle.key_file and oracle.key_env",
            "point key_file at a file with the 32-byte seed in hex, or name an env var",
        )
    members = _members(parsed.members, path)
    try:
        database_url = resolve_database_url(oracle.database_url, path.parent)
    except OracleConfigError as exc:
        raise _err(path, f"oracle.{exc.message}", exc.hint) from exc
    return OracleConfig(
        path=path,
        database_url=database_url,
        interval=oracle.poll_interval,
        timeout=oracle.timeout,
        concurrency=oracle.concurrency,
        distribution=oracle.distribution,
        key=KeySource(
            file=(path.parent / oracle.key_file) if oracle.key_file else None,
            env=oracle.key_env,
        ),
        epoch=EpochConfig(start=epoch.start, length=epoch.length, first=epoch.first),
        members=members,
        scoring=_scoring(parsed.scoring),
        check_owner=oracle.check_owner,
        auto_report=oracle.auto_report,
        attempts=oracle.attempts,
        retry_backoff=oracle.retry_backoff,
        discard_poll_down_fraction=oracle.discard_poll_down_fraction,
        network=oracle.network,
        key_index=oracle.key_index,
        discard_poll_min_members=oracle.discard_poll_min_members,
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
