"""How the docs screenshots and the browser tests launch Debian's Chromium (Playwright).

One definition, so the screenshots show the dashboard exactly as the tests saw it.
"""

from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
"""Debian's build (`apt-get install chromium`); never a `playwright install` download."""

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
"""Offline and quiet: no GPU, no update or sync traffic, no first-run pages."""
