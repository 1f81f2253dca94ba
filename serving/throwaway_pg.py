"""A throwaway PostgreSQL server for tests and benchmarks: Debian's binaries, initdb in a
temp directory.

Never a mock: a real ``postgres`` process on a free port of 127.0.0.1, its unix socket in
the same temp directory, trust authentication (nothing else can reach the socket; the TCP
port is bound to loopback only). initdb refuses to run as root, so under root the data
directory is handed to the ``postgres`` system user (created by Debian's package) and the
server runs as that user via ``runuser``.

:meth:`PostgresServer.stop` and :meth:`start` are what the "database goes away" tests use.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from features.errors import EarlyriskError
from serving.local_server import free_port


def new_root() -> Path:
    """A fresh directory for a throwaway cluster in the system temp folder (world-traversable,
    so the ``postgres`` user reaches it; :meth:`PostgresServer.destroy` removes it)."""
    return Path(tempfile.mkdtemp(prefix="earlyrisk-pg-"))


class ThrowawayServerError(EarlyriskError, RuntimeError):
    """The throwaway PostgreSQL server could not be found, started or stopped."""


def pg_bin() -> Path:
    """Debian's PostgreSQL binaries (``make postgres`` installs them when missing)."""
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").is_file():
            return candidate
    raise ThrowawayServerError(
        "PostgreSQL server binaries not found under /usr/lib/postgresql; run `make postgres` "
        "(apt-get install postgresql)"
    )


class PostgresServer:
    """One PostgreSQL cluster in ``root``; ``url(db)`` names a database on it.

    Under root, ``root`` must be reachable by the ``postgres`` user for the server's whole
    life: use :func:`new_root` (a fresh directory directly in the system temp folder), not
    pytest's temp tree, which a later pytest session on the machine makes owner-only.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.bin = pg_bin()
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            self.root.mkdir(parents=True, exist_ok=True)
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self.user = "postgres" if self._as_user else pwd.getpwuid(os.geteuid()).pw_name

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL tool (as the postgres user under root); a failure raises with
        its output and the end of the server log."""
        done = subprocess.run(
            [*self._as_user, *argv], check=False, capture_output=True, text=True, timeout=180
        )
        if check and done.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise ThrowawayServerError(
                f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}{done.stderr}\n"
                f"server log:\n{tail}"
            )
        return done

    def init(self) -> None:
        """initdb the cluster (trust authentication: loopback and the private socket only)."""
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            self.user,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )

    def start(self) -> None:
        """Start the server (fsync off: a throwaway cluster)."""
        opts = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=200 -c shared_buffers=32MB"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            opts,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self) -> None:
        """Stop the server (fast shutdown): the database goes away.

        When pg_ctl reports a failure, the server's state decides: stopped is what was
        asked; still running gets an immediate shutdown, and only a server that survives
        that raises (with pg_ctl's output and the server log).
        """
        ctl = [str(self.bin / "pg_ctl"), "-D", str(self.data)]
        first = self._run(*ctl, "-m", "fast", "-w", "-t", "120", "stop", check=False)
        if first.returncode == 0 or not self.running():
            return
        self._run(*ctl, "-m", "immediate", "-w", "-t", "120", "stop")

    def running(self) -> bool:
        """Whether pg_ctl finds the server running."""
        ctl = [str(self.bin / "pg_ctl"), "-D", str(self.data)]
        return self._run(*ctl, "status", check=False).returncode == 0

    def url(self, db: str = "postgres") -> str:
        """The URL of database db on this server."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{db}"

    def create_database(self, name: str) -> str:
        """A new empty database; its URL."""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def wait_ready(self, timeout_s: float = 30) -> None:
        """Return once the server accepts connections (raise after timeout_s)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with psycopg.connect(self.url(), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def destroy(self) -> None:
        """Stop the server at once and remove its directory."""
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop", check=False
        )
        shutil.rmtree(self.root, ignore_errors=True)
