"""The long-lived Node helper process (``node/bridge.mjs``) behind the compiler and the TVM.

One process serves the whole Python process: requests and responses are JSON lines with ids.
Its stateless ops are pure functions over BOCs; the embedded chains' accounts live in it too
(chain ops), so a restart loses them (the chains then say so).
"""

from __future__ import annotations

import atexit
import collections
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cocoon_pool.errors import ToolchainError

NODE_DIR_ENV = "COCOON_POOL_NODE_DIR"
OPTIMIZED_WASM = ("--no-liftoff",)
"""Node options of the helpers this package starts (the shared one, the scale benchmark's): V8
compiles each wasm function of the emulator with its optimizing compiler on first call instead
of a baseline compiler first and the optimizing one once hot. No slower to start; the first
thousands of transactions run at full speed instead of up to 3x slower (measured on one pool
transaction replayed)."""
_BRIDGE_FILE = "bridge.mjs"
# Shared by every "no Node" error: an installed package has no node/ folder, and only the
# embedded chain (and compiling edited sources) needs one; everything else runs without it.
NEEDS_NODE = "the embedded chain needs Node.js 20 and the checkout's node/ folder"
NEEDS_NODE_HINT = (
    "install Node.js 20 and run from a clone of the repository (`bash scripts/bootstrap.sh`), "
    f"or set {NODE_DIR_ENV} to a clone's node/ folder, or use a network back end"
)


def find_node_dir() -> Path:
    """The directory holding ``bridge.mjs`` and ``package.json``.

    ``$COCOON_POOL_NODE_DIR`` wins; otherwise walk up from this file to a ``node/bridge.mjs``.
    """
    override = os.environ.get(NODE_DIR_ENV)
    if override:
        path = Path(override).resolve()
        if not (path / _BRIDGE_FILE).is_file():
            raise ToolchainError(
                f"{NODE_DIR_ENV}={override} has no {_BRIDGE_FILE}",
                hint=f"point {NODE_DIR_ENV} at the repository's node/ directory",
            )
        return path
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "node"
        if (candidate / _BRIDGE_FILE).is_file():
            return candidate
    raise ToolchainError(
        f"{NEEDS_NODE}, and there is no node/{_BRIDGE_FILE} above {Path(__file__).parent}",
        hint=NEEDS_NODE_HINT,
    )


def repo_root() -> Path:
    """The repository root (the parent of the node/ directory)."""
    return find_node_dir().parent


def ensure_node_modules(node_dir: Path) -> None:
    """Run ``npm ci`` once when ``node_modules`` is missing."""
    if (node_dir / "node_modules" / "@ton" / "sandbox").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise ToolchainError(
            "npm is not installed and node/node_modules is missing",
            hint="install Node.js 20 with npm, then run `npm ci` in the node/ directory",
        )
    proc = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=node_dir,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise ToolchainError(
            f"`npm ci` failed in {node_dir}: {proc.stderr.strip()[-2000:]}",
            hint="check network access to the npm registry and run `npm ci` in node/ by hand",
        )


class NodeBridge:
    """A JSON-lines client of ``node/bridge.mjs``.

    Thread-safe (one request at a time). Restarts the process transparently if it died.
    """

    def __init__(self, node_dir: Path | None = None, *, node_flags: Sequence[str] = ()) -> None:
        """``node_flags``: options for ``node`` itself (e.g. :data:`OPTIMIZED_WASM`)."""
        self.node_dir = node_dir if node_dir is not None else find_node_dir()
        self.node_flags = tuple(node_flags)
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self._next_id = 0
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=200)
        self._stderr_thread: threading.Thread | None = None
        self.requests = 0
        # Answers read while waiting for another request's (send/receive pipelining).
        self._answers: dict[int, str] = {}
        self._in_flight: set[int] = set()

    # -- process management -------------------------------------------------------------

    def _start(self) -> subprocess.Popen[str]:
        node = shutil.which("node")
        if node is None:
            raise ToolchainError(f"{NEEDS_NODE}, and `node` is not on PATH", hint=NEEDS_NODE_HINT)
        ensure_node_modules(self.node_dir)
        try:
            proc = subprocess.Popen(
                [node, *self.node_flags, str(self.node_dir / _BRIDGE_FILE)],
                cwd=self.node_dir,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                bufsize=1,
            )
        except OSError as exc:
            raise ToolchainError(
                f"cannot start the Node helper: {exc}", hint="check the Node.js installation"
            ) from exc
        self._stderr_tail.clear()
        thread = threading.Thread(target=self._drain_stderr, args=(proc,), daemon=True)
        thread.start()
        self._stderr_thread = thread
        self._proc = proc
        return proc

    def _drain_stderr(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            self._stderr_tail.append(line.rstrip("\n"))

    def _ensure(self) -> subprocess.Popen[str]:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            proc = self._start()
        return proc

    def close(self) -> None:
        """Stop the helper process (it is restarted on the next request)."""
        with self._lock:
            proc = self._proc
            self._proc = None
            if proc is None:
                return
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait(timeout=5)
            finally:
                if proc.stdout is not None:
                    proc.stdout.close()

    @property
    def stderr_tail(self) -> str:
        return "\n".join(self._stderr_tail)

    # -- requests -----------------------------------------------------------------------

    def request(self, op: str, **params: Any) -> Any:
        """Send one request and return its ``result``; raise ToolchainError on failure."""
        return self.receive(self.send(op, **params), op)

    def send(self, op: str, **params: Any) -> int:
        """Write one request without waiting for its answer; :meth:`receive` collects it.

        The helper answers in order, one request at a time, so a caller can prepare the next
        request while the helper works on this one.
        """
        with self._lock:
            proc = self._ensure()
            self._next_id += 1
            req_id = self._next_id
            params["op"] = op
            params["id"] = req_id
            line = json.dumps(params, separators=(",", ":"))
            assert proc.stdin is not None
            try:
                proc.stdin.write(line + "\n")
                proc.stdin.flush()
            except (BrokenPipeError, OSError) as exc:
                self._proc = None
                self._in_flight.clear()
                raise ToolchainError(
                    f"the Node helper died during `{op}`: {exc}; stderr: {self.stderr_tail}",
                    hint="run `node node/bridge.mjs` by hand to see why it fails",
                ) from exc
            self._in_flight.add(req_id)
            return req_id

    def receive(self, req_id: int, op: str = "request") -> Any:
        """The ``result`` of request ``req_id`` (see :meth:`send`)."""
        with self._lock:
            raw = self._answers.pop(req_id, None)
            while raw is None:
                proc = self._proc
                if req_id not in self._in_flight or proc is None or proc.stdout is None:
                    raise ToolchainError(
                        f"no answer pending for request {req_id} (`{op}`)",
                        hint="the Node helper was restarted; send the request again",
                    )
                try:
                    line = proc.stdout.readline()
                except OSError as exc:
                    line = ""
                    self._stderr_tail.append(str(exc))
                if not line:
                    proc.wait(timeout=5)
                    self._proc = None
                    self._in_flight.clear()
                    raise ToolchainError(
                        f"the Node helper exited (code {proc.returncode}) during `{op}`; "
                        f"stderr: {self.stderr_tail}",
                        hint="run `node node/bridge.mjs` by hand to see why it fails",
                    )
                got = json.loads(line)
                got_id = got.get("id") if isinstance(got, dict) else None
                if not isinstance(got_id, int) or got_id not in self._in_flight:
                    raise ToolchainError(
                        f"the Node helper answered id {got_id} while {req_id} was awaited",
                        hint="this is a bug in node/bridge.mjs; nothing may write to its stdout",
                    )
                self._in_flight.discard(got_id)
                self.requests += 1
                if got_id == req_id:
                    resp = got
                    break
                self._answers[got_id] = line
            else:
                resp = json.loads(raw)
        if not resp.get("ok"):
            raise ToolchainError(
                f"the Node helper failed on `{op}`: {resp.get('error')}",
                hint="this usually means a malformed BOC or an emulator bug; see the message",
            )
        return resp["result"]


_shared: NodeBridge | None = None
_shared_lock = threading.Lock()


def get_bridge() -> NodeBridge:
    """The process-wide shared helper, started lazily and closed at exit."""
    global _shared  # noqa: PLW0603
    with _shared_lock:
        if _shared is None:
            _shared = NodeBridge(node_flags=OPTIMIZED_WASM)
            atexit.register(_shared.close)
        return _shared
