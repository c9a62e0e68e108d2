"""Why a worker counts as down, word for word, through both HTTP clients (the lean one the
oracle uses from 64 workers on, and httpx): flags in its stats, an owner that is no address,
bodies over the limit, and health checks that fail or cannot be read."""

from __future__ import annotations

import asyncio
import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Literal

import pytest

from cocoon_pool.oracle.config import MemberConfig
from cocoon_pool.oracle.poller import MAX_BODY_BYTES, PollSettings, poll_members
from local_http import local_http_server, member_address

POOL = "0:" + "ab" * 32
FIXTURES = Path(__file__).parents[1] / "fixtures" / "jsonstats"
HEALTHY = json.loads((FIXTURES / "healthy.json").read_text().replace("__OWNER_ADDRESS__", POOL))


def stats_with(**status: object) -> bytes:
    data = json.loads(json.dumps(HEALTHY))
    data["status"].update(status)
    return json.dumps(data).encode()


def owned_by(owner: str) -> bytes:
    data = json.loads(json.dumps(HEALTHY))
    data["localconfig"]["owner_address"] = owner
    return json.dumps(data).encode()


BIG = b" " * (MAX_BODY_BYTES + 1)
ANSWERS: dict[str, tuple[int, bytes]] = {
    "/ok": (200, stats_with()),
    "/disabled": (200, stats_with(enabled=False)),
    "/image": (200, stats_with(actual_image_hash=False)),
    "/model": (200, stats_with(actual_model=False)),
    "/owner": (200, owned_by("not-an-address")),
    "/big": (200, BIG),
    "/big404": (404, BIG),
    "/health-unreadable": (200, b"all good, probably"),
    "/health-failed": (200, b"Status: failed (GPU lost)\n"),
    "/health-ok": (200, b'{"status": "ok", "gpus": [{"name": "H100", "utilization": 50}]}'),
}
CASES = [
    ("/ok", None, None),
    ("/disabled", None, "worker is disabled"),
    ("/image", None, "worker image hash is not in Cocoon's root contract"),
    ("/model", None, "worker model is not in Cocoon's root contract"),
    ("/owner", None, "worker owner_address not-an-address is not the pool"),
    ("/big", None, f"stats: response larger than {MAX_BODY_BYTES} bytes"),
    ("/big404", None, "stats: HTTP 404"),
    ("/ok", "/health-unreadable", "health: no 'Status:' line and not JSON"),
    ("/ok", "/health-failed", "health: failed (GPU lost)"),
    ("/ok", "/health-ok", None),
]


def answer(handler: BaseHTTPRequestHandler) -> None:
    status, body = ANSWERS[handler.path]
    handler.send_response(status)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@pytest.mark.parametrize("client", ["lean", "httpx"])
def test_every_down_reason_is_worded_alike_by_both_clients(
    client: Literal["lean", "httpx"],
) -> None:
    with local_http_server(answer) as port:
        base = f"http://127.0.0.1:{port}"
        members = [
            MemberConfig(member_address(i), base + stats, base + health if health else None)
            for i, (stats, health, _) in enumerate(CASES)
        ]
        settings = PollSettings(
            timeout=5, concurrency=4, distribution=POOL, attempts=1, http_client=client
        )
        results = asyncio.run(poll_members(members, settings, 1_000))
    assert [r.reason for r in results] == [reason for _, _, reason in CASES]
    assert [r.ok for r in results] == [reason is None for _, _, reason in CASES]
    # every one of them answered: none is counted as unreachable
    assert not any(r.unreachable for r in results)
    healthy = results[-1]
    assert healthy.health is not None and healthy.health.gpu_model == "H100"
