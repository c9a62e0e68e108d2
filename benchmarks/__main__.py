"""`python -m benchmarks`: the gas table (deterministic) and the speed table (this machine).

.venv/bin/python -m benchmarks            # both tables, about a minute on 2 cores
.venv/bin/python -m benchmarks --speed    # only the wall-clock figures
"""

from __future__ import annotations

import sys

from rich.table import Table

from benchmarks.speed import measure_speed
from cocoon_pool.cli.app import main as cli_main
from cocoon_pool.cli.output import console


def speed_table() -> Table:
    table = Table(title="speed on this machine (wall clock; not part of CI)")
    for column in ("what", "count", "seconds", "per second"):
        table.add_column(column, justify="left" if column == "what" else "right")
    for figure in measure_speed():
        table.add_row(
            figure.name,
            f"{figure.count:,} {figure.unit}",
            f"{figure.seconds:.2f}",
            f"{figure.rate:,.0f}",
        )
    return table


def main(argv: list[str]) -> int:
    if "--speed" not in argv:
        code = cli_main(["bench", "gas", "--snapshot", "benchmarks/snapshots/gas.json"])
        if code:
            return code
    console.print(speed_table())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
