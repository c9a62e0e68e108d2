"""Error paths of the Node helper client (``cocoon_pool.chain.node``), each a real situation:
a node/ folder without a bridge, no npm, a failing ``npm ci``, a ``node`` that cannot run,
and small stand-in bridge scripts that die, answer out of turn or stop reading."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from cocoon_pool.chain import node as node_module
from cocoon_pool.chain.node import (
    NEEDS_NODE_HINT,
    NODE_DIR_ENV,
    NodeBridge,
    ensure_node_modules,
    find_node_dir,
    repo_root,
)
from cocoon_pool.errors import ToolchainError

REPO = Path(__file__).resolve().parents[2]

# A stand-in for node/bridge.mjs speaking the same JSON-lines protocol; the op picks its
# behaviour.
ECHO_BRIDGE = """
import readline from 'node:readline';
const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const req = JSON.parse(line);
  const say = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
  if (req.op === 'echo') say({ id: req.id, ok: true, result: { got: req.x } });
  else if (req.op === 'fail') say({ id: req.id, ok: false, error: 'no such thing' });
  else if (req.op === 'wrongid') say({ id: req.id + 100, ok: true, result: null });
  else if (req.op === 'stderr') {
    process.stderr.write('a warning\\n');
    say({ id: req.id, ok: true, result: 7 });
  } else if (req.op === 'die') {
    process.stderr.write('dying on purpose\\n');
    process.exit(3);
  }
});
"""

# Closes its stdin at once and stays alive: writes to it fail with a broken pipe.
DEAF_BRIDGE = """
import fs from 'node:fs';
fs.closeSync(0);
process.stderr.write('stdin closed\\n');
setInterval(() => {}, 1000);
"""


def _node_dir(tmp_path: Path, script: str) -> Path:
    folder = tmp_path / "node"
    (folder / "node_modules" / "@ton" / "sandbox").mkdir(parents=True)
    (folder / "bridge.mjs").write_text(script, encoding="utf-8")
    return folder


def _wait_for_stderr(bridge: NodeBridge, text: str) -> None:
    deadline = time.monotonic() + 5
    while text not in bridge.stderr_tail:
        assert time.monotonic() < deadline, bridge.stderr_tail
        time.sleep(0.01)


def test_the_node_dir_override_wins_and_must_hold_a_bridge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _node_dir(tmp_path, "")
    monkeypatch.setenv(NODE_DIR_ENV, str(folder))
    assert find_node_dir() == folder.resolve()
    assert repo_root() == tmp_path.resolve()
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv(NODE_DIR_ENV, str(empty))
    with pytest.raises(ToolchainError) as info:
        find_node_dir()
    assert info.value.message == f"{NODE_DIR_ENV}={empty} has no bridge.mjs"
    assert info.value.hint == f"point {NODE_DIR_ENV} at the repository's node/ directory"


def test_without_an_override_the_checkout_node_dir_is_found(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(NODE_DIR_ENV, raising=False)
    assert find_node_dir() == REPO / "node"
    assert repo_root() == REPO


def test_missing_node_modules_without_npm_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no npm, no node
    with pytest.raises(ToolchainError) as info:
        ensure_node_modules(tmp_path)
    assert info.value.message == "npm is not installed and node/node_modules is missing"
    assert info.value.hint == (
        "install Node.js 20 with npm, then run `npm ci` in the node/ directory"
    )
    with pytest.raises(ToolchainError) as info:
        NodeBridge(tmp_path).request("echo")
    assert "`node` is not on PATH" in info.value.message
    assert info.value.hint == NEEDS_NODE_HINT


def test_a_failing_npm_ci_reports_its_stderr(tmp_path: Path) -> None:
    # no package.json and no lock file: `npm ci` refuses at once, without the network
    with pytest.raises(ToolchainError) as info:
        ensure_node_modules(tmp_path)
    assert info.value.message.startswith(f"`npm ci` failed in {tmp_path}: ")
    assert "npm" in info.value.message.split(": ", 1)[1]
    assert info.value.hint == (
        "check network access to the npm registry and run `npm ci` in node/ by hand"
    )


def test_a_node_that_cannot_run_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _node_dir(tmp_path, ECHO_BRIDGE)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "node"
    fake.write_bytes(b"\x00\x01not an executable\n")  # no shebang, no ELF header
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(ToolchainError) as info:
        NodeBridge(folder).request("echo")
    assert info.value.message.startswith("cannot start the Node helper: [Errno 8]")
    assert info.value.hint == "check the Node.js installation"


def test_answers_errors_and_stderr_of_a_stand_in_bridge(tmp_path: Path) -> None:
    bridge = NodeBridge(_node_dir(tmp_path, ECHO_BRIDGE))
    try:
        assert bridge.request("echo", x=5) == {"got": 5}
        assert bridge.request("stderr") == 7
        _wait_for_stderr(bridge, "a warning")
        assert bridge.stderr_tail == "a warning"
        with pytest.raises(ToolchainError) as info:
            bridge.request("fail")
        assert info.value.message == "the Node helper failed on `fail`: no such thing"
        assert info.value.hint == (
            "this usually means a malformed BOC or an emulator bug; see the message"
        )
        with pytest.raises(ToolchainError) as info:
            bridge.receive(999, "echo")
        assert info.value.message == "no answer pending for request 999 (`echo`)"
        assert info.value.hint == "the Node helper was restarted; send the request again"
        req = bridge.send("wrongid")
        with pytest.raises(ToolchainError) as info:
            bridge.receive(req, "wrongid")
        assert (
            info.value.message == f"the Node helper answered id {req + 100} while {req} was awaited"
        )
        assert info.value.hint == (
            "this is a bug in node/bridge.mjs; nothing may write to its stdout"
        )
        assert bridge.requests == 3
    finally:
        bridge.close()
    assert bridge._proc is None
    bridge.close()  # closing twice is a no-op


def test_a_helper_dying_mid_request_is_reported_and_restarted(tmp_path: Path) -> None:
    bridge = NodeBridge(_node_dir(tmp_path, ECHO_BRIDGE))
    try:
        with pytest.raises(ToolchainError) as info:
            bridge.request("die")
        assert info.value.message == (
            "the Node helper exited (code 3) during `die`; stderr: dying on purpose"
        )
        assert info.value.hint == "run `node node/bridge.mjs` by hand to see why it fails"
        assert bridge._proc is None
        assert bridge.request("echo", x="again") == {"got": "again"}  # a fresh helper
    finally:
        bridge.close()


def test_a_helper_that_stopped_reading_fails_the_send(tmp_path: Path) -> None:
    bridge = NodeBridge(_node_dir(tmp_path, DEAF_BRIDGE))
    proc = bridge._ensure()
    try:
        _wait_for_stderr(bridge, "stdin closed")
        with pytest.raises(ToolchainError) as info:
            bridge.send("echo")
        assert info.value.message.startswith("the Node helper died during `echo`: [Errno 32]")
        assert info.value.message.endswith("; stderr: stdin closed")
        assert info.value.hint == "run `node node/bridge.mjs` by hand to see why it fails"
        assert bridge._proc is None
    finally:
        proc.kill()
        proc.wait(timeout=5)


def test_close_kills_a_helper_whose_stdin_cannot_be_flushed(tmp_path: Path) -> None:
    bridge = NodeBridge(_node_dir(tmp_path, DEAF_BRIDGE))
    proc = bridge._ensure()
    _wait_for_stderr(bridge, "stdin closed")
    assert proc.stdin is not None
    proc.stdin.write("unflushed")  # no newline: stays buffered until close() flushes it
    bridge.close()
    assert proc.returncode == -9  # the broken pipe on flush made close() kill it
    assert bridge._proc is None


def test_the_shared_bridge_is_one_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(node_module, "_shared", None)
    first = node_module.get_bridge()
    try:
        assert node_module.get_bridge() is first
        assert first.node_flags == node_module.OPTIMIZED_WASM
    finally:
        first.close()
    assert os.environ.get(NODE_DIR_ENV) is None or first.node_dir == find_node_dir()
