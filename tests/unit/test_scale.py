"""`cocoon-pool bench scale` on a small pool: the figures, the gas next to N = 10 and the
checks it makes (the 100,000-member run is a benchmark: docs/scale.md)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cocoon_pool.cli.app import app
from cocoon_pool.scale import ScaleConfig, ScaleRun

runner = CliRunner()


def test_bench_scale_json_reports_a_whole_pool(tmp_path: Path) -> None:
    snapshot = tmp_path / "scale.json"
    result = runner.invoke(
        app,
        ["bench", "scale", "-n", "20", "--batch", "3", "--json", "--snapshot", str(snapshot)],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report == json.loads(snapshot.read_text())
    assert report["participants"] == 20 and report["small_participants"] == 10
    assert report["plain_wallets"] and report["transactions_per_member"] < 25
    assert report["conserved"] and report["reference_match"] and report["gas_equal"]
    assert report["gas"] == report["gas_small"]
    assert set(report["gas"]) >= {"register_bound", "verify_member", "report", "payout"}
    counters = report["counters"]
    assert counters["member_count"] == counters["ever_joined"] == 20
    assert counters["epochs_closed"] == 1 and counters["unsettled"] == 0
    phases = {p["name"]: p for p in report["phases"]}
    # Each member joins with its worker bound (one message) and is verified (ten a message).
    assert phases["register + bind + verify"]["operations"] == 40
    assert phases["epoch 1: reports"]["operations"] == 20
    assert sum(p["transactions"] for p in report["phases"]) == report["transactions"]
    assert report["raw_executor_sampled"] > 0 and report["raw_executor_tx_per_second"] > 0
    assert report["python_peak_rss_bytes"] > 0 and report["node_peak_rss_bytes"] > 0


def test_bench_scale_table_and_bad_arguments() -> None:
    # Reports go in batches of ten: with N a multiple of ten every batch is full and a
    # member's report costs the same gas as at N = 10.
    result = runner.invoke(app, ["bench", "scale", "-n", "20"])
    assert result.exit_code == 0, result.output
    for text in (
        "gas equal at both sizes: yes",
        "N = 10",
        "chain/raw",
        "peak memory",
        "per member",
    ):
        assert text in result.output
    bad = runner.invoke(app, ["bench", "scale", "-n", "0"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output


def test_sampled_conservation_checks() -> None:
    """check_every=k adds a conservation check after every k-th batch."""
    phases_only = ScaleRun(ScaleConfig(participants=4, batch=2)).run()
    sampled = ScaleRun(ScaleConfig(participants=4, batch=2, check_every=1)).run()
    assert sampled.conserved and phases_only.conserved
    assert sampled.conservation_checks > phases_only.conservation_checks
    assert sampled.gas == phases_only.gas


def test_plain_wallets_change_no_pool_figure() -> None:
    """The scale run's plain wallets (no wallet transactions) leave every pool transaction's
    gas, the counters and the checks as with full wallets."""
    full = ScaleRun(ScaleConfig(participants=4, batch=2, plain_wallets=False)).run()
    plain = ScaleRun(ScaleConfig(participants=4, batch=2)).run()
    assert plain.gas == full.gas
    assert plain.counters == full.counters
    assert plain.ok and full.ok and plain.conservation_checks == full.conservation_checks
    assert plain.transactions < full.transactions
