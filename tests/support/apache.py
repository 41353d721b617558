"""A private Apache + mod_wsgi for one test: Debian's binaries, our own config.

Nothing system-wide is used or changed: the ServerRoot, config, pid file, logs, lock
and socket files live in one temporary directory; Apache listens on 127.0.0.1 at a free
high port only, runs in the foreground as our child, and is stopped by its pid (also when
the test fails). mod_wsgi serves one WSGI script twice: embedded in the Apache worker
(``/embedded``) and in a ``WSGIDaemonProcess`` (``/daemon``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import List, Optional, Tuple, Type

from . import pids_with_arg

APACHE = Path("/usr/sbin/apache2")
MODULES = Path("/usr/lib/apache2/modules")
MOD_WSGI = MODULES / "mod_wsgi.so"
RUN_AS = "www-data"

CONFIG = """\
ServerRoot "{root}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{root}/httpd.pid"
DefaultRuntimeDir "{root}/run"
Mutex file:{root}/run default
ErrorLog "{root}/error.log"
LogLevel info
User {user}
Group {user}
LoadModule mpm_event_module {modules}/mod_mpm_event.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule wsgi_module {mod_wsgi}
StartServers 1
ServerLimit 1
ThreadsPerChild 4
MaxRequestWorkers 4
WSGISocketPrefix "{root}/run/wsgi"
WSGIPythonPath "{site}"
WSGIDaemonProcess nolibpython user={user} group={user} processes=1 threads=2 python-path="{site}"
WSGIScriptAlias /embedded "{app}" application-group=%{{GLOBAL}}
WSGIScriptAlias /daemon "{app}" process-group=nolibpython application-group=%{{GLOBAL}}
<Directory "{app_dir}">
    Require all granted
</Directory>
"""


def available() -> Optional[str]:
    """None when Debian's apache2 and mod_wsgi are installed, else what is missing."""
    missing = [str(p) for p in (APACHE, MOD_WSGI, MODULES / "mod_mpm_event.so") if not p.exists()]
    if missing:
        return "not installed: " + ", ".join(missing) + " (apt-get install apache2 libapache2-mod-wsgi-py3)"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Apache:
    """``with Apache(site_dir, app_source) as httpd: httpd.get("/embedded?...")``.

    ``site_dir`` (the unpacked wheel) is copied under a world-readable root because the
    workers run as www-data, which cannot enter pytest's 0700 temp directories.
    """

    def __init__(self, site_dir: Path, app_source: str) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="nolibpython-httpd-"))
        self.root.chmod(0o755)
        (self.root / "run").mkdir()
        shutil.chown(self.root / "run", RUN_AS, RUN_AS)
        self.site = self.root / "site"
        shutil.copytree(site_dir, self.site)
        for d, _, files in os.walk(self.root):
            os.chmod(d, 0o755)
            for f in files:
                os.chmod(os.path.join(d, f), 0o644 if not f.endswith(".so") else 0o755)
        self.app = self.root / "app" / "app.wsgi"
        self.app.parent.mkdir(mode=0o755)
        self.app.write_text(app_source)
        self.app.chmod(0o644)
        self.port = free_port()
        self.conf = self.root / "httpd.conf"
        self.conf.write_text(CONFIG.format(
            root=self.root, port=self.port, user=RUN_AS, modules=MODULES, mod_wsgi=MOD_WSGI,
            site=self.site, app=self.app, app_dir=self.app.parent,
        ))
        self.proc: Optional[subprocess.Popen[bytes]] = None

    def start(self, timeout: float = 30) -> None:
        """Start in the foreground (our child: its pid is Apache's parent process)."""
        env = {"PATH": "/usr/sbin:/usr/bin:/bin", "LANG": "C"}
        self.proc = subprocess.Popen([str(APACHE), "-f", str(self.conf), "-DFOREGROUND"], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"apache2 exited with {self.proc.returncode}:\n{self.output()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"apache2 did not listen on 127.0.0.1:{self.port} within {timeout}s:\n"
                             f"{self.output()}")

    def get(self, path: str, timeout: float = 30) -> Tuple[int, str]:
        """(HTTP status, body) for a GET on our port; errors come back as their status."""
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                return int(resp.status), resp.read().decode()
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read().decode(errors="replace")

    def error_log(self) -> str:
        p = self.root / "error.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def output(self) -> str:
        out = ""
        if self.proc is not None and self.proc.stdout is not None and self.proc.poll() is not None:
            out = self.proc.stdout.read().decode(errors="replace")
        return f"--- apache2 output\n{out}\n--- error.log\n{self.error_log()[-6000:]}"

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM to the pid we started (Apache then stops its children), wait, clean up."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def leftover_pids(self) -> List[int]:
        """Processes still running from our config (must be none after stop)."""
        return pids_with_arg(str(self.conf))

    def __enter__(self) -> "Apache":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.stop()
