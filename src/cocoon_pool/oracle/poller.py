"""Polling workers: one HTTP round per member, never raising on a bad worker.

Requests run concurrently on one ``httpx.AsyncClient`` with a semaphore bounding how many
members are polled at once and a per-request timeout. Anything that goes wrong with a
worker (unreachable, timeout, non-200, malformed JSON, missing fields, wrong owner) makes
that member's sample *down* with the reason stored and logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from cocoon_pool.chain.types import raw_address
from cocoon_pool.oracle.config import MemberConfig
from cocoon_pool.oracle.jsonstats import (
    HealthStatus,
    StatsFormatError,
    WorkerStats,
    parse_health,
    parse_jsonstats,
)
from cocoon_pool.oracle.models import Sample

log = logging.getLogger("cocoon_pool.oracle")

MAX_BODY_BYTES = 4 * 1024 * 1024
"""A worker's stats are a few kilobytes; anything far bigger is not a stats page."""


@dataclass(frozen=True)
class PollSettings:
    timeout: float
    concurrency: int
    distribution: str | None = None
    """Raw address the worker's ``owner_address`` must equal (None: not checked)."""


@dataclass(frozen=True)
class PollResult:
    """One member's sample before it is stored."""

    member: MemberConfig
    taken_at: int
    ok: bool
    reason: str | None = None
    http_status: int | None = None
    latency_ms: int | None = None
    stats: WorkerStats | None = None
    health: HealthStatus | None = None

    @property
    def throughput_mtps(self) -> int | None:
        return self.stats.throughput_mtps if self.stats else None

    @property
    def gpu_model(self) -> str | None:
        return self.health.gpu_model if self.health else None

    def to_row(self) -> Sample:
        s, h = self.stats, self.health
        return Sample(
            member=self.member.address,
            taken_at=self.taken_at,
            ok=self.ok,
            reason=self.reason,
            http_status=self.http_status,
            latency_ms=self.latency_ms,
            queries_total=s.queries_total if s else None,
            success_total=s.success_total if s else None,
            failed_total=s.failed_total if s else None,
            tokens_total=s.tokens_total if s else None,
            tokens_10m=float(s.tokens_10m) if s else None,
            throughput_mtps=s.throughput_mtps if s else None,
            earned_tokens=s.earned_tokens if s else None,
            wallet_balance=s.wallet_balance if s else None,
            ai_model=s.ai_model if s else None,
            owner_address=s.owner_address if s else None,
            gpu_model=h.gpu_model if h else None,
            gpu_utilization=h.gpu_utilization if h else None,
        )


class _Down(Exception):
    def __init__(self, reason: str, http_status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.http_status = http_status


async def _get(client: httpx.AsyncClient, url: str, what: str, timeout: float) -> str:
    try:
        # httpx's timeout bounds each network operation; this bounds the whole request,
        # so a worker trickling bytes cannot hold a poll open.
        async with asyncio.timeout(timeout):
            response = await client.get(url)
    except (httpx.TimeoutException, TimeoutError) as exc:
        raise _Down(f"{what}: timeout after {timeout:g} s") from exc
    except httpx.ConnectError as exc:
        raise _Down(f"{what}: unreachable ({exc or type(exc).__name__})") from exc
    except httpx.HTTPError as exc:
        raise _Down(f"{what}: {type(exc).__name__}: {exc}") from exc
    if response.status_code != 200:
        raise _Down(f"{what}: HTTP {response.status_code}", response.status_code)
    if len(response.content) > MAX_BODY_BYTES:
        raise _Down(f"{what}: response larger than {MAX_BODY_BYTES} bytes", 200)
    try:
        return response.content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Down(f"{what}: body is not UTF-8", 200) from exc


def _owner_matches(owner: str, distribution: str) -> bool:
    try:
        return raw_address(owner) == distribution
    except Exception:  # pytoniq raises plain exceptions of several types
        return False


async def poll_member(
    client: httpx.AsyncClient, member: MemberConfig, settings: PollSettings, taken_at: int
) -> PollResult:
    """Poll one member's stats and health; a failure is a down result, never an exception."""
    started = time.monotonic()
    stats: WorkerStats | None = None
    health: HealthStatus | None = None
    status: int | None = None
    try:
        text = await _get(client, member.stats_url, "stats", settings.timeout)
        status = 200
        try:
            stats = parse_jsonstats(text)
        except StatsFormatError as exc:
            raise _Down(f"stats: {exc}", 200) from exc
        if settings.distribution and not _owner_matches(stats.owner_address, settings.distribution):
            raise _Down(f"worker owner_address {stats.owner_address} is not the pool", 200)
        if not stats.enabled:
            raise _Down("worker is disabled", 200)
        if not stats.image_accepted:
            raise _Down("worker image hash is not in Cocoon's root contract", 200)
        if not stats.model_accepted:
            raise _Down("worker model is not in Cocoon's root contract", 200)
        if member.health_url:
            try:
                health = parse_health(
                    await _get(client, member.health_url, "health", settings.timeout)
                )
            except StatsFormatError as exc:
                raise _Down(str(exc), 200) from exc
            if not health.healthy:
                raise _Down(f"health: {health.detail}", 200)
        ok, reason = True, None
    except _Down as down:
        ok, reason = False, down.reason
        status = down.http_status if down.http_status is not None else status
    except Exception as exc:  # a bad worker must never stop the oracle
        ok, reason = False, f"unexpected error: {type(exc).__name__}: {exc}"
    latency = int((time.monotonic() - started) * 1000)
    if not ok:
        log.warning("member %s down: %s", member.label, reason)
    return PollResult(member, taken_at, ok, reason, status, latency, stats, health)


async def poll_members(
    members: Sequence[MemberConfig], settings: PollSettings, taken_at: int
) -> list[PollResult]:
    """Poll every member at most ``settings.concurrency`` at a time; results in input order."""
    limit = asyncio.Semaphore(settings.concurrency)
    limits = httpx.Limits(
        max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency
    )
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(settings.timeout), limits=limits, follow_redirects=False
    ) as client:

        async def bounded(member: MemberConfig) -> PollResult:
            async with limit:
                return await poll_member(client, member, settings, taken_at)

        return list(await asyncio.gather(*(bounded(m) for m in members)))


def poll_once(
    members: Sequence[MemberConfig], settings: PollSettings, taken_at: int
) -> list[PollResult]:
    return asyncio.run(poll_members(members, settings, taken_at))
