"""The ``[alerts]`` table of pool.toml, checked strictly like the rest of the file.

Kept apart from :mod:`cocoon_pool.pool_config` (which includes it) so the pool file's
loader does not import the alerts service. Secrets are never values here: the bot token and
the webhook's signing secret are named by an environment variable (``*_env``) or a file
(``*_file``), like the wallet mnemonic.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)
from pydantic_core import PydanticCustomError

SEVERITIES = ("info", "warning", "error", "critical")
Severity = Literal["info", "warning", "error", "critical"]
DEFAULT_TELEGRAM_API = "https://api.telegram.org"


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PydanticCustomError("http_url", "not an http(s) URL")
    if parts.username or parts.password:
        raise PydanticCustomError("url_secret", "must not carry a user or password")
    return value.rstrip("/")


def _seconds(value: object) -> object:
    """A TOML number (read as Decimal by pool.toml's loader) as float seconds."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | float):
        raise PydanticCustomError("seconds", "not a number of seconds (no quotes)")
    return float(value)


_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def _duration(value: object) -> object:
    """Whole seconds, or text like ``"1d"``, ``"90s"``: the same form as pool.toml's other
    durations."""
    if isinstance(value, str):
        match = _DURATION.fullmatch(value.strip())
        if not value.strip() or match is None:
            raise PydanticCustomError("duration", 'not a duration such as 60, "1m" or "1d"')
        d, h, m, s = (int(part or 0) for part in match.groups())
        return ((d * 24 + h) * 60 + m) * 60 + s
    return value  # ints pass; anything else fails the strict int check


def _chat_id(value: object) -> object:
    # Telegram chat ids are integers (negative for groups) or "@channelname".
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and (value.lstrip("-").isdigit() or value.startswith("@")):
        return value
    raise PydanticCustomError("chat_id", "not a Telegram chat id (a number or @channel)")


NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
Seconds = Annotated[float, BeforeValidator(_seconds), Field(ge=0, le=3600)]


class AlertsTable(BaseModel):
    """``[alerts]``: where to look, when to alert, and where to send."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    database_url: NonEmpty | None = None
    oracle_database: NonEmpty | None = None
    indexer_database: NonEmpty | None = None
    keeper_database: NonEmpty | None = None
    keeper_metrics: HttpUrl | None = None
    poll_interval: Annotated[int, BeforeValidator(_duration), Field(ge=1, le=86_400)] = 60
    outage_samples: Annotated[int, Field(ge=1, le=10_000)] = 2
    keeper_failures: Annotated[int, Field(ge=1, le=1_000)] = 3
    payouts: bool = True
    min_severity: Severity = "info"
    max_age: Annotated[int, BeforeValidator(_duration), Field(ge=0, le=2**32)] = 86_400
    telegram_chat_id: Annotated[str, BeforeValidator(_chat_id)] | None = None
    telegram_token_env: EnvName | None = None
    telegram_token_file: NonEmpty | None = None
    telegram_api: HttpUrl = DEFAULT_TELEGRAM_API
    webhook_url: HttpUrl | None = None
    webhook_secret_env: EnvName | None = None
    webhook_secret_file: NonEmpty | None = None
    send_timeout: Seconds = 10.0
    send_attempts: Annotated[int, Field(ge=1, le=10)] = 3
    send_backoff: Seconds = 1.0
    send_backoff_max: Seconds = 30.0


_URL_HINT = "use e.g. sqlite:///pool.db or postgresql://user@host/dbname"
ALERT_HINTS = {
    "database_url": f"the alerts' own database; {_URL_HINT}",
    "oracle_database": f"the oracle's database (oracle.toml database_url); {_URL_HINT}",
    "indexer_database": f"the indexer's database; {_URL_HINT}",
    "keeper_database": f"the keeper's database; {_URL_HINT}",
    "keeper_metrics": "the keeper's metrics base URL, e.g. http://127.0.0.1:9108",
    "outage_samples": "how many down samples in a row make an outage, 1..10000",
    "keeper_failures": "how many failed tries of one keeper action raise an alert, 1..1000",
    "payouts": "true or false (no quotes)",
    "min_severity": 'one of "info", "warning", "error", "critical"',
    "max_age": 'a duration such as "1d": older findings are recorded but not sent',
    "telegram_chat_id": 'the chat to post to: a number such as -1001234567890, or "@channel"',
    "telegram_token_env": "name the environment variable that holds the bot token",
    "telegram_token_file": "give the path of a file that holds the bot token (mode 600)",
    "telegram_api": "the Bot API base URL, e.g. https://api.telegram.org",
    "webhook_url": "the http(s) URL alerts are POSTed to",
    "webhook_secret_env": "name the environment variable that holds the HMAC secret",
    "webhook_secret_file": "give the path of a file that holds the HMAC secret (mode 600)",
    "send_timeout": "seconds per request, e.g. 10",
    "send_attempts": "tries per alert and round, 1..10",
    "send_backoff": "seconds before the 2nd try (doubled after), e.g. 1",
    "send_backoff_max": "the longest pause between tries, in seconds",
}
"""Hints for the keys of ``[alerts]`` (their names are unique in pool.toml)."""
ALERT_QUIET_KEYS = (
    "database_url",
    "oracle_database",
    "indexer_database",
    "keeper_database",
    "telegram_token_env",
    "telegram_token_file",
    "webhook_url",
    "webhook_secret_env",
    "webhook_secret_file",
)
"""Keys whose values are never echoed in errors (a secret may have been pasted there)."""
