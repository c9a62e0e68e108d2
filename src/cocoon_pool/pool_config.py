"""``pool.toml``: the one configuration file every pool command reads (docs/configuration.md).

::

    network = "testnet"                    # local | testnet | mainnet

    [api]
    endpoint = "https://testnet.toncenter.com/api/v2/"   # optional for local
    key_env = "TONCENTER_API_KEY"          # optional; or key_file = "toncenter.key"

    [wallet]
    mnemonic_env = "COCOON_POOL_MNEMONIC"  # or mnemonic_file = "admin.mnemonic"

    [roles]
    admin = "EQ..."
    pauser = "EQ..."                       # optional, default: the admin

    [pool]
    oracle_keys = ["<64 hex>"]             # the only required key of [pool]
    commission_bps = 1000                  # and the rest of PoolParams, with its defaults

    [addresses]                            # optional: known once the pool is deployed
    [database]                             # url, default sqlite:///pool.db next to this file
    [keeper]                               # poll_interval
    [indexer]                              # poll_interval
    [alerts]                               # optional: alerts service (docs/alerts.md)

The file is checked by strict pydantic models with unknown keys forbidden, then by
:func:`check_params` (the contracts' own limits, read from the Tolk sources), so a typo, a
quoted number or a commission of 20 % fails at load with the file and the key named. Secrets
(the wallet mnemonic, the API key) are never in the file: it names an environment variable
or a file, and they are read only when a command asks for them, as masked ``SecretStr``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
)
from pydantic_core import PydanticCustomError
from ton_core import Address
from ton_core.crypto.keys import mnemonic_is_valid

from cocoon_pool.alerts.schema import ALERT_HINTS, ALERT_QUIET_KEYS, AlertsTable
from cocoon_pool.config_errors import Problem, SchemaErrors, summary
from cocoon_pool.contracts.addresses import check_params, raw
from cocoon_pool.contracts.constants import ton
from cocoon_pool.contracts.pool import PoolParams
from cocoon_pool.errors import UsageError

if TYPE_CHECKING:
    from cocoon_pool.chain.network import NetworkChain, NetworkWallet

Network = Literal["local", "testnet", "mainnet"]
DEFAULT_DATABASE_URL = "sqlite:///pool.db"
DEFAULT_KEEPER_INTERVAL = 30
DEFAULT_INDEXER_INTERVAL = 10
MAX_POLL_INTERVAL = 86_400
U32_MAX = 2**32 - 1
MAX_COINS = 2**120
"""TL-B ``Coins`` (VarUInteger 16): what the contracts store amounts in."""
_DEFAULTS = PoolParams(oracle_key=0)
"""PoolParams' own defaults, so a key left out of [pool] deploys what the code deploys."""


class PoolConfigError(UsageError):
    """pool.toml is unreadable or invalid, or a secret it names cannot be read."""


# -- what callers get ---------------------------------------------------------------------


@dataclass(frozen=True)
class SecretSource:
    """Where a secret is: an environment variable or a file. The secret is read on use."""

    key: str
    """The config key prefix, e.g. ``wallet.mnemonic`` (``..._env`` / ``..._file``)."""
    what: str
    env: str | None = None
    file: Path | None = None

    def describe(self) -> str:
        return f"file {self.file}" if self.file else f"environment variable {self.env}"

    def read(self, config: Path) -> SecretStr:
        if self.file is not None:
            try:
                text = self.file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
                raise PoolConfigError(
                    f"cannot read the {self.what} file {self.file}: {reason}",
                    f"{self.key}_file in {config.name}: point it at a readable file (mode 600)",
                ) from None
        else:
            assert self.env is not None
            text = os.environ.get(self.env, "")
            if not text.strip():
                raise PoolConfigError(
                    f"environment variable {self.env} (the {self.what}) is not set",
                    f"export {self.env}, or set {self.key}_file in {config.name}",
                )
        return SecretStr(text.strip())


@dataclass(frozen=True)
class KnownAddresses:
    """The deployed pool's addresses, as written in the file (any may be unknown)."""

    operator: Address | None = None
    registry: Address | None = None
    distribution: Address | None = None


@dataclass(frozen=True)
class PoolFile:
    """A validated pool.toml. Holds no secret, only where to find them."""

    path: Path
    network: Network
    endpoint: str | None
    """Base URL of the TON API; None on ``local`` means the embedded emulator."""
    admin: Address
    pauser: Address
    pool_params: PoolParams
    addresses: KnownAddresses
    database_url: str
    """SQLite (relative paths resolved next to the file) or PostgreSQL, never a password."""
    keeper_poll_interval: int
    indexer_poll_interval: int
    mnemonic_source: SecretSource | None = None
    api_key_source: SecretSource | None = None
    wallet_version: str = "v4r2"
    """The signing wallet's contract: v4r2 or v5r1."""
    alerts: AlertsTable | None = None
    """``[alerts]`` as written (cocoon_pool.alerts.config resolves it); None when absent."""

    def params(self) -> PoolParams:
        return self.pool_params

    def network_chain(self, **options: Any) -> NetworkChain:
        """The network back end for this file's endpoint, API key and network."""
        from cocoon_pool.chain.network import NetworkChain  # noqa: PLC0415 (tonutils: slow)

        if self.endpoint is None:
            raise PoolConfigError(
                f"{self.path.name} names no API endpoint for the {self.network} network",
                "set [api] endpoint (for local: start `cocoon-pool devnet` and use its URL)",
            )
        key = self.api_key()
        return NetworkChain(
            self.endpoint,
            api_key=None if key is None else key.get_secret_value(),
            testnet=self.network == "testnet",
            **options,
        )

    def signing_wallet(self, chain: NetworkChain, name: str) -> NetworkWallet:
        """The wallet of this file's mnemonic, of the configured version."""
        words = self.mnemonic().get_secret_value().split()
        return chain.wallet(words, name, version=self.wallet_version)

    @property
    def address_network(self) -> str:
        """How addresses are printed: a local chain's are test-only, like testnet's."""
        return "mainnet" if self.network == "mainnet" else "testnet"

    def mnemonic(self) -> SecretStr:
        """The wallet's 24 words, for commands that sign; checked, never echoed."""
        source = self.mnemonic_source
        if source is None:
            raise PoolConfigError(
                f"{self.path}: no wallet mnemonic configured",
                f"wallet.mnemonic_env in {self.path.name}: name the environment variable "
                "that holds the 24 words (or set wallet.mnemonic_file)",
            )
        secret = source.read(self.path)
        words = secret.get_secret_value().split()
        if not mnemonic_is_valid(words):
            # Never echo the content: it is (or is close to) the secret.
            kind = "file" if source.file else "env"
            raise PoolConfigError(
                f"the wallet mnemonic in {source.describe()} is not a valid TON mnemonic",
                f"{source.key}_{kind} in {self.path.name}: it must hold the wallet's 24 "
                "words, separated by spaces",
            )
        return SecretStr(" ".join(words))

    def api_key(self) -> SecretStr | None:
        """The API key, or None when the file names none (public endpoints work without)."""
        return None if self.api_key_source is None else self.api_key_source.read(self.path)


# -- the file's schema --------------------------------------------------------------------


def _ton_address(value: str) -> str:
    # The same rules as parse_address (the CLI's), worded for a config key.
    try:
        address = Address(value)
    except Exception:  # ton_core raises several types for malformed input
        raise PydanticCustomError("ton_address", "not a TON address") from None
    if address.wc != 0:
        raise PydanticCustomError(
            "ton_address", "in workchain {wc}, not the basechain", {"wc": address.wc}
        )
    return raw(address)


def _oracle_key(value: str) -> str:
    cleaned = value.strip().lower().removeprefix("0x")
    if not re.fullmatch(r"[0-9a-f]{64}", cleaned):
        raise PydanticCustomError("oracle_key", "not an ed25519 public key of 64 hex digits")
    return cleaned


def _endpoint(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PydanticCustomError("http_url", "not an http(s) URL")
    # An API key in the URL would be a secret in the file, printed wherever the URL is.
    if parts.username or parts.password or parts.query or parts.fragment:
        raise PydanticCustomError(
            "endpoint_secret", "must be a base URL without user, password or query"
        )
    return value


_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def _duration(value: object) -> object:
    """Whole seconds, or text like ``"7d"``, ``"36h"``, ``"1d12h"``, ``"90s"``."""
    if isinstance(value, str):
        match = _DURATION.fullmatch(value.strip())
        if not value.strip() or match is None:
            raise PydanticCustomError("duration", 'not a duration such as 3600, "7d" or "36h"')
        d, h, m, s = (int(part or 0) for part in match.groups())
        return ((d * 24 + h) * 60 + m) * 60 + s
    if isinstance(value, Decimal):
        raise PydanticCustomError("duration", "not a whole number of seconds")
    return value  # ints pass; anything else fails the strict int check after this


def _ton_amount(value: object) -> object:
    """TON as a TOML number (read as Decimal, so 0.1 is exact); nanotons for PoolParams."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise PydanticCustomError("ton_amount", "not a TON amount (a number, no quotes)")
    try:
        nanotons = ton(value)
    except (ArithmeticError, ValueError):
        raise PydanticCustomError(
            "ton_amount", "not a whole number of nanotons (at most 9 decimals)"
        ) from None
    if nanotons < 0:
        raise PydanticCustomError("ton_amount", "a TON amount cannot be negative")
    if nanotons >= MAX_COINS:
        raise PydanticCustomError("ton_amount", "more than a coins field holds")
    return nanotons


NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
TonAddress = Annotated[NonEmpty, AfterValidator(_ton_address)]
OracleKey = Annotated[str, AfterValidator(_oracle_key)]
Endpoint = Annotated[str, AfterValidator(_endpoint)]
Seconds = Annotated[int, BeforeValidator(_duration), Field(ge=0, le=U32_MAX)]
Interval = Annotated[int, BeforeValidator(_duration), Field(ge=1, le=MAX_POLL_INTERVAL)]
Nanotons = Annotated[int, BeforeValidator(_ton_amount)]


class _Schema(BaseModel):
    # strict: TOML has real types, so "1000" or 1-for-true are mistakes, not conversions.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ApiTable(_Schema):
    endpoint: Endpoint | None = None
    key_env: EnvName | None = None
    key_file: NonEmpty | None = None


class WalletTable(_Schema):
    mnemonic_env: EnvName | None = None
    mnemonic_file: NonEmpty | None = None
    version: Literal["v4r2", "v5r1"] = "v4r2"


class RolesTable(_Schema):
    admin: TonAddress
    pauser: TonAddress | None = None


class PoolTable(_Schema):
    # Ranges the contracts enforce are left to check_params (one source of truth); the
    # bounds here only keep values inside their on-chain field widths.
    id: Annotated[int, Field(ge=0, le=U32_MAX)] = _DEFAULTS.pool_id
    commission_bps: int = _DEFAULTS.commission_bps
    min_stake_ton: Nanotons = _DEFAULTS.min_stake
    epoch_length: Seconds = _DEFAULTS.epoch_length
    report_grace: Seconds = _DEFAULTS.report_grace
    timelock: Seconds = _DEFAULTS.timelock_seconds
    unbonding: Seconds = _DEFAULTS.unbonding_seconds
    min_payout_ton: Nanotons = _DEFAULTS.min_payout
    min_operator_stake_ton: Nanotons = _DEFAULTS.min_operator_stake
    oracle_keys: Annotated[list[OracleKey], Field(min_length=1)]
    oracle_quorum: Annotated[int, Field(ge=0, le=255)] = _DEFAULTS.oracle_quorum
    member_cap: Annotated[int, Field(ge=0, le=U32_MAX)] = _DEFAULTS.member_cap


class AddressesTable(_Schema):
    operator: TonAddress | None = None
    registry: TonAddress | None = None
    distribution: TonAddress | None = None


class DatabaseTable(_Schema):
    url: NonEmpty = DEFAULT_DATABASE_URL


class KeeperTable(_Schema):
    poll_interval: Interval = DEFAULT_KEEPER_INTERVAL


class IndexerTable(_Schema):
    poll_interval: Interval = DEFAULT_INDEXER_INTERVAL


class PoolFileSchema(_Schema):
    network: Network
    api: ApiTable = Field(default_factory=ApiTable)
    wallet: WalletTable = Field(default_factory=WalletTable)
    roles: RolesTable
    pool: PoolTable
    addresses: AddressesTable = Field(default_factory=AddressesTable)
    database: DatabaseTable = Field(default_factory=DatabaseTable)
    keeper: KeeperTable = Field(default_factory=KeeperTable)
    indexer: IndexerTable = Field(default_factory=IndexerTable)
    alerts: AlertsTable | None = None


# -- errors in the file's own words -------------------------------------------------------

_TABLES: dict[tuple[str, ...], type[BaseModel]] = {
    (): PoolFileSchema,
    ("api",): ApiTable,
    ("wallet",): WalletTable,
    ("roles",): RolesTable,
    ("pool",): PoolTable,
    ("addresses",): AddressesTable,
    ("database",): DatabaseTable,
    ("keeper",): KeeperTable,
    ("indexer",): IndexerTable,
    ("alerts",): AlertsTable,
}
_ADDRESS_HINT = "give a basechain TON address (EQ..., UQ... or 0:<64 hex>)"
_DURATION_HINT = 'write whole seconds or a duration such as "7d", "36h" or "1d12h"'
_AMOUNT_HINT = "write it in TON as a number with at most 9 decimals, e.g. 10 or 0.5"
_HINTS = {
    "network": 'set network = "local", "testnet" or "mainnet"',
    "endpoint": "give the API's base URL, e.g. https://toncenter.com/api/v2/ "
    "(the key goes in key_env or key_file)",
    "key_env": "name the environment variable that holds the API key",
    "key_file": "give the path of a file that holds the API key",
    "mnemonic_env": "name the environment variable that holds the 24 words, "
    "e.g. COCOON_POOL_MNEMONIC",
    "mnemonic_file": "give the path of a file that holds the 24 words (mode 600)",
    "admin": _ADDRESS_HINT,
    "pauser": _ADDRESS_HINT,
    "operator": _ADDRESS_HINT,
    "registry": _ADDRESS_HINT,
    "distribution": _ADDRESS_HINT,
    "id": "set id to a whole number, 0..4294967295 (one per pool of the same admin)",
    # No range here: check_params states the contract's own, read from the Tolk source.
    "commission_bps": "set commission_bps to a whole number of basis points, e.g. 1000 (10%)",
    "min_stake_ton": _AMOUNT_HINT,
    "min_payout_ton": _AMOUNT_HINT,
    "min_operator_stake_ton": _AMOUNT_HINT,
    "epoch_length": _DURATION_HINT,
    "report_grace": _DURATION_HINT,
    "timelock": _DURATION_HINT,
    "unbonding": _DURATION_HINT,
    "oracle_keys": 'list the oracles\' ed25519 public keys, e.g. ["<64 hex digits>"]',
    "oracle_quorum": "set oracle_quorum to how many oracle keys must sign, 1..len(oracle_keys)",
    "member_cap": "set member_cap to how many members the pool admits (0: no cap)",
    "url": "use e.g. sqlite:///pool.db or postgresql://user@host/dbname",
    "poll_interval": f"{_DURATION_HINT}, 1 s..1 day",
    **ALERT_HINTS,
}
_DEFAULT_HINT = "see docs/configuration.md and examples/pool.toml"


def _hint_for(at: tuple[str, ...]) -> str:
    named = [part for part in at if part != "*"]
    return _HINTS.get(named[-1], _DEFAULT_HINT) if named else _DEFAULT_HINT


_SCHEMA_ERRORS = SchemaErrors(
    tables=_TABLES,
    hint_for=_hint_for,
    default_hint=_DEFAULT_HINT,
    # These may hold a secret pasted into the wrong key, or a URL with credentials in it.
    quiet_keys=(
        *("endpoint", "key_env", "key_file", "mnemonic_env", "mnemonic_file", "url"),
        *ALERT_QUIET_KEYS,
    ),
)

# check_params' messages, by their first words, and the key each is about.
_CHECKED_KEYS = (
    ("commission", "pool.commission_bps"),
    ("epoch length", "pool.epoch_length"),
    ("report grace", "pool.report_grace"),
    ("minimum stake", "pool.min_stake_ton"),
    ("timelock", "pool.timelock"),
    ("oracle quorum", "pool.oracle_quorum"),
)


def _error(path: Path, message: str, first: Problem) -> PoolConfigError:
    # The hint names the key and the file, so it alone tells where to look.
    return PoolConfigError(f"{path}: {message}", f"{first.key} in {path.name}: {first.hint}")


def _err(path: Path, key: str, message: str, hint: str) -> PoolConfigError:
    return _error(path, message, Problem(key, message, hint))


# -- from the validated file to PoolFile --------------------------------------------------


def _secret(
    path: Path, key: str, what: str, env: str | None, file: str | None
) -> SecretSource | None:
    if env is not None and file is not None:
        raise _err(
            path,
            f"{key}_env",
            f"give at most one of {key}_env and {key}_file",
            "keep the one that holds the secret and delete the other",
        )
    if env is None and file is None:
        return None
    if file is not None and mnemonic_is_valid(file.split()):
        # The words themselves instead of a path: refuse before any error prints the path.
        raise _err(
            path,
            f"{key}_file",
            f"{key}_file holds the secret itself, not a path",
            "move the words into a file (mode 600) or an environment variable and name that here",
        )
    return SecretSource(
        key=key, what=what, env=env, file=(path.parent / file) if file is not None else None
    )


def _database_url(url: str, path: Path) -> str:
    """SQLite with relative paths made relative to the file, or PostgreSQL without password.

    Why relative to the file: ``sqlite:///pool.db`` would otherwise depend on the working
    directory, and a keeper restarted elsewhere would silently start an empty database.
    Why no password: the file holds no secret; PostgreSQL clients read PGPASSWORD or
    ~/.pgpass instead.
    """
    scheme, sep, rest = url.partition("://")
    backend = scheme.split("+", 1)[0]
    if not sep or backend not in ("sqlite", "postgresql"):
        raise _err(
            path,
            "database.url",
            "database.url: not an sqlite:// or postgresql:// URL",
            _HINTS["url"],
        )
    if backend == "postgresql":
        if urlsplit(url).password is not None:
            raise _err(
                path,
                "database.url",
                "database.url: holds a password",
                "leave it out: PostgreSQL reads it from PGPASSWORD or ~/.pgpass",
            )
        return url
    database, query_sep, query = rest.removeprefix("/").partition("?")  # sqlite:///<path>
    if not database or database == ":memory:" or Path(database).is_absolute():
        return url
    return f"{scheme}:///{(path.parent / database).resolve()}{query_sep}{query}"


def _params(pool: PoolTable, path: Path) -> PoolParams:
    keys = [int(key, 16) for key in pool.oracle_keys]
    for i, key in enumerate(keys):
        if key in keys[:i]:
            # The contract counts distinct key indexes, so a repeated key would let one
            # oracle sign twice towards the quorum.
            raise _err(
                path,
                f"pool.oracle_keys[{i}]",
                f"pool.oracle_keys[{i}] repeats pool.oracle_keys[{keys.index(key)}]",
                "list each oracle's public key once",
            )
    params = PoolParams(
        oracle_key=keys[0],
        extra_oracle_keys=tuple(keys[1:]),
        oracle_quorum=pool.oracle_quorum,
        pool_id=pool.id,
        commission_bps=pool.commission_bps,
        min_stake=pool.min_stake_ton,
        epoch_length=pool.epoch_length,
        report_grace=pool.report_grace,
        timelock_seconds=pool.timelock,
        unbonding_seconds=pool.unbonding,
        min_payout=pool.min_payout_ton,
        min_operator_stake=pool.min_operator_stake_ton,
        member_cap=pool.member_cap,
    )
    try:
        check_params(params)
    except UsageError as exc:
        name = next((k for start, k in _CHECKED_KEYS if exc.message.startswith(start)), "pool")
        raise _err(path, name, f"{name}: {exc.message}", exc.hint) from None
    return params


def _address(text: str | None) -> Address | None:
    return None if text is None else Address(text)


def parse_pool_file(data: Mapping[str, Any], path: Path) -> PoolFile:
    """Validate parsed TOML; every problem is a PoolConfigError naming the file and key."""
    try:
        parsed = PoolFileSchema.model_validate(dict(data))
    except ValidationError as exc:
        problems = _SCHEMA_ERRORS.problems(exc)
        raise _error(path, summary(problems), problems[0]) from None
    if parsed.network != "local" and parsed.api.endpoint is None:
        raise _err(
            path,
            "api.endpoint",
            f"missing api.endpoint (needed on {parsed.network})",
            _HINTS["endpoint"],
        )
    addresses = parsed.addresses
    return PoolFile(
        path=path,
        network=parsed.network,
        endpoint=parsed.api.endpoint,
        admin=Address(parsed.roles.admin),
        pauser=Address(parsed.roles.pauser or parsed.roles.admin),
        pool_params=_params(parsed.pool, path),
        addresses=KnownAddresses(
            operator=_address(addresses.operator),
            registry=_address(addresses.registry),
            distribution=_address(addresses.distribution),
        ),
        database_url=_database_url(parsed.database.url, path),
        keeper_poll_interval=parsed.keeper.poll_interval,
        indexer_poll_interval=parsed.indexer.poll_interval,
        mnemonic_source=_secret(
            path,
            "wallet.mnemonic",
            "wallet mnemonic",
            parsed.wallet.mnemonic_env,
            parsed.wallet.mnemonic_file,
        ),
        api_key_source=_secret(path, "api.key", "API key", parsed.api.key_env, parsed.api.key_file),
        wallet_version=parsed.wallet.version,
        alerts=parsed.alerts,
    )


def load_pool_file(path: Path) -> PoolFile:
    """Read and validate ``path``; every problem is a PoolConfigError with a hint."""
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise PoolConfigError(
            f"cannot read the pool config {path}: {reason}",
            "pass --config with the path of your pool.toml (see examples/pool.toml)",
        ) from None
    try:
        # Decimal floats: TON amounts such as 0.1 stay exact down to the nanoton.
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise PoolConfigError(
            f"{path} is not valid TOML: {exc}", "fix the syntax at the position shown"
        ) from None
    return parse_pool_file(data, path.resolve())
