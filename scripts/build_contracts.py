"""Compile the four pool contracts into src/cocoon_pool/contracts/compiled/ (or check them).

    .venv/bin/python scripts/build_contracts.py          # rewrite the files in compiled/
    .venv/bin/python scripts/build_contracts.py --check  # exit 1 if they differ from the sources

Run it after every change of contracts/*.tolk (or of the pinned Tolk compiler) and commit the
result: the wheel ships these files, so an installed package needs neither Node nor the sources.
Needs the checkout's Node helper (node/, Node.js 20).
"""

from __future__ import annotations

import argparse
import sys

from cocoon_pool.contracts.build import COMPILED_DIR, compiled_drift, write_compiled
from cocoon_pool.errors import CocoonPoolError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check", action="store_true", help="only report stale files; exit 1 if there are any"
    )
    args = parser.parse_args(argv)
    try:
        # --check may use the compile cache (it is keyed by every source); writing never does.
        changed = compiled_drift() if args.check else write_compiled()
    except CocoonPoolError as exc:
        print(f"error: {exc.message}\nhint: {exc.hint}", file=sys.stderr)
        return 1
    verb = "stale" if args.check else "written"
    for name in changed:
        print(f"{verb}: {COMPILED_DIR / name}")
    if not changed:
        print(f"up to date: {COMPILED_DIR}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
