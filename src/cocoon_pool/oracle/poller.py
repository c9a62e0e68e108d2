"""Polling workers: one HTTP round per member, never raising on a bad worker.

Requests run concurrently on one ``httpx.AsyncClient`` with a semaphore bounding how many
members are polled at once and a per-request timeout. Anything that goes wrong with a
worker (unreachable, timeout, non-200, malformed JSON, missing fields, wrong owner) makes
that member's sample *down* with the reason stored and logged.

One failed request is not an outage: the transport retries refused or timed-out
connections, and a timeout, a 5xx or a connection dropped mid-request is tried again
after a pause that doubles each time. All tries of the whole poll end by its deadline
(``PollSettings.budget``), so a poll never runs into the next one.

A poll in which (nearly) every worker could not be reached at all says more about the
oracle's own network than about the workers: :func:`judge_poll` marks it discarded.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from typing import Any, Literal

import httpx

from cocoon_pool.chain.types import raw_address
from cocoon_pool.oracle.config import (
    DEFAULT_ATTEMPTS,
    DEFAULT_DISCARD_FRACTION,
    DEFAULT_DISCARD_MIN_MEMBERS,
    DEFAULT_RETRY_BACKOFF,
    MemberConfig,
)
from cocoon_pool.oracle.http import BodyTooLarge, ConnectFailure, HttpFailure, LeanClient
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
LEAN_CLIENT_MIN_MEMBERS = 64
"""From this many members a poll uses the lean client (oracle/http.py): httpx's CPU cost
per request is what limits a large pool; below it, httpx is the reference."""
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
"""httpx honours these and the lean client does not, so a proxy keeps httpx."""


@dataclass(frozen=True)
class PollSettings:
    timeout: float
    concurrency: int
    distribution: str | None = None
    """Raw address the worker's ``owner_address`` must equal (None: not checked)."""
    attempts: int = DEFAULT_ATTEMPTS
    """Tries per HTTP request; the transport also gets ``attempts - 1`` connect retries."""
    retry_backoff: float = DEFAULT_RETRY_BACKOFF
    """Seconds before the second try, doubled before each further one."""
    budget: float | None = None
    """Seconds the whole poll may take, retries included (None: only the timeouts bound it)."""
    http_client: Literal["auto", "lean", "httpx"] = "auto"
    """``auto``: the lean client from LEAN_CLIENT_MIN_MEMBERS members on (see use_lean_client)."""


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
    unreachable: bool = False
    """The stats request got no HTTP response at all (connection, timeout, dropped)."""

    @property
    def throughput_mtps(self) -> int | None:
        return self.stats.throughput_mtps if self.stats else None

    @property
    def gpu_model(self) -> str | None:
        return self.health.gpu_model if self.health else None

    def to_row(self, poll_id: int | None = None) -> Sample:
        return Sample(**self.row_values(poll_id))

    def row_values(self, poll_id: int | None = None) -> dict[str, Any]:
        return {"poll_id": poll_id, **dict(zip(SAMPLE_COLUMNS, self.row_tuple(), strict=True))}

    def row_tuple(self) -> tuple[Any, ...]:
        """The sample's columns in SAMPLE_COLUMNS order, for a bulk insert."""
        s, h = self.stats, self.health
        if s is None:
            return (
                self.member.address,
                self.taken_at,
                self.ok,
                self.reason,
                self.http_status,
                self.latency_ms,
                *_NO_STATS,
                h.gpu_model if h else None,
                h.gpu_utilization if h else None,
            )
        return (
            self.member.address,
            self.taken_at,
            self.ok,
            self.reason,
            self.http_status,
            self.latency_ms,
            s.queries_total,
            s.success_total,
            s.failed_total,
            s.tokens_total,
            float(s.tokens_10m),
            s.throughput_mtps,
            s.earned_tokens,
            s.wallet_balance,
            s.ai_model,
            s.owner_address,
            h.gpu_model if h else None,
            h.gpu_utilization if h else None,
        )


SAMPLE_COLUMNS = (
    "member",
    "taken_at",
    "ok",
    "reason",
    "http_status",
    "latency_ms",
    "queries_total",
    "success_total",
    "failed_total",
    "tokens_total",
    "tokens_10m",
    "throughput_mtps",
    "earned_tokens",
    "wallet_balance",
    "ai_model",
    "owner_address",
    "gpu_model",
    "gpu_utilization",
)
"""Every column of ``oracle_samples`` but ``id`` and ``poll_id``, in PollResult.row_tuple order."""
_NO_STATS = (None,) * 10


class _Down(Exception):
    def __init__(
        self,
        reason: str,
        http_status: int | None = None,
        *,
        transient: bool = False,
        no_response: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.http_status = http_status
        self.transient = transient
        """Worth another try in the same poll: the next answer may well differ."""
        self.no_response = no_response

    def after(self, attempts: int) -> _Down:
        if attempts == 1:
            return self
        return _Down(
            f"{self.reason} (after {attempts} attempts)",
            self.http_status,
            transient=self.transient,
            no_response=self.no_response,
        )


def _check(what: str, status: int, content: bytes) -> str:
    if status != 200:
        # A 5xx is often a restarting worker or a busy proxy in front of it; a 4xx is a
        # wrong URL, which another try will not fix.
        raise _Down(f"{what}: HTTP {status}", status, transient=status >= 500)
    if len(content) > MAX_BODY_BYTES:
        raise _Down(f"{what}: response larger than {MAX_BODY_BYTES} bytes", 200)
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Down(f"{what}: body is not UTF-8", 200) from exc


async def _get_once_httpx(client: httpx.AsyncClient, url: str, what: str, timeout: float) -> str:
    try:
        # httpx's timeout bounds each network operation; this bounds the whole request,
        # so a worker trickling bytes cannot hold a poll open.
        async with asyncio.timeout(timeout):
            response = await client.get(url)
    except (httpx.TimeoutException, TimeoutError) as exc:
        raise _Down(
            f"{what}: timeout after {timeout:.3g} s", transient=True, no_response=True
        ) from exc
    except httpx.ConnectError as exc:
        # Not retried here: the transport has already retried the connection.
        raise _Down(f"{what}: unreachable ({exc or type(exc).__name__})", no_response=True) from exc
    except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
        raise _Down(
            f"{what}: {type(exc).__name__}: {exc}", transient=True, no_response=True
        ) from exc
    except httpx.TransportError as exc:
        raise _Down(f"{what}: {type(exc).__name__}: {exc}", no_response=True) from exc
    except httpx.HTTPError as exc:
        raise _Down(f"{what}: {type(exc).__name__}: {exc}") from exc
    return _check(what, response.status_code, response.content)


async def _get_once_lean(client: LeanClient, url: str, what: str, timeout: float) -> str:
    try:
        async with asyncio.timeout(timeout):
            status, content = await client.get(url)
    except TimeoutError as exc:
        raise _Down(
            f"{what}: timeout after {timeout:.3g} s", transient=True, no_response=True
        ) from exc
    except ConnectFailure as exc:
        # Not retried here: the client has already retried the connection.
        raise _Down(f"{what}: unreachable ({exc})", no_response=True) from exc
    except BodyTooLarge as exc:
        if exc.status != 200:
            return _check(what, exc.status, b"")
        raise _Down(f"{what}: response larger than {MAX_BODY_BYTES} bytes", 200) from exc
    except HttpFailure as exc:
        raise _Down(
            f"{what}: {exc.name}: {exc}", transient=exc.transient, no_response=True
        ) from exc
    return _check(what, status, content)


GetOnce = Callable[[str, str, float], Awaitable[str]]
"""One try of a GET: ``(url, what, timeout)`` to the body text, or _Down."""


async def _get(
    get_once: GetOnce, url: str, what: str, settings: PollSettings, deadline: float
) -> str:
    """GET with up to ``settings.attempts`` tries, none of them running past ``deadline``.

    A retry starts only if, after its pause, at least a quarter of ``timeout`` is left
    before the deadline: a try cut much shorter than that would rarely get an answer.
    """
    if deadline - time.monotonic() <= 0:
        # A member still queued behind the concurrency limit: the oracle ran out of time,
        # not the worker, so it counts as no response.
        raise _Down(f"{what}: not polled, the poll ran out of time", no_response=True)
    min_try = settings.timeout / 4
    pause = settings.retry_backoff
    attempt = 1
    while True:
        left = max(0.0, deadline - time.monotonic())
        try:
            return await get_once(url, what, min(settings.timeout, left))
        except _Down as down:
            if (
                not down.transient
                or attempt >= settings.attempts
                or time.monotonic() + pause + min_try > deadline
            ):
                raise down.after(attempt) from down.__cause__
            log.info("%s %s: %s; try %d in %.3g s", what, url, down.reason, attempt + 1, pause)
        await asyncio.sleep(pause)
        pause *= 2
        attempt += 1


def _owner_matches(owner: str, distribution: str) -> bool:
    try:
        return raw_address(owner) == distribution
    except Exception:  # ton-core (pytoniq_core inside) raises several exception types
        return False


async def poll_member(
    client: httpx.AsyncClient | LeanClient,
    member: MemberConfig,
    settings: PollSettings,
    taken_at: int,
    deadline: float = math.inf,
) -> PollResult:
    """Poll one member's stats and health; a failure is a down result, never an exception."""
    get_once: GetOnce = (
        partial(_get_once_lean, client)
        if isinstance(client, LeanClient)
        else partial(_get_once_httpx, client)
    )
    return await _poll_member(get_once, member, settings, taken_at, deadline)


async def _poll_member(
    get_once: GetOnce,
    member: MemberConfig,
    settings: PollSettings,
    taken_at: int,
    deadline: float,
) -> PollResult:
    started = time.monotonic()
    stats: WorkerStats | None = None
    health: HealthStatus | None = None
    status: int | None = None
    unreachable = False
    try:
        text = await _get(get_once, member.stats_url, "stats", settings, deadline)
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
                    await _get(get_once, member.health_url, "health", settings, deadline)
                )
            except StatsFormatError as exc:
                raise _Down(str(exc), 200) from exc
            if not health.healthy:
                raise _Down(f"health: {health.detail}", 200)
        ok, reason = True, None
    except _Down as down:
        ok, reason = False, down.reason
        # Only the stats request decides: a worker whose stats answered was reachable,
        # whatever its health check did.
        unreachable = down.no_response and status is None
        status = down.http_status if down.http_status is not None else status
    except Exception as exc:  # a bad worker must never stop the oracle
        ok, reason = False, f"unexpected error: {type(exc).__name__}: {exc}"
    latency = int((time.monotonic() - started) * 1000)
    if not ok:
        log.warning("member %s down: %s", member.label, reason)
    return PollResult(member, taken_at, ok, reason, status, latency, stats, health, unreachable)


def _proxy_configured() -> bool:
    return any(
        os.environ.get(name) for name in PROXY_VARIABLES + tuple(v.lower() for v in PROXY_VARIABLES)
    )


def use_lean_client(settings: PollSettings, members: int) -> bool:
    """The lean client for large polls; httpx for small ones and behind a proxy."""
    if settings.http_client != "auto":
        return settings.http_client == "lean"
    return members >= LEAN_CLIENT_MIN_MEMBERS and not _proxy_configured()


async def poll_members(
    members: Sequence[MemberConfig], settings: PollSettings, taken_at: int
) -> list[PollResult]:
    """Poll every member at most ``settings.concurrency`` at a time; results in input order.

    ``concurrency`` tasks take the members in order, so no more coroutines exist than
    requests in flight, however many members there are.
    """
    deadline = math.inf if settings.budget is None else time.monotonic() + settings.budget
    results: list[PollResult | None] = [None] * len(members)
    queue = iter(enumerate(members))

    async def work(client: httpx.AsyncClient | LeanClient) -> None:
        for i, member in queue:
            results[i] = await poll_member(client, member, settings, taken_at, deadline)

    tasks = min(settings.concurrency, len(members))
    if use_lean_client(settings, len(members)):
        lean = LeanClient(
            connect_retries=settings.attempts - 1,
            max_idle=settings.concurrency,
            limit=MAX_BODY_BYTES,
        )
        try:
            await asyncio.gather(*(work(lean) for _ in range(tasks)))
        finally:
            lean.close()
    else:
        limits = httpx.Limits(
            max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency
        )
        # With a transport of our own, the client ignores its own limits: they go here.
        transport = httpx.AsyncHTTPTransport(retries=settings.attempts - 1, limits=limits)
        async with httpx.AsyncClient(
            transport=transport, timeout=httpx.Timeout(settings.timeout), follow_redirects=False
        ) as client:
            await asyncio.gather(*(work(client) for _ in range(tasks)))
    done = [r for r in results if r is not None]
    assert len(done) == len(members)
    return done


GC_YOUNG_THRESHOLD = 50_000
"""Allocations between young-generation collections during a poll (Python's default: 700).

A poll allocates a few dozen objects per worker and keeps most of them; collecting every
700 allocations cost about a quarter of the poll's CPU at 20,000 workers. Garbage is still
collected, only less often, so memory stays bounded."""


@contextmanager
def _fewer_collections() -> Iterator[None]:
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, GC_YOUNG_THRESHOLD), middle, old)
    try:
        yield
    finally:
        gc.set_threshold(young, middle, old)


def poll_once(
    members: Sequence[MemberConfig], settings: PollSettings, taken_at: int
) -> list[PollResult]:
    with _fewer_collections():
        return asyncio.run(poll_members(members, settings, taken_at))


@dataclass(frozen=True)
class PollVerdict:
    """Whether one poll's samples count, and the numbers that decided it."""

    members: int
    down: int
    unreachable: int
    discarded: bool
    reason: str | None = None


def judge_poll(
    results: Sequence[PollResult],
    down_fraction: float = DEFAULT_DISCARD_FRACTION,
    min_members: int = DEFAULT_DISCARD_MIN_MEMBERS,
) -> PollVerdict:
    """Discard the poll when at least ``down_fraction`` of the workers gave no response.

    Only "no HTTP response" counts: a worker that answered, even with a 500 or a wrong
    owner, proves the oracle's network was up, so its failure is the worker's own. Below
    ``min_members`` one or two dead workers would be "everyone", so no poll is discarded.
    """
    polled = len(results)
    down = sum(not r.ok for r in results)
    unreachable = sum(r.unreachable for r in results)
    # Fraction of the decimal text: 0.9 * 10 must be exactly 9, not 9.000000000000002.
    needed = Fraction(str(down_fraction)) * polled
    if polled < min_members or unreachable < needed:
        return PollVerdict(polled, down, unreachable, discarded=False)
    reason = (
        f"{unreachable} of {polled} workers gave no response (discard threshold "
        f"{down_fraction:g}): the oracle's own network is the likely cause"
    )
    return PollVerdict(polled, down, unreachable, discarded=True, reason=reason)
