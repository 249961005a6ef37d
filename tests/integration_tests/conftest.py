"""Integration fixtures: a throwaway PostgreSQL server started by the test suite.

`postgres_server` (session-scoped) runs ``initdb`` + ``pg_ctl`` in a fresh directory under /tmp
and listens on 127.0.0.1 on a free port with trust authentication. The binaries are looked up on
PATH, then in ``/usr/lib/postgresql/<version>/bin`` (where ``apt-get install postgresql`` puts
them). ``initdb`` and ``pg_ctl`` refuse to run as root, so as root they run as the ``postgres`` OS
user (``runuser -u postgres --``) with directories that user owns.

Without server binaries the Postgres tests are skipped with the reason shown; with ``CI=true``
they fail instead, so CI can never silently skip them.

`PostgresServer.stop()` / `.start()` let a test take the server down and bring it back on the same
port and data directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def _find_bin_dir() -> Path | None:
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in p.parent.name.split(".")],
        reverse=True,
    )
    for cand in candidates:
        if (cand / "pg_ctl").exists() and (cand / "initdb").exists():
            return cand
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    """A running throwaway PostgreSQL cluster."""

    bin_dir: Path
    base_dir: Path
    port: int
    run_as: str | None

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base_dir / "sock"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "server.log"

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres?sslmode=disable"

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}?sslmode=disable"

    def _cmd(self, *args: str) -> list[str]:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if self.run_as:
            return ["runuser", "-u", self.run_as, "--", *cmd]
        return cmd

    def _run(self, *args: str, timeout: float = 120) -> None:
        proc = subprocess.run(  # noqa: S603 - fixed binaries, no shell
            self._cmd(*args), capture_output=True, text=True, timeout=timeout, check=False
        )
        if proc.returncode != 0:
            log = (
                self.log_file.read_text(errors="replace")[-3000:] if self.log_file.exists() else ""
            )
            msg = (
                f"{' '.join(args[:2])} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n"
                f"server log tail:\n{log}"
            )
            raise RuntimeError(msg)

    def init(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )

    def start(self) -> None:
        """Start (or restart) the server on the same port and data directory."""
        opts = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.socket_dir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-o",
            opts,
            "-w",
            "-t",
            "60",
            "start",
        )
        self._wait_ready()

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``mode``: smart, fast or immediate)."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "-t", "60", "stop")

    def is_running(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
            return True
        return False

    def _wait_ready(self, timeout: float = 30) -> None:
        import psycopg  # noqa: PLC0415

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.admin_dsn, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def create_database(self) -> str:
        """A new empty database; returns its DSN."""
        import psycopg  # noqa: PLC0415

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"{reason} (CI=true: PostgreSQL tests must run in CI; install postgresql)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server on 127.0.0.1 in a temp dir, stopped and removed at session end."""
    bin_dir = _find_bin_dir()
    if bin_dir is None:
        _skip_or_fail(
            "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in "
            "/usr/lib/postgresql/*/bin; install them (apt-get install -y postgresql) to run "
            "the PostgresStore tests"
        )
    assert bin_dir is not None
    run_as: str | None = None
    if os.geteuid() == 0:
        import pwd  # noqa: PLC0415

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            _skip_or_fail(
                "running as root and no 'postgres' OS user exists to run initdb/pg_ctl as "
                "(create one: useradd --system postgres)"
            )
        run_as = "postgres"
    base = Path(tempfile.mkdtemp(prefix="ctxorch-pg-", dir="/tmp"))
    if run_as:
        shutil.chown(base, user=run_as)
        os.chmod(base, 0o700)  # noqa: PTH101
    server = PostgresServer(bin_dir=bin_dir, base_dir=base, port=_free_port(), run_as=run_as)
    try:
        server.socket_dir.mkdir()
        if run_as:
            shutil.chown(server.socket_dir, user=run_as)
        server.init()
        server.start()
        yield server
    finally:
        with contextlib.suppress(Exception):
            if server.data_dir.exists() and (server.data_dir / "postmaster.pid").exists():
                server.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """A fresh database on the session's server (the server is restarted if a test stopped it)."""
    if not postgres_server.is_running():
        postgres_server.start()
    return postgres_server.create_database()
