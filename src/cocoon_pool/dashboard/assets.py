"""The front-end files the dashboard serves, copied from the npm packages pinned in
``web/package-lock.json`` (``scripts/build_dashboard_assets.py``) into ``static/vendor/``.

The copies are committed, so an installed wheel serves them without Node; a unit test
compares them with ``web/node_modules`` whenever that folder is there.
"""

from __future__ import annotations

import shutil
from pathlib import Path

VENDOR_DIR = Path(__file__).parent / "static" / "vendor"
VENDOR_FILES: dict[str, str] = {
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
    "htmx.LICENSE.txt": "htmx.org/LICENSE",
    "tonconnect-ui.min.js": "@tonconnect/ui/dist/tonconnect-ui.min.js",
    "tonconnect-ui.LICENSE.txt": "@tonconnect/ui/LICENSE",
}
"""Served name -> path inside node_modules."""


def drifted(node_modules: Path, vendor: Path = VENDOR_DIR) -> list[str]:
    """Served files that are missing or differ from their package's file."""
    return [
        name
        for name, source in VENDOR_FILES.items()
        if not (vendor / name).is_file()
        or (vendor / name).read_bytes() != (node_modules / source).read_bytes()
    ]


def copy_assets(node_modules: Path, vendor: Path = VENDOR_DIR) -> list[str]:
    """Copy every vendored file; returns the names that changed."""
    changed = drifted(node_modules, vendor)
    vendor.mkdir(parents=True, exist_ok=True)
    for name in changed:
        shutil.copyfile(node_modules / VENDOR_FILES[name], vendor / name)
    return changed
