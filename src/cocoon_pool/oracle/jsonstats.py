"""Parsing what a Cocoon worker reports: ``/jsonstats`` and the health service.

``/jsonstats`` (Cocoon ``WorkerRunner::http_generate_json_stats``) is one JSON object::

    {"status": {"wallet_balance": int, "actual_image_hash": bool, "actual_model": bool,
                "ton_last_synced_at": int, "enabled": bool},
     "stats": {"queries": [...], "success": [...], "failed": [...],
               "total_adjusted_tokens_used": [...], ...},
     "wallet": {"address": str, "balance": int, "seqno": int, ...},
     "localconfig": {"root_address": str, "owner_address": str, "model": str,
                     "coefficient": int, "check_proxy_hash": bool},
     "proxies": [{"proxy_sc_address": str, "sc_address": str,
                  "earned_tokens_committed_to_blockchain": int, ...}, ...]}

Every ``stats`` entry is seven numbers: the running total, then exponentially decayed
counters with periods 1 s, 10 s, 1 min, 10 min, 1 h and 1 day. A decayed counter with
period ``P`` holds ``rate * P`` in a steady state, so ``tokens/s = counter_10m / 600``.

Cocoon's health service (``health-monitor``) answers on vsock, so an operator exposes it
over HTTP with a small bridge. Two bodies are accepted: the ``health-client`` text
(``Status: OK ...``, ``Model: ...``, ``Utilization: 87%``) or JSON
``{"status": "ok", "gpus": [{"name": "...", "utilization": 87}]}``.

Numbers are parsed as :class:`~decimal.Decimal` so every derived integer is exact.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

WINDOW_COUNT = 7
TOTAL, W10M = 0, 4
THROUGHPUT_WINDOW_SECONDS = 600
COUNTERS = ("queries", "success", "failed", "total_adjusted_tokens_used")


class StatsFormatError(ValueError):
    """The worker answered, but not with usable stats; ``str(exc)`` is the down reason."""


@dataclass(frozen=True)
class WorkerStats:
    enabled: bool
    image_accepted: bool
    model_accepted: bool
    queries_total: int
    success_total: int
    failed_total: int
    tokens_total: int
    tokens_10m: Decimal
    throughput_mtps: int
    """Milli-tokens per second: ``floor(tokens_10m * 1000 / 600)``."""
    earned_tokens: int
    owner_address: str
    ai_model: str | None
    wallet_balance: int | None


@dataclass(frozen=True)
class HealthStatus:
    healthy: bool
    detail: str
    gpu_model: str | None
    gpu_utilization: int | None


def _loads(text: str) -> Any:
    try:
        return json.loads(text, parse_float=Decimal)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise StatsFormatError(f"malformed JSON: {exc}") from exc


def _field(obj: dict[str, Any], path: str) -> Any:
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, dict) or part not in current:
            raise StatsFormatError(f"missing field {path}")
        current = current[part]
    return current


def _number(value: Any, path: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise StatsFormatError(f"field {path} is not a number")
    number = Decimal(value)
    if not number.is_finite() or number < 0:
        raise StatsFormatError(f"field {path} must be a finite number >= 0")
    return number


_NUMBER_TYPES = frozenset((int, Decimal))


def _counter(stats: dict[str, Any], name: str) -> list[int | Decimal]:
    if name not in stats:
        raise StatsFormatError(f"missing field stats.{name}")
    value = stats[name]
    if not isinstance(value, list) or len(value) != WINDOW_COUNT:
        raise StatsFormatError(f"field stats.{name} must be a list of {WINDOW_COUNT} numbers")
    # The common case checked in one pass: JSON numbers come as exact int or (from
    # parse_float) Decimal, both finite; bool (a subclass of int) is not of these types.
    # Anything else goes through _number, which names the offending entry.
    if all(type(v) in _NUMBER_TYPES for v in value) and min(value) >= 0:
        return value
    return [_number(v, f"stats.{name}[{i}]") for i, v in enumerate(value)]


def _flag(status: dict[str, Any], name: str) -> bool:
    value = status.get(name, True)
    if not isinstance(value, bool):
        raise StatsFormatError(f"field status.{name} is not a boolean")
    return value


def parse_jsonstats(text: str) -> WorkerStats:
    """Parse a ``/jsonstats`` body; StatsFormatError names what is wrong."""
    data = _loads(text)
    if not isinstance(data, dict):
        raise StatsFormatError("malformed JSON: the top level is not an object")
    stats = _field(data, "stats")
    if not isinstance(stats, dict):
        raise StatsFormatError("field stats is not an object")
    counters = {name: _counter(stats, name) for name in COUNTERS}
    tokens = counters["total_adjusted_tokens_used"]
    owner = _field(data, "localconfig.owner_address")
    if not isinstance(owner, str) or not owner:
        raise StatsFormatError("field localconfig.owner_address is not an address")
    status = data.get("status", {})
    if not isinstance(status, dict):
        raise StatsFormatError("field status is not an object")
    earned = 0
    proxies = data.get("proxies", [])
    if not isinstance(proxies, list):
        raise StatsFormatError("field proxies is not a list")
    for i, proxy in enumerate(proxies):
        if not isinstance(proxy, dict):
            raise StatsFormatError(f"field proxies[{i}] is not an object")
        raw = proxy.get("earned_tokens_committed_to_blockchain", 0)
        if type(raw) not in _NUMBER_TYPES or raw < 0:
            raw = _number(raw, f"proxies[{i}].earned_tokens_committed_to_blockchain")
        earned += int(raw)
    wallet = data.get("wallet")
    balance = wallet.get("balance") if isinstance(wallet, dict) else None
    model = _field(data, "localconfig").get("model")
    return WorkerStats(
        enabled=_flag(status, "enabled"),
        image_accepted=_flag(status, "actual_image_hash"),
        model_accepted=_flag(status, "actual_model"),
        queries_total=int(counters["queries"][TOTAL]),
        success_total=int(counters["success"][TOTAL]),
        failed_total=int(counters["failed"][TOTAL]),
        tokens_total=int(tokens[TOTAL]),
        tokens_10m=Decimal(tokens[W10M]),
        throughput_mtps=int(tokens[W10M] * 1000 // THROUGHPUT_WINDOW_SECONDS),
        earned_tokens=earned,
        owner_address=owner,
        ai_model=model if isinstance(model, str) else None,
        wallet_balance=balance
        if isinstance(balance, int) and not isinstance(balance, bool)
        else None,
    )


_STATUS_LINE = re.compile(r"^\s*Status:\s*(?P<state>[A-Za-z]+)\b(?P<rest>.*)$", re.MULTILINE)
_MODEL_LINE = re.compile(r"^\s*Model:\s*(?P<model>\S.*?)\s*$", re.MULTILINE)
_UTIL_LINE = re.compile(r"^\s*Utilization:\s*(?P<util>\d+)\s*%", re.MULTILINE)
HEALTHY_WORDS = frozenset({"ok", "healthy", "up", "active"})


def _utilization(value: Any) -> int | None:
    try:
        number = Decimal(value) if not isinstance(value, bool) else None
    except (InvalidOperation, TypeError, ValueError):
        return None
    if number is None or not number.is_finite():
        return None
    return max(0, min(100, int(number)))


def _health_json(data: dict[str, Any]) -> HealthStatus:
    status = data.get("status", data.get("ok"))
    if isinstance(status, bool):
        healthy = status
    elif isinstance(status, str):
        healthy = status.strip().lower() in HEALTHY_WORDS
    else:
        raise StatsFormatError("health: missing field status")
    gpus = data.get("gpus")
    if gpus is None and isinstance(data.get("gpu"), dict):
        gpus = [data["gpu"]]
    model: str | None = None
    util: int | None = None
    if isinstance(gpus, list) and gpus and isinstance(gpus[0], dict):
        first = gpus[0]
        name = first.get("name", first.get("model"))
        model = name.strip() if isinstance(name, str) and name.strip() else None
        util = _utilization(first.get("utilization", first.get("utilization_percent")))
    detail = str(data.get("detail", data.get("error", status)))
    return HealthStatus(healthy, detail, model, util)


def parse_health(text: str) -> HealthStatus:
    """Parse a health body (JSON or ``health-client`` text); StatsFormatError if neither."""
    stripped = text.strip()
    if stripped.startswith("{"):
        data = _loads(stripped)
        if not isinstance(data, dict):
            raise StatsFormatError("health: malformed JSON")
        return _health_json(data)
    status = _STATUS_LINE.search(text)
    if status is None:
        raise StatsFormatError("health: no 'Status:' line and not JSON")
    model = _MODEL_LINE.search(text)
    util = _UTIL_LINE.search(text)
    return HealthStatus(
        healthy=status["state"].lower() in HEALTHY_WORDS,
        detail=(status["state"] + status["rest"]).strip(),
        gpu_model=model["model"] if model else None,
        gpu_utilization=min(100, int(util["util"])) if util else None,
    )
