"""Compatibility matrix, hosts that embed Python (issue 5, items 3 and 4).

Embedding: tests/support/embed_host.c dlopen()s pyenv 3.11's libpython with RTLD_GLOBAL,
RTLD_LOCAL, or RTLD_LOCAL then the RTLD_NOLOAD|RTLD_GLOBAL promotion, and imports
sample_project built by that interpreter with the plugin. LOCAL must fail with the real
"undefined symbol" error (the PEP 513 limit); the negative control, the module built
without the plugin (linked to libpython), imports even there: that is the trade-off.

Apache: Debian's apache2 + mod_wsgi (which embeds Debian's libpython3.11) serve a WSGI
app importing sample_project built by Debian's python3.11, in embedded and daemon mode.
"""

from __future__ import annotations

import os
import random
import re
import shutil
from pathlib import Path
from typing import Dict, Iterator, Tuple

import pytest
from support import DEBIAN_PYTHON, SUPPORT, pyenv_pythons, record_compat, require, run
from support.apache import Apache, available
from support.matrix import SampleBuild, build_pairs, import_code, interpreter_info, make_venv

from devtools.machine import DEBIAN_LIBPYTHON

# ---------------------------------------------------------------- embedding hosts
HOSTS = "embedding hosts"
MODES = {
    "global": "dlopen RTLD_GLOBAL",
    "local": "dlopen RTLD_LOCAL",
    "promote": "dlopen RTLD_LOCAL, then RTLD_NOLOAD|RTLD_GLOBAL",
}


@pytest.fixture(scope="module")
def embedding(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path,
              ) -> Tuple[Path, Path, SampleBuild, SampleBuild]:
    """(host executable, libpython path, module with plugin, module without)."""
    pythons = pyenv_pythons()
    require("3.11" in pythons, "no pyenv CPython 3.11 (shared libpython) to embed")
    require(shutil.which("gcc"), "gcc missing")
    tmp = tmp_path_factory.mktemp("embed")
    host = tmp / "embed_host"
    run(["gcc", "-O1", "-Wall", "-Werror", "-o", str(host), str(SUPPORT / "embed_host.c"), "-ldl"], check=True)
    info = interpreter_info(pythons["3.11"])
    libpython = Path(str(info["libdir"])) / f"libpython{info['ldversion']}.so.1.0"
    require(libpython.exists(), f"{libpython} missing: pyenv 3.11 is not a shared build")
    with_plugin, control = build_pairs({"pyenv 3.11": pythons["3.11"]}, tmp, wheelhouse)["pyenv 3.11"]
    return host, libpython, with_plugin, control


def _host_run(embedding: Tuple[Path, Path, SampleBuild, SampleBuild], mode: str, build: SampleBuild,
              ) -> Tuple[int, str, str]:
    host, libpython, _, _ = embedding
    assert build.tree is not None, build.log[-3000:]
    proc = run([str(host), str(libpython), mode, import_code(build.tree)],
               env={"LD_DEBUG": "scopes", "PYTHONNOUSERSITE": "1", "PYTHONPATH": ""})
    return proc.returncode, proc.stdout, proc.stderr


def _global_scope_line(libpython: Path) -> str:
    return f"add {libpython} [0] to global scope"


@pytest.mark.parametrize("mode", ["global", "promote"])
def test_embedding_host_works(mode: str, embedding: Tuple[Path, Path, SampleBuild, SampleBuild]) -> None:
    _, libpython, with_plugin, _ = embedding
    assert with_plugin.libpython_needed() == [], with_plugin.libpython_needed()
    rc, out, err = _host_run(embedding, mode, with_plugin)
    assert rc == 0, f"{mode}: the plugin-built module did not import:\n{out}\n{err[-4000:]}"
    assert "SUM 42" in out and f"FILE {with_plugin.extension()}" in out, out
    assert _global_scope_line(libpython) in err, f"{mode}: libpython never entered the global scope"
    # Negative control: the same module under plain RTLD_LOCAL fails (the mode is what matters).
    rc_local, _, err_local = _host_run(embedding, "local", with_plugin)
    assert rc_local == 1 and "undefined symbol: Py" in err_local, err_local[-3000:]
    how = ("libpython opened RTLD_GLOBAL" if mode == "global" else
           "libpython opened RTLD_LOCAL, then dlopen(path, RTLD_NOW|RTLD_NOLOAD|RTLD_GLOBAL)")
    record_compat(
        HOSTS, MODES[mode], "pass",
        f"{how}: plugin-built module (no libpython DT_NEEDED) imports, add(2, 40) = 42; LD_DEBUG=scopes shows "
        f"`{_global_scope_line(libpython)}`; the same module under plain RTLD_LOCAL fails",
    )


def test_embedding_host_rtld_local_limit(embedding: Tuple[Path, Path, SampleBuild, SampleBuild]) -> None:
    _, libpython, with_plugin, control = embedding
    rc, out, err = _host_run(embedding, "local", with_plugin)
    assert rc == 1, f"RTLD_LOCAL host imported a module without libpython: the known limit is gone?\n{out}\n{err}"
    error = next((ln for ln in err.splitlines() if ln.startswith("ImportError:")), "")
    assert re.fullmatch(rf"ImportError: {re.escape(str(with_plugin.extension()))}: undefined symbol: Py\w+",
                        error), err[-3000:]
    assert _global_scope_line(libpython) not in err
    # Negative control: the module linked to libpython (built without the plugin) imports
    # in the same host, because its DT_NEEDED puts libpython into its own lookup scope.
    assert control.libpython_needed() == ["libpython3.11.so.1.0"], control.libpython_needed()
    rc_c, out_c, err_c = _host_run(embedding, "local", control)
    assert rc_c == 0 and "SUM 42" in out_c, f"control failed under RTLD_LOCAL:\n{err_c[-3000:]}"
    record_compat(
        HOSTS, MODES["local"], "limit",
        f"expected failure (PEP 513): `{error.replace(str(with_plugin.tree), '...')}`. Fix for host authors: "
        "open libpython with RTLD_GLOBAL, or promote it with dlopen(path, RTLD_NOW|RTLD_NOLOAD|RTLD_GLOBAL). "
        "Control: the module built without the plugin (NEEDED libpython3.11.so.1.0) imports in this host",
    )


# ---------------------------------------------------------------- Apache + mod_wsgi
APACHE = "apache mod_wsgi"
WSGI_APP = '''\
import os
from urllib.parse import parse_qs

import mod_wsgi
import nolibpython_demo
from nolibpython_demo import _core


def libpythons():
    """Distinct libpython files mapped into this process."""
    with open("/proc/self/maps") as f:
        return sorted({line.split()[-1] for line in f if "/libpython" in line})


def application(environ, start_response):
    q = parse_qs(environ.get("QUERY_STRING", ""))
    a, b = int(q["a"][0]), int(q["b"][0])
    body = "\\n".join([
        "sum=%d" % nolibpython_demo.add(a, b),
        "module=" + _core.__file__,
        "process_group=" + mod_wsgi.process_group,
        "runtime=" + nolibpython_demo.runtime_version(),
        "libpython=" + ",".join(libpythons()),
        "pid=%d" % os.getpid(),
    ]).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
'''
APACHE_CASES = {"embedded": ("embedded mode", ""), "daemon": ("daemon mode (WSGIDaemonProcess)", "nolibpython")}


@pytest.fixture(scope="module")
def debian_builds(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Tuple[SampleBuild, SampleBuild]:
    """sample_project built by Debian's python3.11 (what Debian's mod_wsgi embeds), with and without."""
    require(DEBIAN_PYTHON.exists(), f"{DEBIAN_PYTHON} missing (apt-get install python3.11 python3.11-venv)")
    require(available() is None, str(available()))
    require(os.geteuid() == 0, "Apache drops to www-data only when started as root")
    tmp = tmp_path_factory.mktemp("apache")
    venv = make_venv(DEBIAN_PYTHON, tmp / "venv")
    return build_pairs({"debian 3.11": venv}, tmp, wheelhouse)["debian 3.11"]


@pytest.fixture(scope="module")
def httpd(debian_builds: Tuple[SampleBuild, SampleBuild]) -> Iterator[Apache]:
    with_plugin, _ = debian_builds
    assert with_plugin.tree is not None, with_plugin.log[-3000:]
    server = Apache(with_plugin.tree, WSGI_APP)
    with server:
        yield server
    assert server.leftover_pids() == [], f"Apache processes left after stop: {server.leftover_pids()}"


def _fields(body: str) -> Dict[str, str]:
    return dict(line.split("=", 1) for line in body.splitlines() if "=" in line)


@pytest.mark.parametrize("mode", list(APACHE_CASES))
def test_mod_wsgi(mode: str, httpd: Apache, debian_builds: Tuple[SampleBuild, SampleBuild]) -> None:
    with_plugin, control = debian_builds
    case, group = APACHE_CASES[mode]
    assert with_plugin.libpython_needed() == [], with_plugin.libpython_needed()
    a, b = random.randrange(1, 10**6), random.randrange(1, 10**6)
    status, body = httpd.get(f"/{mode}?a={a}&b={b}")
    assert status == 200, f"HTTP {status}:\n{body[-2000:]}\n{httpd.error_log()[-4000:]}"
    got = _fields(body)
    # The answer comes from the C function of the module we built (random inputs), in the
    # process group asked for, on Debian's runtime, which is the only libpython mapped.
    assert got.get("sum") == str(a + b), body
    assert with_plugin.tree is not None
    rel = with_plugin.extension().relative_to(with_plugin.tree)
    assert got.get("module") == str(httpd.site / rel), body
    assert got.get("process_group") == group, body
    debian_version = str(interpreter_info(DEBIAN_PYTHON)["version"])
    assert got.get("runtime") == debian_version, body
    assert got.get("libpython") == str(DEBIAN_LIBPYTHON), body
    # Negative control: the same build without the plugin would have linked libpython.
    assert control.libpython_needed() == ["libpython3.11.so.1.0"], control.libpython_needed()
    record_compat(
        APACHE, case, "pass",
        f"HTTP 200 from 127.0.0.1:{httpd.port}, add({a}, {b}) = {a + b} computed by the plugin-built module "
        f"(no libpython DT_NEEDED) in process group '{group}', runtime {debian_version.split()[0]}, only "
        f"libpython mapped: mod_wsgi's {got['libpython']}; without the plugin: NEEDED libpython3.11.so.1.0",
    )
