"""The dashboard's FastAPI app: Jinja2 pages, htmx fragments, local static files."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import StrictUndefined
from markupsafe import Markup
from starlette.exceptions import HTTPException as StarletteHTTPException

from cocoon_pool import economics as econ
from cocoon_pool.dashboard import charts
from cocoon_pool.dashboard.charts import Point
from cocoon_pool.dashboard.data import Dashboard, MemberNotFound, MemberView
from cocoon_pool.errors import CocoonPoolError, UsageError
from cocoon_pool.indexer.history import iso_utc
from cocoon_pool.member_links import ton_text
from cocoon_pool.whatif import TierRates

HERE = Path(__file__).parent
AlertsProvider = Callable[[], Sequence[Mapping[str, object]]]


def no_alerts() -> Sequence[Mapping[str, object]]:
    return []


def ton(nanoton: int | None) -> str:
    return "—" if nanoton is None else f"{ton_text(nanoton)} TON"


def pct(bps: int | float) -> str:
    return f"{bps / 100:g} %"


def when(utime: int | None) -> str:
    return "—" if not utime else iso_utc(utime).replace("T", " ").replace("Z", " UTC")


def duration(seconds: int) -> str:
    seconds = max(int(seconds), 0)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h {minutes} min"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s"


def short(address: str) -> str:
    return address if len(address) <= 16 else f"{address[:8]}…{address[-6:]}"


def parse_ton(text: str) -> int:
    """A TON amount typed by a person (``10``, ``10.5``) in nanoton."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise UsageError(f"{text!r} is not an amount", hint="type TON, e.g. 10 or 12.5") from None
    nano = value * 10**9
    if not value.is_finite() or nano != nano.to_integral_value() or nano < 0:
        raise UsageError(
            f"{text!r} is not an amount of TON", hint="at most 9 decimals, not negative"
        )
    return int(nano)


def parse_bps(name: str, text: str | None) -> int | None:
    """A basis-point field of the what-if form; empty means "keep the recorded one"."""
    if text is None or not text.strip():
        return None
    try:
        return int(text.strip())
    except ValueError:
        raise UsageError(
            f"{name} {text!r} is not a whole number of basis points",
            hint="100 bps is 1 %, e.g. 1200 for 12 %",
        ) from None


def scenario(params: Mapping[str, str]) -> tuple[int | None, TierRates]:
    """The what-if form: a commission (empty: each epoch's recorded one) and tier rates
    (empty: today's rules)."""
    defaults = TierRates()
    values: dict[str, int] = {}
    for f in ("bonus_bps", "minor_penalty_bps", "major_penalty_bps", "outage_penalty_bps"):
        given = parse_bps(f.replace("_", " "), params.get(f))
        values[f] = getattr(defaults, f) if given is None else given
    return parse_bps("commission", params.get("commission")), TierRates(**values)


def member_charts(view: MemberView) -> dict[str, Markup]:
    measured = [p for p in view.points if p.uptime_bps is not None]
    uptime = [
        Point(str(p.epoch), (p.uptime_bps or 0) / 100, pct(p.uptime_bps or 0)) for p in measured
    ]
    gpu = [Point(str(p.epoch), p.gpu_score or 0, str(p.gpu_score)) for p in measured]
    contribution = [Point(str(p.epoch), p.contribution, f"{p.contribution:,}") for p in view.points]
    return {
        "uptime": charts.line_chart("Uptime per epoch", uptime, top=100, unit=" %"),
        "gpu": charts.line_chart("GPU score per epoch", gpu, top=0),
        "contribution": charts.bar_chart("Contribution per epoch", contribution),
    }


def create_app(
    board: Dashboard,
    *,
    alerts_provider: AlertsProvider = no_alerts,
    title: str = "Cocoon GPU pool",
) -> FastAPI:
    """The web app for one pool. ``alerts_provider`` feeds the operator page's alerts
    (mappings with at least ``level`` and ``message``; ``time`` and ``kind`` when known)."""
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    templates = Jinja2Templates(directory=HERE / "templates")
    env = templates.env
    env.undefined = StrictUndefined  # a misspelt name fails the tests instead of rendering empty
    env.filters.update(ton=ton, pct=pct, when=when, duration=duration, short=short)
    env.filters["wallet"] = lambda address: board.friendly(address, bounceable=False)
    env.globals.update(
        title=title,
        network=board.network,
        econ=econ,
        quote=quote,
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def page(request: Request, name: str, code: int = 200, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name, context, status_code=code)

    def error_page(request: Request, status: int, message: str, hint: str) -> HTMLResponse:
        return page(
            request, "error.html", status, active="", status=status, message=message, hint=hint
        )

    @app.exception_handler(MemberNotFound)
    async def not_a_member(request: Request, exc: MemberNotFound) -> HTMLResponse:
        return error_page(request, 404, exc.message, exc.hint)

    @app.exception_handler(UsageError)
    async def bad_input(request: Request, exc: UsageError) -> HTMLResponse:
        return error_page(request, 400, exc.message, exc.hint)

    @app.exception_handler(CocoonPoolError)
    async def failed(request: Request, exc: CocoonPoolError) -> HTMLResponse:
        return error_page(request, 503, exc.message, exc.hint)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> HTMLResponse:
        return error_page(request, exc.status_code, str(exc.detail), "try the pool page")

    @app.get("/", response_class=HTMLResponse)
    def pool_page(request: Request) -> HTMLResponse:
        return page(request, "pool.html", active="pool", **board.pool_page())

    @app.get("/join", response_class=HTMLResponse)
    def join(request: Request, stake: str = "") -> HTMLResponse:
        """The register message for a stake (an htmx fragment)."""
        try:
            action = board.register_action(parse_ton(stake))
        except UsageError as exc:
            return page(request, "_error.html", message=exc.message, hint=exc.hint)
        return page(request, "_action.html", action=action)

    @app.get("/member")
    def find_member(address: str = "") -> Response:
        if not address.strip():
            raise UsageError("no address given", hint="paste your wallet address")
        return RedirectResponse(f"/member/{quote(address.strip(), safe='')}", status_code=303)

    @app.get("/member/{address}", response_class=HTMLResponse)
    def member_page(request: Request, address: str) -> HTMLResponse:
        view = board.member_page(address)
        return page(
            request, "member.html", active="member", member=view, charts=member_charts(view)
        )

    @app.get("/member/{address}/payouts.csv")
    def member_csv(address: str) -> Response:
        name, text = board.member_csv(address)
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="payouts-{name}.csv"'},
        )

    @app.get("/operator", response_class=HTMLResponse)
    def operator_page(request: Request) -> HTMLResponse:
        alerts = [dict(a) for a in alerts_provider()]
        return page(request, "operator.html", active="operator", **board.operator_page(alerts))

    def whatif_context(request: Request) -> dict[str, Any]:
        params = dict(request.query_params)
        try:
            commission, rates = scenario(params)
            result = board.what_if(commission, rates)
        except CocoonPoolError as exc:
            return {"form": params, "error": exc, "result": None}
        return {"form": params, "error": None, "result": result}

    @app.get("/whatif", response_class=HTMLResponse)
    def whatif_page(request: Request) -> HTMLResponse:
        return page(request, "whatif.html", active="whatif", **whatif_context(request))

    @app.get("/whatif/table", response_class=HTMLResponse)
    def whatif_table(request: Request) -> HTMLResponse:
        return page(request, "_whatif.html", **whatif_context(request))

    @app.get("/tonconnect-manifest.json")
    def manifest(request: Request) -> JSONResponse:
        base = str(request.base_url).rstrip("/")
        return JSONResponse(
            {"url": base, "name": title, "iconUrl": f"{base}/static/icon.png"},
            headers={"Access-Control-Allow-Origin": "*"},
        )

    @app.get("/healthz")
    def healthz() -> dict[str, bool]:
        return {"ok": True}

    return app


@contextmanager
def running(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` in a background thread; yields the base URL (port 0: a free one)."""
    import uvicorn  # noqa: PLC0415

    with socket.socket() as probe:  # uvicorn reports no port it chose itself: pick it here
        probe.bind((host, port))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise CocoonPoolError(
                f"the dashboard did not start on {host}:{port}", "try another port"
            )
        time.sleep(0.05)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
