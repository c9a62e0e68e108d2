"""The wheel installs into a fresh venv and runs where there is neither Node nor the checkout.

Builds the wheel from a copy of the package files (so nothing is written into the checkout and
nothing outside them can leak in), installs it with its dependencies into a new venv outside
the checkout, and runs `cocoon-pool` from there with a PATH that holds only that venv.

The build backend's and the dependencies' wheels are downloaded once per dependency set into
``.cache/wheels/<key>/`` (the index pip is configured with); every later run builds and
installs with ``--no-index`` from there, offline, in about 15 s.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

import pytest
from tonutils.contracts import WalletV4R2

from cocoon_pool.cli.app import main
from cocoon_pool.contracts.addresses import derive_pool_addresses, friendly, parse_address, raw
from cocoon_pool.contracts.build import POOL_CONTRACTS, shipped_tolk_version
from cocoon_pool.contracts.pool import PoolParams
from cocoon_pool.deploy import expected_code_hashes
from cocoon_pool.devnet import Devnet, serve

pytestmark = pytest.mark.install

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
ADMIN = "0:" + "ab" * 32
ORACLE_KEY = "5f" * 32
TIMEOUT = 300  # per command; the whole test normally takes 15-40 s


def _run(
    args: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def _ok(args: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    proc = _run(args, cwd=cwd, env=env)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _pip(*args: str) -> list[str]:
    return [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]


def _wheelhouse() -> Path:
    """Wheels of the build backend and of every runtime dependency (pinned by the lock)."""
    build_reqs: list[str] = PYPROJECT["build-system"]["requires"]
    deps: list[str] = PYPROJECT["project"]["dependencies"]
    key = hashlib.sha256("\n".join([*build_reqs, *deps]).encode() + LOCK.read_bytes())
    target = ROOT / ".cache" / "wheels" / key.hexdigest()[:16]
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".download-"))
    try:
        # Two resolutions: the backend's pins need not agree with the runtime set's.
        _ok(_pip("download", "-q", "-d", str(tmp), *build_reqs))
        _ok(_pip("download", "-q", "-d", str(tmp), "-c", str(LOCK), *deps))
        # A concurrent run may have renamed first; it downloaded the same set.
        with contextlib.suppress(OSError):
            tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _build_wheel(work: Path, wheels: Path) -> Path:
    project = work / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, project / name)
    shutil.copytree(
        ROOT / "src",
        project / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"),
    )
    dist = work / "dist"
    _ok(
        _pip(
            "wheel", "-q", "--no-deps", "--no-index", "--find-links", str(wheels),
            "-w", str(dist), str(project),
        )
    )  # fmt: skip
    (wheel,) = dist.glob("cocoon_pool-*.whl")
    return wheel


def test_wheel_installs_and_runs_without_node_or_checkout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wheels = _wheelhouse()
    wheel = _build_wheel(tmp_path, wheels)
    names = set(zipfile.ZipFile(wheel).namelist())
    for contract in POOL_CONTRACTS:
        assert f"cocoon_pool/contracts/compiled/{contract}.json" in names
        assert f"cocoon_pool/contracts/compiled/sources/{contract}.tolk" in names
    assert "cocoon_pool/contracts/compiled/sources/fees.tolk" in names

    venv = tmp_path / "venv"
    _ok([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    install = ("install", "-q", "--no-compile", "--no-index", "--find-links", str(wheels))
    _ok(_pip("--python", str(python), *install, str(wheel)))

    # Only the venv on PATH: no node, no npm; nothing that points back at the checkout.
    env = {"PATH": str(venv / "bin"), "HOME": str(tmp_path), "LC_ALL": "C.UTF-8"}
    assert shutil.which("node", path=env["PATH"]) is None
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    where = _ok([str(python), "-c", "import cocoon_pool; print(cocoon_pool.__file__)"], env=env)
    assert Path(where.strip()).is_relative_to(venv)
    cli = str(venv / "bin" / "cocoon-pool")

    version = PYPROJECT["project"]["version"]
    expected = f"cocoon-pool {version} (contracts compiled with Tolk {shipped_tolk_version()})\n"
    assert _ok([cli, "--version"], cwd=cwd, env=env) == expected

    args = ["info", "--admin", ADMIN, "--oracle-key", ORACLE_KEY]
    installed = json.loads(_ok([cli, *args, "--json"], cwd=cwd, env=env))
    assert main([*args, "--json"]) == 0
    assert installed == json.loads(capsys.readouterr().out)
    derived = derive_pool_addresses(
        parse_address(ADMIN), PoolParams(oracle_key=int(ORACLE_KEY, 16))
    )
    assert installed["worker_owner_address"] == friendly(derived.worker_owner)
    for role in ("operator", "registry", "distribution"):
        assert installed["contracts"][role]["raw"] == raw(getattr(derived, role))
    table = _ok([cli, *args], cwd=cwd, env=env)
    assert main(args) == 0
    assert table == capsys.readouterr().out

    # Only the embedded chain needs Node: a clear error with a hint, never a traceback.
    proc = _run([cli, "simulate", "-n", "1", "-e", "1"], cwd=cwd, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "the embedded chain needs Node.js 20 and the checkout's node/ folder" in proc.stderr
    assert "hint: install Node.js 20" in proc.stderr
    assert "network back end" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not os.listdir(cwd)  # nothing written where it ran

    # A deploy to the local network from the installed package: no Node, so the dry run is
    # skipped (with a note) and the deploy is verified on chain against the shipped code.
    words = list(WalletV4R2.create(None)[3])  # type: ignore[arg-type]
    net = Devnet.create(words)
    assert net.faucet is not None
    with serve(net) as url:
        config = cwd / "pool.toml"
        config.write_text(
            f'network = "local"\n\n[api]\nendpoint = "{url}"\n\n'
            '[wallet]\nmnemonic_env = "INSTALL_TEST_WORDS"\n\n'
            f'[roles]\nadmin = "{raw(net.faucet)}"\n\n[pool]\noracle_keys = ["{ORACLE_KEY}"]\n'
        )
        deploy_env = {**env, "INSTALL_TEST_WORDS": " ".join(words)}
        proc = _run([cli, "deploy", "--config", str(config), "--json"], cwd=cwd, env=deploy_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert out["dry_run"] is None and "Node.js" in out["dry_run_skipped"]
    assert "dry run skipped" in proc.stderr and "Traceback" not in proc.stderr
    deployed = out["deploy"]
    assert not deployed["already_deployed"] and deployed["transactions"] >= 5
    hashes = {name: c["code_hash"] for name, c in deployed["contracts"].items()}
    assert hashes == expected_code_hashes()
    assert (cwd / "deployments" / "local.json").exists()
