"""Worker ``/jsonstats`` and health bodies: every malformed shape is named, odd but valid
shapes are read (cocoon_pool.oracle.jsonstats)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cocoon_pool.oracle.jsonstats import (
    StatsFormatError,
    parse_health,
    parse_jsonstats,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "jsonstats"
POOL = "0:" + "ab" * 32


def healthy() -> dict[str, Any]:
    text = (FIXTURES / "healthy.json").read_text().replace("__OWNER_ADDRESS__", POOL)
    data: dict[str, Any] = json.loads(text)
    return data


def with_change(path: str, value: Any) -> str:
    data = healthy()
    *parents, last = path.split(".")
    target = data
    for part in parents:
        target = target[part]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return json.dumps(data)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("stats", [], "field stats is not an object"),
        ("localconfig", ..., "missing field localconfig.owner_address"),
        ("localconfig.owner_address", "", "field localconfig.owner_address is not an address"),
        ("localconfig.owner_address", 5, "field localconfig.owner_address is not an address"),
        ("status", "up", "field status is not an object"),
        ("status.enabled", "yes", "field status.enabled is not a boolean"),
        ("proxies", {}, "field proxies is not a list"),
        ("proxies", [7], r"field proxies\[0\] is not an object"),
        (
            "proxies",
            [{"earned_tokens_committed_to_blockchain": -1}],
            r"field proxies\[0\].earned_tokens_committed_to_blockchain must be a finite",
        ),
        (
            "proxies",
            [{"earned_tokens_committed_to_blockchain": "12"}],
            r"field proxies\[0\].earned_tokens_committed_to_blockchain is not a number",
        ),
    ],
)
def test_malformed_stats_are_named(path: str, value: Any, message: str) -> None:
    with pytest.raises(StatsFormatError, match=message):
        parse_jsonstats(with_change(path, value))


def test_optional_parts_may_be_missing_or_odd() -> None:
    data = healthy()
    for key in ("status", "proxies", "wallet"):
        data.pop(key, None)
    data["localconfig"]["model"] = 5
    parsed = parse_jsonstats(json.dumps(data))
    assert parsed.enabled and parsed.image_accepted and parsed.model_accepted
    assert (parsed.earned_tokens, parsed.wallet_balance, parsed.ai_model) == (0, None, None)
    data["wallet"] = {"balance": True}
    data["proxies"] = [{"earned_tokens_committed_to_blockchain": 2.5}, {}]
    parsed = parse_jsonstats(json.dumps(data))
    assert parsed.wallet_balance is None and parsed.earned_tokens == 2


@pytest.mark.parametrize(
    ("body", "healthy", "detail", "model", "util"),
    [
        ('{"ok": true, "gpu": {"model": " H100 ", "utilization_percent": 87.9}}', True, "True",
         "H100", 87),
        ('{"status": "Degraded", "error": "ecc", "gpus": [{"name": "  ", "utilization": "x"}]}',
         False, "ecc", None, None),
        ('{"status": "ok", "gpus": [{"name": "A100", "utilization": 250}]}', True, "ok",
         "A100", 100),
        ('{"status": "up", "gpus": [{"utilization": "NaN"}]}', True, "up", None, None),
        ('{"status": "up", "gpus": [{"utilization": true}]}', True, "up", None, None),
        ('{"status": "up", "gpus": [{"utilization": [1]}]}', True, "up", None, None),
        ('{"status": "up", "gpus": []}', True, "up", None, None),
    ],
)  # fmt: skip
def test_health_json_shapes(
    body: str, healthy: bool, detail: str, model: str | None, util: int | None
) -> None:
    status = parse_health(body)
    assert (status.healthy, status.detail, status.gpu_model, status.gpu_utilization) == (
        healthy,
        detail,
        model,
        util,
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"gpus": []}', "health: missing field status"),
        ('{"status": 3}', "health: missing field status"),
        ("{", "malformed JSON"),
        ("no status here", "health: no 'Status:' line and not JSON"),
    ],
)
def test_health_errors(body: str, message: str) -> None:
    with pytest.raises(StatsFormatError, match=message):
        parse_health(body)


def test_trailing_bytes_after_a_health_object_and_text_utilization() -> None:
    with pytest.raises(StatsFormatError, match="malformed JSON"):
        parse_health("{}" + "x")
    assert (
        parse_health("  Status: active (since boot)\nUtilization: 140 %\n").gpu_utilization == 100
    )


def test_decimal_counters_keep_their_precision() -> None:
    parsed = parse_jsonstats(json.dumps(healthy()))
    assert isinstance(parsed.tokens_10m, Decimal)
