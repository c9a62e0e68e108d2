"""A throwaway PostgreSQL server for the tests: initdb in a temporary directory, started on
a free port on 127.0.0.1, stopped and deleted at the end of the session.

PostgreSQL refuses to run as root, so under root the server runs as the ``postgres`` system
user (``runuser``), in a directory handed over to that user. Without PostgreSQL binaries or
the psycopg driver the tests that need it are skipped with the reason; ``scripts/bootstrap.sh
dev`` installs both.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SERVER_USER = "postgres"
SUPERUSER = "cocoon"


def find_bin_dir() -> Path | None:
    """Where initdb and pg_ctl are: on PATH, else the newest /usr/lib/postgresql/*/bin."""
    initdb = shutil.which("initdb")
    if initdb is not None and shutil.which("pg_ctl") is not None:
        return Path(initdb).resolve().parent
    candidates = glob.glob("/usr/lib/postgresql/*/bin/initdb")

    def version(path: str) -> int:
        found = re.search(r"/postgresql/(\d+)/", path)
        return int(found.group(1)) if found else 0

    return Path(max(candidates, key=version)).parent if candidates else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    bin_dir: Path
    root: Path
    port: int
    run_as: str | None
    databases: int = 0

    def command(self, *args: str) -> list[str]:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        return cmd if self.run_as is None else ["runuser", "-u", self.run_as, "--", *cmd]

    def run(self, *args: str) -> None:
        done = subprocess.run(self.command(*args), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr}{tail}"
            )

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def new_database(self, prefix: str = "test") -> str:
        """A fresh, empty database; its SQLAlchemy URL."""
        import psycopg  # noqa: PLC0415

        self.databases += 1
        name = f"{re.sub(r'[^a-z0-9_]', '_', prefix.lower())[:40]}_{self.databases}"
        dsn = f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _server_user() -> str | None:
    """None: run as ourselves; else the unprivileged user to run the server as (root)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        pytest.skip(f"running as root and there is no {SERVER_USER!r} user to run PostgreSQL")
    if shutil.which("runuser") is None:
        pytest.skip("running as root and runuser is missing: cannot start PostgreSQL")
    return SERVER_USER


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip(
            "PostgreSQL is not installed (no initdb on PATH or in /usr/lib/postgresql/*/bin); "
            "`bash scripts/bootstrap.sh dev` installs it"
        )
    try:
        import psycopg  # noqa: F401, PLC0415
    except ImportError as exc:
        pytest.skip(f"the psycopg driver is not usable ({exc}); install the dev extra")
    run_as = _server_user()
    # Not pytest's tmp_path: its parents are private to root, and the server runs as
    # another user who must reach the data directory.
    root = Path(tempfile.mkdtemp(prefix="cocoon-pg-"))
    if run_as is not None:
        user = pwd.getpwnam(run_as)
        os.chown(root, user.pw_uid, user.pw_gid)
    server = PostgresServer(bin_dir, root, _free_port(), run_as)
    data = str(root / "data")
    # Durability is irrelevant for a throwaway server; turning it off saves seconds.
    options = (
        f"-c listen_addresses=127.0.0.1 -p {server.port} -k {root} -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off"
    )
    log = str(root / "server.log")
    try:
        server.run(
            *f"initdb -D {data} -U {SUPERUSER} --auth=trust -E UTF8".split(),
            "--no-locale",
            "--no-sync",
        )
        server.run("pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", "-o", options, "start")
        yield server
    finally:
        subprocess.run(
            server.command("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"),
            capture_output=True,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> str:
    """A fresh PostgreSQL database for one test."""
    return postgres_server.new_database(request.node.name)
