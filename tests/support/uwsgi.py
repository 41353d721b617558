"""A private uWSGI for one test: Debian's uwsgi-core and its python3 plugin, our own options.

uWSGI serves a WSGI app over HTTP (``--http-socket``) on 127.0.0.1 at a free port, in the
foreground as our child, with its log, app and LD_DEBUG files in the embedders site
(tests/support/embedders.py). It is stopped by SIGINT to the master's pid (uWSGI's "stop
now"; SIGTERM means reload in uWSGI 2.0), and the test checks that no process of ours is
left.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from .apache import free_port
from .embedders import PROBE_MODULE, ld_debug_env, reap_leftovers, stop_pid

UWSGI = Path("/usr/bin/uwsgi-core")
PLUGIN = Path("/usr/lib/uwsgi/plugins/python3_plugin.so")

APP = f'''\
from urllib.parse import parse_qs
import time

import {PROBE_MODULE}  # imports the plugin-built module when uWSGI loads the app


def application(environ, start_response):
    q = parse_qs(environ.get("QUERY_STRING", ""))
    time.sleep(float(q.get("hold", ["0"])[0]))  # keeps this worker busy (to reach the others)
    body = {PROBE_MODULE}.report(int(q["a"][0]), int(q["b"][0]), in_thread="thread" in q).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
'''


def available() -> Optional[str]:
    """None when Debian's uWSGI and its python3 plugin are installed, else what is missing."""
    missing = [str(p) for p in (UWSGI, PLUGIN) if not p.exists()]
    if missing:
        return "not installed: " + ", ".join(missing) + " (apt-get install uwsgi-core uwsgi-plugin-python3)"
    return None


class Uwsgi:
    """``srv = Uwsgi(root, ["--enable-threads"])``; ``srv.start()``; ``srv.get("a=1&b=2")``;
    ``srv.stop()`` (in a finally)."""

    def __init__(self, root: Path, options: Sequence[str]) -> None:
        self.root = root
        self.app = root / "app.py"
        self.app.write_text(APP)
        self.app.chmod(0o644)
        self.log = root / "uwsgi.log"
        self.port = free_port()
        self.argv = [str(UWSGI), "--plugin", "python3", "--http-socket", f"127.0.0.1:{self.port}",
                     "--master", "--need-app", "--pythonpath", str(root / "site"), "--wsgi-file", str(self.app),
                     *options]
        self.proc: Optional[subprocess.Popen[bytes]] = None

    def start(self, timeout: float = 60) -> None:
        env = {"PATH": "/usr/bin:/bin", "LANG": "C", "PYTHONNOUSERSITE": "1", **ld_debug_env(self.root)}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(self.argv, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"uwsgi exited with {self.proc.returncode}:\n{self.output()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"uwsgi did not listen on 127.0.0.1:{self.port} within {timeout}s:\n{self.output()}")

    def get(self, query: str, timeout: float = 30) -> Tuple[int, str]:
        """(HTTP status, body); retried while the workers are still coming up (bounded)."""
        url = f"http://127.0.0.1:{self.port}/?{query}"
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp:
                    return int(resp.status), resp.read().decode()
            except urllib.error.HTTPError as exc:
                return int(exc.code), exc.read().decode(errors="replace")
            except (urllib.error.URLError, ConnectionError) as exc:
                if time.monotonic() > deadline:
                    raise AssertionError(f"GET {url}: {exc}\n{self.output()}") from None
                time.sleep(0.2)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def output(self) -> str:
        return "--- uwsgi log (end)\n" + "\n".join(self.log_text().splitlines()[-80:])

    def stop(self) -> List[int]:
        """SIGINT to the master; returns the processes of ours that outlived it (each
        then killed by its pid): the test requires none."""
        if self.proc is None:
            return []
        stop_pid(self.proc, signal.SIGINT)
        return reap_leftovers(str(self.app))
