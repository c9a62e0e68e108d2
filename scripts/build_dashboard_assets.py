"""Copy the dashboard's front-end files from web/node_modules into
src/cocoon_pool/dashboard/static/vendor/ (committed: the wheel needs no Node).

    .venv/bin/python scripts/build_dashboard_assets.py           # npm ci in web/ if needed, copy
    .venv/bin/python scripts/build_dashboard_assets.py --check   # exit 1 if the copies drifted

The versions are the exact pins of web/package.json and web/package-lock.json; to move to
a new version, change the pin, run `npm install` in web/, then this script, and commit.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from cocoon_pool.dashboard.assets import VENDOR_FILES, copy_assets, drifted  # noqa: E402

WEB = ROOT / "web"
NODE_MODULES = WEB / "node_modules"


def ensure_node_modules() -> None:
    if all((NODE_MODULES / source).is_file() for source in VENDOR_FILES.values()):
        return
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm is needed to install web/package-lock.json (Node.js 20)")
    # --ignore-scripts: the packages' dist files are all we use; nothing needs to run.
    subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=WEB, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, exit 1 on drift")
    args = parser.parse_args()
    ensure_node_modules()
    if args.check:
        stale = drifted(NODE_MODULES)
        for name in stale:
            print(f"drifted: static/vendor/{name}")
        return 1 if stale else 0
    changed = copy_assets(NODE_MODULES)
    print(
        f"copied {len(changed)} of {len(VENDOR_FILES)} files"
        + (f": {', '.join(changed)}" if changed else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
