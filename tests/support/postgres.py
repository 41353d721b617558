"""A private PostgreSQL cluster for one test: Debian's postgresql-15 binaries, our own data.

PostgreSQL refuses to run as root, so initdb, pg_ctl, the server and psql run as the
``postgres`` account that Debian's postgresql-common creates. The data directory, the
log and the unix socket live in the embedders site (tests/support/embedders.py); TCP is
off (``listen_addresses=''``), so the cluster is reachable only through that socket. The
server is stopped by ``pg_ctl stop`` and, should that fail, by a signal to the
postmaster's pid read from its pid file.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from . import run
from .apache import free_port
from .embedders import ld_debug_env, reap_leftovers, wait_gone

BIN = Path("/usr/lib/postgresql/15/bin")
PLPYTHON = Path("/usr/lib/postgresql/15/lib/plpython3.so")
RUN_AS = "postgres"


def available() -> Optional[str]:
    """None when PostgreSQL 15, PL/Python 3 and the postgres account exist, else what is missing."""
    missing = [str(p) for p in (BIN / "initdb", BIN / "pg_ctl", BIN / "postgres", BIN / "psql", PLPYTHON)
               if not p.exists()]
    if missing:
        return ("not installed: " + ", ".join(missing) +
                " (apt-get install postgresql-15 postgresql-plpython3-15)")
    try:
        pwd.getpwnam(RUN_AS)
    except KeyError:
        return f"no '{RUN_AS}' account (postgresql-common creates it)"
    if os.geteuid() != 0:
        return "starting PostgreSQL as the postgres account needs root"
    return None


class Cluster:
    """``pg = Cluster(root)``; ``pg.start()``; ``pg.psql("SELECT 1")``; ``pg.stop()`` (in a finally)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pgdir = root / "pg"  # socket, log and data; owned by postgres, 0700
        self.pgdir.mkdir(mode=0o700)
        shutil.chown(self.pgdir, RUN_AS, RUN_AS)
        self.data = self.pgdir / "data"
        self.log = self.pgdir / "server.log"
        self.port = free_port()  # only names the socket file: TCP is off
        self.name = root.name
        self.started = False

    def _as_user(self, argv: List[str], env: Optional[Dict[str, str]] = None, timeout: float = 120,
                 ) -> "subprocess.CompletedProcess[str]":
        extra = [f"{k}={v}" for k, v in (env or {}).items()]
        return run(["runuser", "-u", RUN_AS, "--", "env", "LANG=C", *extra, *argv], cwd=self.pgdir,
                   timeout=timeout)

    def start(self) -> None:
        init = self._as_user([str(BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                              "-E", "UTF8", "--locale=C", "--no-sync"])
        assert init.returncode == 0, f"initdb failed:\n{init.stdout[-3000:]}\n{init.stderr[-3000:]}"
        # cluster_name puts our private name into every server process's title.
        opts = f"-k {self.pgdir} -p {self.port} -c listen_addresses='' -c cluster_name={self.name}"
        self.started = True  # from here on, stop() must run even if start fails half-way
        proc = self._as_user([str(BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", opts,
                              "-w", "-t", "60", "start"], env=ld_debug_env(self.root))
        assert proc.returncode == 0, f"pg_ctl start failed:\n{proc.stdout}\n{proc.stderr}\n{self.server_log()}"

    def psql(self, sql: str) -> "subprocess.CompletedProcess[str]":
        """Run ``sql`` through the unix socket; -At prints bare values."""
        return self._as_user([str(BIN / "psql"), "-h", str(self.pgdir), "-p", str(self.port), "-U", "postgres",
                              "-d", "postgres", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])

    def postmaster_pid(self) -> Optional[int]:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def server_log(self) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "--- server log\n" + "\n".join(text.splitlines()[-60:])

    def stop(self) -> Tuple[Optional["subprocess.CompletedProcess[str]"], List[int]]:
        """``pg_ctl stop -m fast``; if the postmaster is still there, SIGQUIT then SIGKILL its
        pid. Returns pg_ctl's result and the server processes that outlived the stop (each
        then killed by its pid): the test requires none."""
        if not self.started:
            return None, []
        pid = self.postmaster_pid()
        proc = self._as_user([str(BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop"])
        if pid is not None and wait_gone([pid], timeout=5):
            for sig in (signal.SIGQUIT, signal.SIGKILL):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    break
                if not wait_gone([pid], timeout=10):
                    break
        self.started = False
        return proc, reap_leftovers(self.name)
