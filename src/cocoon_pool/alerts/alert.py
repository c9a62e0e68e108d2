"""What an alert is: kind, severity, title, text, when, and the key that makes it unique."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from cocoon_pool.alerts.schema import SEVERITIES

KINDS: dict[str, str] = {
    "worker_down": "warning",
    "worker_recovered": "info",
    "tier_drop": "warning",
    "payouts": "info",
    "change_proposed": "warning",
    "change_applied": "warning",
    "change_cancelled": "info",
    "role_accepted": "warning",
    "pool_paused": "critical",
    "pool_unpaused": "info",
    "pool_closing": "critical",
    "keeper_failure": "error",
    "keeper_unhealthy": "error",
    "keeper_recovered": "info",
    "test": "info",
}
"""Every alert kind and its severity (docs/alerts.md)."""


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


def short_address(raw: str) -> str:
    """``0:1a2b…9f0e``: enough to tell members apart in a title."""
    wc, _, digits = raw.partition(":")
    return f"{wc}:{digits[:4]}…{digits[-4:]}" if len(digits) > 12 else raw


def ton_text(nanoton: int) -> str:
    """An exact TON amount without trailing zeros: ``12.5``, ``0.000000001``."""
    text = f"{Decimal(nanoton) / Decimal(10**9):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass(frozen=True)
class Alert:
    """One alert, before or after it was stored."""

    kind: str
    title: str
    text: str
    dedupe_key: str
    """Unique per thing alerted about: the same finding seen twice is stored once."""
    occurred_at: int
    """Unix seconds of what it is about (a sample, a transaction, a failed action)."""
    created_at: int = 0
    """Unix seconds when the service found it (set when stored)."""
    details: Mapping[str, Any] = field(default_factory=dict)
    severity: str = ""
    """Left empty, the kind's severity (:data:`KINDS`)."""

    def __post_init__(self) -> None:
        if not self.severity:
            object.__setattr__(self, "severity", KINDS[self.kind])

    def as_dict(self) -> dict[str, object]:
        """The JSON form the webhook posts and ``recent_alerts`` returns."""
        return {
            "kind": self.kind,
            "severity": self.severity,
            "title": self.title,
            "text": self.text,
            "created_at": self.created_at,
            "occurred_at": self.occurred_at,
            "dedupe_key": self.dedupe_key,
            "details": dict(self.details),
        }

    def message(self) -> str:
        """Plain text for a chat: a severity mark, the title, then the text."""
        mark = {"info": "ℹ️", "warning": "⚠️", "error": "❗", "critical": "🚨"}[self.severity]
        return f"{mark} {self.title}\n\n{self.text}"
