"""Screenshots of every dashboard page for the docs: docs/screenshots/*.png.

    .venv/bin/python scripts/screenshots.py

Builds the demo pool (`cocoon-pool dashboard --demo`), serves it on a free local port and
drives Debian's Chromium (/usr/bin/chromium, `apt-get install chromium`) with Playwright:
each page at 1280 px wide, and the pool and member pages on a 390x844 phone.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from playwright.sync_api import sync_playwright  # noqa: E402

from cocoon_pool.contracts.addresses import raw  # noqa: E402
from cocoon_pool.dashboard.app import create_app, running  # noqa: E402
from cocoon_pool.dashboard.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from cocoon_pool.dashboard.demo import seed_demo  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
DEMO_ALERTS = (
    {
        "level": "warning",
        "kind": "tier_drop",
        "message": "carol is in the major-penalty tier (uptime 70 %, 5 outages) in epoch 3",
    },
    {"level": "info", "kind": "parameter_change", "message": "commission 12 % proposed"},
)


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        demo = seed_demo(f"sqlite:///{Path(folder) / 'demo.db'}")
        app = create_app(demo.board, alerts_provider=lambda: DEMO_ALERTS)
        alice = quote(raw(demo.pool.members["alice"].address), safe="")
        carol = quote(raw(demo.pool.members["carol"].address), safe="")
        pages = {
            "pool": "/",
            "member": f"/member/{alice}",
            "operator": "/operator",
            "whatif": "/whatif?commission=1200&bonus_bps=1500",
        }
        with running(app) as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            desktop = browser.new_page(viewport={"width": 1280, "height": 900})
            for name, path in pages.items():
                desktop.goto(base + path)
                desktop.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
                print(f"docs/screenshots/{name}.png")
            phone = browser.new_page(
                viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
            )
            for name, path in (("pool-phone", "/"), ("member-phone", f"/member/{carol}")):
                phone.goto(base + path)
                phone.screenshot(path=str(OUT / f"{name}.png"))
                print(f"docs/screenshots/{name}.png")
            browser.close()
        demo.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
