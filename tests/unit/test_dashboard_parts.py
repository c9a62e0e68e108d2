"""Dashboard pieces without a chain: formatting, form parsing, charts, metrics parsing,
service health, and the vendored front-end files against web/node_modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from cocoon_pool.dashboard import assets
from cocoon_pool.dashboard.app import (
    duration,
    parse_bps,
    parse_ton,
    pct,
    scenario,
    short,
    ton,
    when,
)
from cocoon_pool.dashboard.charts import Point, bar_chart, compact, line_chart
from cocoon_pool.dashboard.data import parse_metrics, service_health
from cocoon_pool.errors import UsageError
from cocoon_pool.keeper.metrics import Metrics, serve_metrics
from cocoon_pool.whatif import TierRates

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "web" / "node_modules"


def test_vendored_files_match_the_pinned_packages() -> None:
    """Fails when static/vendor/ drifted from web/node_modules (rerun
    scripts/build_dashboard_assets.py); without node_modules only presence is checked."""
    for name in assets.VENDOR_FILES:
        assert (assets.VENDOR_DIR / name).is_file(), name
    if not NODE_MODULES.is_dir():
        pytest.skip("web/node_modules is not installed (npm ci in web/)")
    assert assets.drifted(NODE_MODULES) == []


def test_pins_are_exact() -> None:
    import json  # noqa: PLC0415

    package = json.loads((ROOT / "web" / "package.json").read_text())
    lock = json.loads((ROOT / "web" / "package-lock.json").read_text())
    for name, version in package["dependencies"].items():
        assert version[0].isdigit(), f"{name} is not pinned exactly: {version}"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version


def test_copy_assets(tmp_path: Path) -> None:
    modules = tmp_path / "node_modules"
    for source in assets.VENDOR_FILES.values():
        (modules / source).parent.mkdir(parents=True, exist_ok=True)
        (modules / source).write_text(source)
    vendor = tmp_path / "vendor"
    assert sorted(assets.copy_assets(modules, vendor)) == sorted(assets.VENDOR_FILES)
    assert assets.drifted(modules, vendor) == []
    assert assets.copy_assets(modules, vendor) == []
    (modules / assets.VENDOR_FILES["htmx.min.js"]).write_text("new")
    assert assets.drifted(modules, vendor) == ["htmx.min.js"]


def test_formatting() -> None:
    assert ton(None) == "—" and ton(1_500_000_000) == "1.5 TON" and ton(0) == "0 TON"
    assert pct(1250) == "12.5 %"
    assert when(None) == "—" and when(0) == "—"
    assert when(1_800_000_000) == "2027-01-15 08:00:00 UTC"
    assert duration(2 * 86_400 + 3_600 * 3 + 60 * 4 + 5) == "2 d 3 h 4 min"
    assert duration(3_700) == "1 h 1 min" and duration(-5) == "0 min 0 s"
    assert short("0:" + "ab" * 32) == "0:ababab…ababab" and short("EQshort") == "EQshort"


def test_form_parsing() -> None:
    assert parse_ton(" 10.5 ") == 10_500_000_000 and parse_ton("0") == 0
    for bad in ("ten", "1.0000000001", "-1", "inf"):
        with pytest.raises(UsageError):
            parse_ton(bad)
    assert parse_bps("commission", None) is None and parse_bps("commission", " ") is None
    assert parse_bps("commission", "1200") == 1200
    with pytest.raises(UsageError, match="not a whole number"):
        parse_bps("commission", "12.5")
    assert scenario({}) == (None, TierRates())
    assert scenario({"commission": "900", "bonus_bps": "0", "minor_penalty_bps": ""}) == (
        900,
        TierRates(bonus_bps=0),
    )


def test_charts() -> None:
    assert "no data yet" in line_chart("t", [], top=100)
    assert "no data yet" in bar_chart("t", [])
    svg = line_chart("Uptime <1>", [Point("1", 99, "99 %"), Point("2", 80.5, "80.5 %")], top=100)
    assert svg.startswith('<svg class="chart"') and "Uptime &lt;1&gt;" in svg
    assert svg.count("<circle") == 2 and "100 %" not in svg  # unit only when given
    bars = bar_chart("c", [Point("1", 598_752_000, "598,752,000"), Point("2", 0, "0")])
    assert bars.count("<rect") == 2 and "599M" in bars
    flat = line_chart("zero", [Point("1", 0, "0")], top=0)
    assert "<polyline" in flat
    assert compact(1_500) == "1.5k" and compact(2e9) == "2G" and compact(12.5) == "12.5"


def test_parse_metrics() -> None:
    text = '# HELP x\n# TYPE x gauge\nx 1\ny{label="a"} 2\nz notanumber\nw 1.5e3\n\nshort\n'
    assert parse_metrics(text) == {"x": 1.0, "w": 1500.0}


def test_service_health() -> None:
    assert service_health("oracle", None).ok is None
    metrics = Metrics()
    with serve_metrics(metrics, 0, clock=lambda: 0.0) as url:
        unhealthy = service_health("keeper", url)  # no step finished yet: /healthz is 503
    assert unhealthy.ok is False
    metrics.set("last_step_timestamp_seconds", 10)
    with serve_metrics(metrics, 0, clock=lambda: 11.0) as url:
        healthy = service_health("keeper", url)
    assert healthy.ok is True and healthy.metrics["cocoon_keeper_last_step_timestamp_seconds"] == 10
