"""The alerts service's settings, from pool.toml's ``[alerts]`` table (docs/alerts.md).

Database URLs default to ``[database] url`` (where the indexer and keeper keep their
tables) and relative SQLite paths are resolved next to pool.toml. Secrets are read here,
once, from the environment variable or file the table names, and kept as ``SecretStr``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from cocoon_pool.alerts.schema import AlertsTable
from cocoon_pool.pool_config import PoolConfigError, PoolFile, SecretSource


@dataclass(frozen=True)
class RetryPolicy:
    """Tries of one delivery within a round: a pause of ``backoff`` doubled each time, capped."""

    attempts: int = 3
    backoff: float = 1.0
    backoff_max: float = 30.0
    timeout: float = 10.0

    def pause(self, failures: int) -> float:
        """The pause after the ``failures``-th failed try (1-based)."""
        return float(min(self.backoff * 2 ** (failures - 1), self.backoff_max))


@dataclass(frozen=True)
class TelegramSettings:
    chat_id: str
    token: SecretStr
    api: str
    """Bot API base URL without ``/bot<token>``, e.g. https://api.telegram.org."""


@dataclass(frozen=True)
class WebhookSettings:
    url: str
    secret: SecretStr | None = None
    """HMAC-SHA256 key of the ``X-Cocoon-Signature`` header; None: unsigned."""


@dataclass(frozen=True)
class AlertsSettings:
    database_url: str
    oracle_database: str | None = None
    indexer_database: str | None = None
    keeper_database: str | None = None
    keeper_metrics: str | None = None
    poll_interval: int = 60
    outage_samples: int = 2
    keeper_failures: int = 3
    payouts: bool = True
    min_severity: str = "info"
    max_age: int = 86_400
    telegram: TelegramSettings | None = None
    webhook: WebhookSettings | None = None
    retry: RetryPolicy = RetryPolicy()

    def sink_names(self) -> list[str]:
        return [name for name, s in (("telegram", self.telegram), ("webhook", self.webhook)) if s]

    def describe(self) -> dict[str, object]:
        """For printing: no secret, and the webhook URL without its path (it may hold one)."""
        webhook = None
        if self.webhook is not None:
            parts = self.webhook.url.split("/", 3)
            webhook = "/".join(parts[:3]) + ("/***" if len(parts) > 3 else "")
        return {
            "database_url": _masked_url(self.database_url),
            "oracle_database": _masked_url(self.oracle_database),
            "indexer_database": _masked_url(self.indexer_database),
            "keeper_database": _masked_url(self.keeper_database),
            "keeper_metrics": self.keeper_metrics,
            "poll_interval": self.poll_interval,
            "sinks": self.sink_names(),
            "telegram_chat_id": None if self.telegram is None else self.telegram.chat_id,
            "telegram_token": None if self.telegram is None else str(self.telegram.token),
            "webhook_url": webhook,
            "webhook_signed": self.webhook is not None and self.webhook.secret is not None,
        }


def _masked_url(url: str | None) -> str | None:
    return None if url is None else make_url(url).render_as_string(hide_password=True)


def _error(pool_file: PoolFile, key: str, message: str, hint: str) -> PoolConfigError:
    path = pool_file.path
    return PoolConfigError(f"{path}: {message}", f"alerts.{key} in {path.name}: {hint}")


def _url(pool_file: PoolFile, key: str, url: str | None, default: str | None) -> str | None:
    if url is None:
        return default
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise _error(
            pool_file,
            key,
            f"alerts.{key} is not a database URL",
            "use e.g. sqlite:///pool.db or postgresql+psycopg://user@host/dbname",
        ) from None
    if parsed.password is not None:
        raise _error(
            pool_file,
            key,
            f"alerts.{key} holds a password",
            "leave it out: PostgreSQL reads it from PGPASSWORD or ~/.pgpass",
        )
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return url
    if Path(database).is_absolute():
        return url
    # Relative to pool.toml, not the working directory: a restart elsewhere must find it.
    resolved = (pool_file.path.parent / database).resolve()
    return parsed.set(database=str(resolved)).render_as_string(hide_password=False)


def _secret(
    pool_file: PoolFile, key: str, what: str, env: str | None, file: str | None
) -> SecretStr | None:
    if env is not None and file is not None:
        raise _error(
            pool_file,
            f"{key}_env",
            f"give at most one of alerts.{key}_env and alerts.{key}_file",
            "keep the one that holds the secret and delete the other",
        )
    if env is None and file is None:
        return None
    source = SecretSource(
        key=f"alerts.{key}",
        what=what,
        env=env,
        file=None if file is None else pool_file.path.parent / file,
    )
    return source.read(pool_file.path)


def alerts_database_url(pool_file: PoolFile) -> str | None:
    """Where ``cocoon-pool alerts`` records its alerts, or None without an ``[alerts]`` table
    (needs no secret: the dashboard only reads the alerts)."""
    table: AlertsTable | None = pool_file.alerts
    return None if table is None else _alerts_database_url(pool_file, table)


def _alerts_database_url(pool_file: PoolFile, table: AlertsTable) -> str:
    default = pool_file.database_url
    return _url(pool_file, "database_url", table.database_url, default) or default


def alerts_settings(pool_file: PoolFile) -> AlertsSettings:
    """The settings of ``pool_file``'s ``[alerts]``; every problem names the key."""
    table: AlertsTable | None = pool_file.alerts
    if table is None:
        raise PoolConfigError(
            f"{pool_file.path}: no [alerts] table",
            f"add [alerts] to {pool_file.path.name} with telegram_chat_id or webhook_url "
            "(see docs/alerts.md)",
        )
    default = pool_file.database_url
    telegram = None
    token = _secret(
        pool_file,
        "telegram_token",
        "Telegram bot token",
        table.telegram_token_env,
        table.telegram_token_file,
    )
    if table.telegram_chat_id is not None:
        if token is None:
            raise _error(
                pool_file,
                "telegram_token_env",
                "telegram_chat_id is set but no bot token is named",
                "set telegram_token_env (an environment variable) or telegram_token_file",
            )
        telegram = TelegramSettings(table.telegram_chat_id, token, table.telegram_api)
    elif token is not None:
        raise _error(
            pool_file,
            "telegram_chat_id",
            "a bot token is named but no telegram_chat_id",
            "set telegram_chat_id to the chat the bot posts to",
        )
    secret = _secret(
        pool_file,
        "webhook_secret",
        "webhook signing secret",
        table.webhook_secret_env,
        table.webhook_secret_file,
    )
    webhook = None
    if table.webhook_url is not None:
        webhook = WebhookSettings(table.webhook_url, secret)
    elif secret is not None:
        raise _error(
            pool_file,
            "webhook_url",
            "a webhook secret is named but no webhook_url",
            "set webhook_url, or remove webhook_secret_env/webhook_secret_file",
        )
    return AlertsSettings(
        database_url=_alerts_database_url(pool_file, table),
        oracle_database=_url(pool_file, "oracle_database", table.oracle_database, None),
        indexer_database=_url(pool_file, "indexer_database", table.indexer_database, default),
        keeper_database=_url(pool_file, "keeper_database", table.keeper_database, default),
        keeper_metrics=table.keeper_metrics,
        poll_interval=table.poll_interval,
        outage_samples=table.outage_samples,
        keeper_failures=table.keeper_failures,
        payouts=table.payouts,
        min_severity=table.min_severity,
        max_age=table.max_age,
        telegram=telegram,
        webhook=webhook,
        retry=RetryPolicy(
            attempts=table.send_attempts,
            backoff=table.send_backoff,
            backoff_max=table.send_backoff_max,
            timeout=table.send_timeout,
        ),
    )
