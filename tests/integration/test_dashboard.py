"""The dashboard on the demo pool (real TVM, indexed into SQLite): every page, its figures
against the indexed data and the chain, the CSV, the what-if numbers against the reference
model, error pages, and the `dashboard` and `whatif` commands."""

from __future__ import annotations

import html
import json
import re
import socket
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from cocoon_pool import economics as econ
from cocoon_pool.cli import dashboard_cmd
from cocoon_pool.cli.app import app as cli
from cocoon_pool.contracts.addresses import raw
from cocoon_pool.dashboard import Dashboard, create_app
from cocoon_pool.dashboard.app import running, ton
from cocoon_pool.dashboard.demo import DEMO_NEXT_COMMISSION_BPS, Demo, seed_demo
from cocoon_pool.indexer.demo import DEMO_MEMBERS
from cocoon_pool.indexer.history import csv_rows, csv_text, load_history
from cocoon_pool.indexer.models import EpochResult, IndexedEvent, Payout
from cocoon_pool.keeper.metrics import Metrics, serve_metrics
from cocoon_pool.whatif import TierRates

ALERTS = ({"level": "warning", "kind": "tier_drop", "message": "carol dropped a tier", "time": 0},)


@cache
def seeded(folder: str) -> Demo:
    """One demo pool per test process, shared by this module and the browser tests."""
    return seed_demo(f"sqlite:///{Path(folder) / 'dashboard.db'}")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    return seeded(str(tmp_path_factory.getbasetemp()))


@pytest.fixture(scope="module")
def client(demo: Demo) -> TestClient:
    return TestClient(create_app(demo.board, alerts_provider=lambda: ALERTS))


def member(demo: Demo, name: str) -> str:
    return raw(demo.pool.members[name].address)


def text_of(page: str) -> str:
    """The visible text, whitespace collapsed."""
    page = re.sub(r"<(script|svg)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def by_id(page: str, element_id: str) -> str:
    """The text of the element with this id (up to its own closing tag: none of the
    elements looked up holds another element of its kind)."""
    match = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>(.*?)</\1>', page, re.S)
    assert match is not None, element_id
    return text_of(match.group(2)).strip()


# -- pool page --------------------------------------------------------------------------------


def test_pool_page_figures(demo: Demo, client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    pool = demo.pool.sandbox.pool
    ledger, registry = pool.ledger(), pool.registry_info()
    assert by_id(page.text, "commission") == "10 %"
    assert by_id(page.text, "open-epoch") == str(ledger.current_epoch) == "4"
    assert by_id(page.text, "pot") == ton(ledger.open_income)
    assert ledger.open_income > 0
    assert by_id(page.text, "members") == str(registry.member_count) == "2"
    assert by_id(page.text, "total-paid") == ton(ledger.paid)
    assert by_id(page.text, "reserve") == ton(ledger.reserve)
    assert "due to close" in by_id(page.text, "epoch-timer")  # the demo chain is past its end
    # The commission change the demo proposed is not applied: only the operator sees it.
    assert f"{DEMO_NEXT_COMMISSION_BPS / 100:g} %" not in by_id(page.text, "commission")
    with demo.sessions() as session:
        epochs = session.scalars(select(EpochResult).order_by(EpochResult.epoch)).all()
        payouts = session.scalars(select(Payout).order_by(Payout.lt.desc())).all()
    table = by_id(page.text, "epochs")
    for e in epochs:
        assert e.received is not None and e.commission is not None and e.net is not None
        for figure in (e.received, e.commission, e.net):
            assert ton(figure) in table
    recent = by_id(page.text, "recent-payouts")
    assert len(payouts) == 10  # 3 epochs x 3 members + carol taking her pending out
    for p in payouts[:10]:
        assert ton(p.amount) in recent
    # Members are linked; the tier table states the rules' constants.
    assert f'href="/member/{quote(member(demo, "alice"), safe="")}"' in page.text
    text = text_of(page.text)
    assert f"o > {econ.MAX_OUTAGES_WITHOUT_PENALTY}" in text
    assert f"u > {econ.UPTIME_BONUS_THRESHOLD_BPS / 100:g} %" in text


def test_join_fragment(demo: Demo, client: TestClient) -> None:
    page = client.get("/join", params={"stake": "12.5"})
    assert page.status_code == 200
    assert "Send <strong>12.7 TON</strong>" in page.text  # stake + reserve 0.05 + fee 0.15
    registry = demo.board.friendly(demo.pool.sandbox.pool.registry)
    assert f'data-address="{registry}"' in page.text
    assert 'data-amount="12700000000"' in page.text
    low = client.get("/join", params={"stake": "1"})
    assert "below the pool&#39;s minimum of 10 TON" in low.text
    bad = client.get("/join", params={"stake": "ten"})
    assert "is not an amount" in html.unescape(bad.text)
    assert "not negative" in html.unescape(client.get("/join", params={"stake": "-1"}).text)


# -- member page ------------------------------------------------------------------------------


def test_member_page_figures(demo: Demo, client: TestClient) -> None:
    alice = member(demo, "alice")
    page = client.get(f"/member/{alice}")
    assert page.status_code == 200
    pool = demo.pool.sandbox.pool
    info = pool.participant_info(demo.pool.members["alice"].address)
    assert by_id(page.text, "stake") == ton(info.stake)
    assert by_id(page.text, "verified") == "yes"
    assert by_id(page.text, "member-status") == "active"
    assert by_id(page.text, "tier") == "bonus"
    assert "uptime 99 %" in by_id(page.text, "why")
    with demo.sessions() as session:
        payouts = session.scalars(select(Payout).where(Payout.member == alice)).all()
        reports = session.scalars(
            select(IndexedEvent).where(IndexedEvent.kind == "ContributionRecorded")
        ).all()
    table = by_id(page.text, "payouts")
    assert len(payouts) == 3
    for p in payouts:
        assert ton(p.transferred) in table
    assert by_id(page.text, "received") == ton(sum(p.transferred for p in payouts))
    # Contribution per epoch = the reference model's contribution of the reported metrics.
    metrics = dict(DEMO_MEMBERS)["alice"]
    assert f"{econ.contribution(metrics):,}" in by_id(page.text, "member-epochs")
    assert page.text.count('<svg class="chart"') == 3
    # Estimated next payout: the open epoch's income so far, split like epoch 3.
    ledger = pool.ledger()
    last = [r for r in reports if r.epoch == 3]
    aggr = econ.EpochAggregates()
    for r in last:
        f = r.fields
        aggr = econ.add_member(aggr, f["contribution"], f["penalty_bps"], f["bonus_bps"])
    settlement = econ.settle_epoch(ledger.open_income, 1000, ledger.reserve, aggr)
    c, p_, b = (econ.contribution(metrics), econ.penalty_bps(metrics), econ.bonus_bps(metrics))
    expected = econ.member_payout(settlement, aggr, c, p_, b).payout
    assert by_id(page.text, "estimate") == ton(expected)
    # Actions: unregister for an active member, as a TON Connect button and ton:// link.
    assert "Unregister" in page.text and "ton://transfer/" in page.text
    assert 'id="tc-connect"' in page.text and 'class="tc-send"' in page.text
    # The embedded chain has no explorer: hashes only.
    assert "tonviewer" not in page.text


def test_member_page_states(demo: Demo, client: TestClient) -> None:
    bob = client.get(f"/member/{member(demo, 'bob')}")  # left and withdrew
    assert bob.status_code == 200
    assert by_id(bob.text, "member-status") == "withdrawn"
    assert by_id(bob.text, "stake") == "0 TON"
    carol = client.get(f"/member/{quote(demo.board.friendly(member(demo, 'carol')), safe='')}")
    assert carol.status_code == 200
    assert by_id(carol.text, "tier") == "major-penalty+outages"
    why = by_id(carol.text, "why")
    assert "major penalty of 20 %" in why and "5 outages" in why
    assert "kept pending" in by_id(carol.text, "payouts")
    assert by_id(carol.text, "pending") == "0 TON"  # she took epoch 3's pending share out
    assert "Unregister" in carol.text
    # The member form redirects to the member's page.
    found = client.get("/member", params={"address": member(demo, "carol")}, follow_redirects=False)
    assert found.status_code == 303
    assert found.headers["location"] == f"/member/{quote(member(demo, 'carol'), safe='')}"


def test_member_csv(demo: Demo, client: TestClient) -> None:
    alice = member(demo, "alice")
    answer = client.get(f"/member/{alice}/payouts.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    with demo.sessions() as session:
        expected = csv_text(csv_rows(load_history(session, alice, demo.board.pool_raw)))
    assert answer.text == expected
    assert answer.text.count(",reward,") == 3 and answer.text.count(",stake_deposit,") == 1


def test_explorer_links_per_network(demo: Demo) -> None:
    for network, hosts in (
        ("mainnet", ("https://tonviewer.com/transaction/", "https://tonscan.org/tx/")),
        ("testnet", ("https://testnet.tonviewer.com/", "https://testnet.tonscan.org/tx/")),
        ("local", ()),
    ):
        board = Dashboard(
            sessions=demo.sessions, pool=demo.board.pool, network=network, clock=demo.board.clock
        )
        page = TestClient(create_app(board)).get(f"/member/{member(demo, 'alice')}")
        links = re.findall(r'class="explorer" href="([^"]+)"', page.text)
        assert len(links) == 3 * len(hosts)
        for host in hosts:
            assert sum(link.startswith(host) for link in links) == 3
        friendly = by_id(page.text, "member-address")
        assert friendly.startswith("UQ" if network == "mainnet" else "0Q")


def test_error_pages(demo: Demo, client: TestClient) -> None:
    unknown = client.get("/member/0:" + "ab" * 32)
    assert unknown.status_code == 404
    assert "is not a member of this pool" in text_of(unknown.text)
    assert client.get("/member/0:" + "ab" * 32 + "/payouts.csv").status_code == 404
    bad = client.get("/member/not-an-address")
    assert bad.status_code == 400
    assert "is not a TON address" in text_of(bad.text)
    assert client.get("/member", params={"address": " "}).status_code == 400
    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and "Not found" in missing.text


# -- operator page ----------------------------------------------------------------------------


def test_operator_page(demo: Demo, client: TestClient) -> None:
    page = client.get("/operator")
    assert page.status_code == 200
    pool = demo.pool.sandbox.pool
    pending = pool.pending_change()
    assert pending.exists
    change = by_id(page.text, "pending-changes")
    assert f"commission to {DEMO_NEXT_COMMISSION_BPS / 100:g} %" in change
    assert "in 2 d 0 h 0 min" in change  # the default 2-day timelock, proposed just now
    assert by_id(page.text, "paused") == "no"
    assert by_id(page.text, "op-status") == "active"
    assert by_id(page.text, "commission-unpaid") == ton(pool.ledger().commission_unpaid)
    assert "not configured" in by_id(page.text, "health-keeper")
    alerts = by_id(page.text, "alerts")
    assert "carol dropped a tier" in alerts and "tier_drop" in alerts
    config = by_id(page.text, "config")
    assert demo.board.friendly(pool.distribution) in config
    assert "10 TON" in config


def test_operator_health_from_metrics(demo: Demo, tmp_path: Path) -> None:
    metrics = Metrics()
    metrics.set("current_epoch", 4)
    metrics.set("last_step_timestamp_seconds", 1)
    metrics.inc("payouts_sent", 9)
    with serve_metrics(metrics, 0, clock=lambda: 2.0) as keeper:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            dead = f"http://127.0.0.1:{s.getsockname()[1]}"  # bound, never listening
        board = Dashboard(
            sessions=demo.sessions,
            pool=demo.board.pool,
            network="embedded",
            clock=demo.board.clock,
            keeper_url=keeper,
            oracle_url=dead,
            oracle_db=f"sqlite:///{tmp_path / 'oracle.db'}",
        )
        page = TestClient(create_app(board)).get("/operator")
    keeper_card = by_id(page.text, "health-keeper")
    assert keeper_card.startswith("Keeper ok")
    assert "cocoon_keeper_payouts_sent_total 9" in keeper_card
    assert "cocoon_keeper_current_epoch 4" in keeper_card
    oracle_card = by_id(page.text, "health-oracle")
    assert "NOT OK" in oracle_card and "no poll stored yet" in oracle_card
    assert "No alert." in by_id(page.text, "alerts")


# -- what-if ----------------------------------------------------------------------------------


def sequential_model(demo: Demo, commission_bps: int, rates: TierRates) -> dict[str, int]:
    """Each member's total over the recorded epochs by the reference model, computed from
    the demo's own metrics (not from the indexed reports), the reserve carried epoch to
    epoch."""
    with demo.sessions() as session:
        epochs = session.scalars(select(EpochResult).order_by(EpochResult.epoch)).all()
    uptime_rate = {
        0: 0,
        econ.MINOR_PENALTY_BPS: rates.minor_penalty_bps,
        econ.MAJOR_PENALTY_BPS: rates.major_penalty_bps,
    }
    terms = []
    for name, m in DEMO_MEMBERS:
        p = uptime_rate[econ.uptime_penalty_bps(m)]
        p += rates.outage_penalty_bps if econ.has_outage_penalty(m) else 0
        b = rates.bonus_bps if econ.bonus_bps(m) else 0
        terms.append((member(demo, name), econ.contribution(m), p, b))
    totals = {t[0]: 0 for t in terms}
    reserve = epochs[0].reserve_in
    assert reserve is not None
    for e in epochs:
        assert e.received is not None
        aggr = econ.EpochAggregates()
        for _, c, p, b in terms:
            aggr = econ.add_member(aggr, c, p, b)
        settlement = econ.settle_epoch(e.received, commission_bps, reserve, aggr)
        shares = [econ.member_payout(settlement, aggr, c, p, b).payout for _, c, p, b in terms]
        for (who, *_), share in zip(terms, shares, strict=True):
            totals[who] += share
        reserve = settlement.reserve_out + settlement.claimable - sum(shares)
    return totals


@pytest.mark.parametrize(
    ("query", "commission", "rates"),
    [
        ({"commission": "1200"}, 1200, TierRates()),
        (
            {"commission": "800", "bonus_bps": "2500", "minor_penalty_bps": "0"},
            800,
            TierRates(bonus_bps=2500, minor_penalty_bps=0),
        ),
        ({"major_penalty_bps": "5000", "outage_penalty_bps": "0"}, 1000, None),
    ],
)
def test_whatif_equals_reference_model(
    demo: Demo, client: TestClient, query: dict[str, str], commission: int, rates: Any
) -> None:
    rates = rates or TierRates(major_penalty_bps=5000, outage_penalty_bps=0)
    expected = sequential_model(demo, commission, rates)
    result = demo.board.what_if(int(query["commission"]) if "commission" in query else None, rates)
    assert result.baseline_matches
    assert {t.member: t.whatif for t in result.members} == expected
    with demo.sessions() as session:
        got = {
            who: sum(
                p.amount
                for p in session.scalars(
                    select(Payout).where(Payout.member == who, Payout.kind == "reward")
                )
            )
            for who in expected
        }
    assert {t.member: t.actual for t in result.members} == got
    assert {t.member: t.baseline for t in result.members} == got
    page = client.get("/whatif/table", params=query)
    assert page.status_code == 200
    table = by_id(page.text, "whatif-members")
    for who, total in expected.items():
        assert ton(total) in table
        assert ton(got[who]) in table
    assert "model = chain" in page.text
    full = client.get("/whatif", params=query)
    assert full.status_code == 200 and 'id="whatif-form"' in full.text
    assert f'name="commission" value="{query.get("commission", "")}"' in full.text


def test_whatif_form_errors(client: TestClient) -> None:
    for query, message in (
        ({"commission": "100"}, "commission 100 bps is outside 500..1500"),
        ({"commission": "12%"}, "is not a whole number of basis points"),
        ({"bonus_bps": "20000"}, "bonus bps = 20000 is outside 0..10000"),
        ({"major_penalty_bps": "9500"}, "an uptime penalty plus the outage penalty"),
    ):
        page = client.get("/whatif/table", params=query)
        assert page.status_code == 200
        assert message in html.unescape(page.text), query
        assert 'id="whatif-summary"' not in page.text


def test_manifest_and_static(client: TestClient) -> None:
    manifest = client.get("/tonconnect-manifest.json").json()
    assert manifest == {
        "url": "http://testserver",
        "name": "Cocoon GPU pool",
        "iconUrl": "http://testserver/static/icon.png",
    }
    for path in ("/static/vendor/htmx.min.js", "/static/vendor/tonconnect-ui.min.js"):
        assert client.get(path).status_code == 200
    assert client.get("/static/icon.png").content.startswith(b"\x89PNG")
    assert client.get("/healthz").json() == {"ok": True}
    # Nothing is fetched from elsewhere: every script and stylesheet is local.
    page = client.get("/").text
    assert re.findall(r'<script src="(?!/static/)', page) == []
    assert re.findall(r'<link rel="stylesheet" href="(?!/static/)', page) == []


# -- commands ---------------------------------------------------------------------------------

runner = CliRunner()


def db_url(demo: Demo) -> str:
    return str(demo.engine.url)


def test_whatif_command(demo: Demo) -> None:
    done = runner.invoke(cli, ["whatif", "--database", db_url(demo), "--commission", "1200"])
    assert done.exit_code == 0, done.output
    expected = sequential_model(demo, 1200, TierRates())
    for total in expected.values():
        assert f"{total / 10**9:,.9f}" in done.output
    assert "model = chain" in done.output
    as_json = runner.invoke(
        cli, ["whatif", "-d", db_url(demo), "--commission", "1200", "--bonus-bps", "1500", "--json"]
    )
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.output)
    assert data["scenario"]["commission_bps"] == 1200 and data["scenario"]["bonus_bps"] == 1500
    assert data["baseline_matches"] is True
    assert len(data["epochs"]) == 3 and len(data["members"]) == 3
    as_csv = runner.invoke(
        cli, ["whatif", "-d", db_url(demo), "--csv", "--pool", demo.board.pool_raw]
    )
    assert as_csv.exit_code == 0, as_csv.output
    lines = as_csv.output.splitlines()
    assert lines[0].startswith("epoch,member,tier") and len(lines) == 1 + 9
    # Unchanged scenario: every row's what-if equals what was settled.
    for line in lines[1:]:
        cells = line.split(",")
        assert cells[4] == cells[5] == cells[6] and cells[7] == "0"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--commission", "2000"], "commission 2000 bps is outside 500..1500"),
        (["--minor-penalty-bps", "-5"], "minor penalty bps = -5 is outside 0..10000"),
        (["--csv", "--json"], "--csv and --json both print"),
        (["--pool", "nope"], "is not a TON address"),
        (["--pool", "0:" + "00" * 32], "no finalized epoch is indexed"),
    ],
)
def test_whatif_command_errors(demo: Demo, args: list[str], message: str) -> None:
    done = runner.invoke(cli, ["whatif", "--database", db_url(demo), *args])
    assert done.exit_code == 2 if "no finalized" not in message else done.exit_code == 1
    assert message in done.output
    assert "Traceback" not in done.output


def test_whatif_command_without_database(tmp_path: Path) -> None:
    done = runner.invoke(cli, ["whatif", "--database", f"sqlite:///{tmp_path / 'none.db'}"])
    assert done.exit_code == 2 and "there is no indexer database" in done.output
    assert runner.invoke(cli, ["whatif"]).exit_code == 2
    empty = tmp_path / "empty.db"
    from cocoon_pool.indexer import open_database  # noqa: PLC0415

    engine, _ = open_database(f"sqlite:///{empty}")
    engine.dispose()
    done = runner.invoke(cli, ["whatif", "--database", f"sqlite:///{empty}"])
    assert done.exit_code == 1 and "the database holds no pool" in done.output


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Any, str, int]]]:
    calls: list[tuple[Any, str, int]] = []
    monkeypatch.setattr(
        dashboard_cmd, "SERVE", [lambda app, host, port: calls.append((app, host, port))]
    )
    yield calls


def test_dashboard_command_demo(
    demo: Demo, served: list[tuple[Any, str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import cocoon_pool.dashboard.demo as demo_module  # noqa: PLC0415

    # The demo pool is built once per test run; here the command gets the one built already.
    monkeypatch.setattr(demo_module, "seed_demo", lambda url: demo)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    done = runner.invoke(cli, ["dashboard", "--demo", "--port", str(free)])
    assert done.exit_code == 0, done.output
    ((app, host, port),) = served
    assert (host, port) == ("127.0.0.1", free)
    page = TestClient(app).get("/")
    assert page.status_code == 200 and "Cocoon GPU pool (demo)" in page.text


def test_dashboard_command_errors(tmp_path: Path, served: list[tuple[Any, str, int]]) -> None:
    done = runner.invoke(cli, ["dashboard"])
    assert done.exit_code == 2 and "no pool to show" in done.output
    done = runner.invoke(cli, ["dashboard", "--demo", "--config", str(tmp_path / "pool.toml")])
    assert done.exit_code == 2 and "--demo builds its own pool" in done.output
    done = runner.invoke(cli, ["dashboard", "--config", str(tmp_path / "missing.toml")])
    assert done.exit_code == 2 and "missing.toml" in done.output
    done = runner.invoke(cli, ["dashboard", "--demo", "--port", "70000"])
    assert done.exit_code == 2
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = runner.invoke(cli, ["dashboard", "--demo", "--port", str(port)])
    assert done.exit_code == 2 and f"cannot listen on 127.0.0.1:{port}" in done.output
    assert "Traceback" not in done.output
    assert served == []


def test_running_serves_the_app(client: TestClient) -> None:
    import httpx  # noqa: PLC0415

    with running(client.app) as base:  # type: ignore[arg-type]
        assert httpx.get(base + "/healthz").json() == {"ok": True}


def test_member_actions_of_every_state(demo: Demo) -> None:
    """On a fork of the demo chain: epoch 4 reported, Alice's share not cranked (claim), Carol's
    cranked below the minimum payout (claim pending) and Carol unbonding (withdraw)."""
    fork = demo.pool.sandbox.fork()
    alice, carol = fork.members["alice"], fork.members["carol"]  # the fork's own wallets
    fork.close_epoch().assert_success()
    metrics = dict(DEMO_MEMBERS)
    fork.report(alice, 4, metrics["alice"]).assert_success()
    fork.report(carol, 4, metrics["carol"]).assert_success()
    fork.finalize().assert_success()
    fork.pool.crank_payout(fork.keeper, carol.address, 4).assert_success()
    fork.pool.unregister(carol).assert_success()
    board = Dashboard(
        sessions=demo.sessions, pool=fork.pool, network="embedded", clock=lambda: fork.chain.now
    )
    client = TestClient(create_app(board))
    alice_page = client.get(f"/member/{raw(alice.address)}")
    assert alice_page.status_code == 200, text_of(alice_page.text)
    assert "Claim epoch 4" in alice_page.text and "Unregister" in alice_page.text
    carol_page = client.get(f"/member/{raw(carol.address)}")
    assert by_id(carol_page.text, "member-status") == "unbonding"
    assert "Claim pending" in carol_page.text and "Withdraw stake" in carol_page.text
    assert "Unregister" not in carol_page.text
    pending = fork.pool.participant_info(carol.address).pending
    assert pending > 0 and by_id(carol_page.text, "pending") == ton(pending)


def test_describe_every_change(demo: Demo) -> None:
    from cocoon_pool.contracts import messages as m  # noqa: PLC0415
    from cocoon_pool.dashboard.data import describe_change  # noqa: PLC0415

    admin = demo.pool.sandbox.admin.address
    cases = {
        m.ChangeCommission(bps=1200): "commission to 12 % (1200 bps)",
        m.ChangeMinStake(amount=25 * 10**9): "minimum stake to 25 TON",
        m.ChangeEpochLength(seconds=86_400): "epoch length to 86400 s",
        m.ChangeOracleKeys(quorum=2, keys=None): "oracle keys (quorum 2)",
        m.ChangeAdmin(nominee=admin): "admin to " + demo.board.friendly(admin, bounceable=False),
        m.ChangePauser(nominee=admin): "pauser to ",
        m.UpgradeContract(target=m.UPGRADE_REGISTRY, code=m.ClaimPending().to_cell()): (
            "code upgrade of the registry"
        ),
        m.ChangeMemberCap(cap=50): "member cap to 50",
    }
    for change, text in cases.items():
        assert describe_change(change, demo.board).startswith(text)


def test_chain_failure_page(demo: Demo) -> None:
    """A pool that is not on this chain: the get-methods fail, the page says so (503)."""
    from ton_core import Address  # noqa: PLC0415

    from cocoon_pool.contracts.pool import Pool  # noqa: PLC0415

    nowhere = Pool(demo.board.pool.chain, Address("0:" + "cd" * 32))
    board = Dashboard(sessions=demo.sessions, pool=nowhere, network="embedded", clock=lambda: 0)
    page = TestClient(create_app(board)).get("/")
    assert page.status_code == 503 and "Error 503" in page.text


def test_dashboard_command_with_config(
    demo: Demo, tmp_path: Path, served: list[tuple[Any, str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--config: the database, the network and the pool from pool.toml; the chain is the demo's
    (in place of the network back end, which test_devnet covers)."""
    from contextlib import nullcontext  # noqa: PLC0415

    from cocoon_pool.pool_config import PoolFile  # noqa: PLC0415

    sb = demo.pool.sandbox
    config = tmp_path / "pool.toml"
    config.write_text(
        f"""network = "local"

[api]
endpoint = "http://127.0.0.1:9/api/v2"

[roles]
admin = "{raw(sb.admin.address)}"

[pool]
oracle_keys = ["{sb.signer.public_key:064x}"]

[addresses]
operator = "{raw(sb.pool.operator)}"

[database]
url = "{db_url(demo)}"
"""
    )
    monkeypatch.setattr(PoolFile, "network_chain", lambda self: nullcontext(sb.chain))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    done = runner.invoke(cli, ["dashboard", "--config", str(config), "--port", str(free)])
    assert done.exit_code == 0, done.output
    ((app, _, _),) = served
    client = TestClient(app)
    page = client.get("/")
    assert page.status_code == 200 and "network" not in by_id(page.text, "commission")
    assert '<span class="net net-local">local</span>' in page.text
    assert by_id(page.text, "members") == "2"
