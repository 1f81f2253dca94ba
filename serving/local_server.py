"""Run the scoring service as a child ``bentoml serve`` process on this machine.

``earlyrisk serve`` replaces itself with the command :func:`bentoml_serve_argv` builds; the
real-server tests and ``benchmarks.serving`` start that same command as a child process
with :func:`start_local_server`, so what they test and measure is what the verb runs.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from features.private_files import new_private_file

#: The BentoML service class, as ``bentoml serve`` names it.
SERVICE_TARGET = "serving.service:EarlyRiskScoring"

# The folder that holds the `serving` package: the child imports SERVICE_TARGET from there,
# whatever the caller's working directory.
_PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class TlsFiles:
    """A PEM certificate (chain) and its private key: the server then speaks HTTPS only."""

    certfile: Path
    keyfile: Path


def bentoml_serve_argv(*, host: str, port: int, tls: TlsFiles | None = None) -> list[str]:
    """The command line that serves the service on ``host:port`` with this interpreter.

    With tls, uvicorn terminates TLS itself (BentoML's ``--ssl-certfile``/``--ssl-keyfile``).
    """
    argv = [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        SERVICE_TARGET,
        "--host",
        host,
        "--port",
        str(port),
    ]
    if tls is not None:
        argv += ["--ssl-certfile", str(tls.certfile), "--ssl-keyfile", str(tls.keyfile)]
    return argv


def begin_audit_log(env: Mapping[str, str]) -> None:
    """Begin the audit log ``env`` names, as ``earlyrisk serve --new-log`` does before it
    starts the server; a log already anchored is left alone.

    A server started directly (tests, benchmarks) refuses a log without an anchor, as
    every worker does: beginning one is an explicit act, done here in the caller's process.
    """
    from serving.store.audit_anchor import default_anchor_path
    from serving.store.audit_log import open_audit_log
    from serving.store.audit_log_pg import PostgresAuditLog, open_postgres_audit_log

    url = env.get("EARLYRISK_DATABASE_URL")
    if url:
        probe = PostgresAuditLog(url)
        try:
            anchored = probe.current_anchor() is not None
        finally:
            probe.close()
        if not anchored:
            open_postgres_audit_log(url, new_log=True).close()
        return
    path = Path(env.get("EARLYRISK_AUDIT_LOG_PATH", "var/serving/audit_log.sqlite"))
    anchor = env.get("EARLYRISK_AUDIT_ANCHOR_PATH")
    if not (Path(anchor) if anchor else default_anchor_path(path)).exists():
        open_audit_log(path, anchor_path=anchor, new_log=True).close()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port the OS reports free on ``host`` (the OS may hand it out again later)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LocalServer:
    """A started service: where it answers, its process and the file its output goes to."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self, *, timeout: float = 20.0) -> None:
        """Ask the server to stop (SIGTERM); kill it when it has not stopped in ``timeout`` s."""
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def start_local_server(
    env: Mapping[str, str],
    log_path: Path,
    *,
    timeout: float = 90.0,
    tls: TlsFiles | None = None,
) -> LocalServer:
    """Serve on a free 127.0.0.1 port; return once ``/readyz`` answers 200.

    ``env`` is laid over this process's environment for the child (the EARLYRISK_*
    settings, say); stdout and stderr go to ``log_path``. Raises RuntimeError holding the log
    when the server exits early or is not ready within ``timeout`` seconds (then stopped).
    """
    import httpx

    port = free_port()
    # owner-only: the server's log shows requests and refusals (features.private_files);
    # the child keeps its own copy of the descriptor
    with new_private_file(log_path).open("wb") as log:
        process = subprocess.Popen(
            bentoml_serve_argv(host="127.0.0.1", port=port, tls=tls),
            cwd=_PROJECT_ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    scheme = "https" if tls is not None else "http"
    server = LocalServer(url=f"{scheme}://127.0.0.1:{port}", process=process, log_path=log_path)
    verify: ssl.SSLContext | bool = (
        ssl.create_default_context(cafile=str(tls.certfile)) if tls is not None else True
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log_path.read_text(errors='replace')}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=1.0, verify=verify).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"server not ready in {timeout} s:\n{log_path.read_text(errors='replace')}")
