"""Compatibility matrix, the programs Debian ships that embed Python (issue 12).

Each host is the real program from Debian 12's packages, started by the test on private
directories (and, for servers, a free port on 127.0.0.1), and stopped by its pid:

- uWSGI (uwsgi-core + uwsgi-plugin-python3): ``--plugin python3``, an app served with
  ``--http-socket``, requested over HTTP; plain, ``--enable-threads``, and
  ``--lazy-apps --processes 2`` (the app, hence the module, loaded in each worker);
- PostgreSQL 15 PL/Python: a private cluster (run as postgres, unix socket only), a
  plpython3u function that imports the module, queried with psql, stopped by pg_ctl;
- gdb: ``gdb -batch -ex 'python ...'``;
- vim (vim-nox): ``vim -es -c 'py3 ...' -c 'qa!'``.

The module is sample_project built by Debian's python3.11 (the interpreter all four embed:
their python3 components need libpython3.11.so.1.0) with the plugin, so it has no
libpython DT_NEEDED. Evidence per cell: the sum the module's C function computed on random
inputs inside the host; the host's executable and the only libpython it maps
(/proc/self/maps, read inside); the dynamic linker's own scope list for the module
(LD_DEBUG=scopes): libpython sits in scope 0, the global scope, and the module's own scope
(itself and libc) holds none. Negative controls: in the same host process the module
``_nolibpython_undefined`` fails to import naming its undefined symbol, and the same
sample built without the plugin links libpython.

How each host puts libpython in the global scope is measured too: gdb and vim.nox link it
(DT_NEEDED of the executable; vim.nox is built ``+python3``, not ``+python3/dyn``, so no
dlopen flags are involved; vim's python3/dyn builds, which Debian does not ship, open
libpython ``RTLD_LAZY|RTLD_GLOBAL`` unless configured with both PY_NO_RTLD_GLOBAL and
PY3_NO_RTLD_GLOBAL, per vim's src/if_python3.c); uWSGI and PostgreSQL dlopen their python
plugin, which links libpython, with RTLD_GLOBAL, and ld.so reports ``add
.../libpython3.11.so.1.0 [0] to global scope``. None of these four hosts opens libpython
RTLD_LOCAL, so no cell here is a known limit; should one start to, its test fails.
"""

from __future__ import annotations

import importlib.util
import random
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import pytest
from support import DEBIAN_PYTHON, REPO, postgres, readelf_needed, record_compat, require, run, uwsgi
from support import embedders as emb
from support.matrix import SampleBuild, build_pairs, interpreter_info, make_venv

LIBPYTHON_SONAME = "libpython3.11.so.1.0"
UWSGI_SECTION = "application server uWSGI"
PG_SECTION = "database PostgreSQL PL/Python"
GDB_SECTION = "debugger gdb"
VIM_SECTION = "editor vim"
PG_CASE = "plpython3u function, private cluster (unix socket only, run as postgres)"
GDB_CASE = "gdb -batch -ex 'python import ...'"
VIM_CASE = "vim.nox -es -c 'py3 ...' -c 'qa!'"


# ---------------------------------------------------------------- builds and the site
@pytest.fixture(scope="module")
def debian_builds(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Tuple[SampleBuild, SampleBuild]:
    """sample_project built by Debian's python3.11, with the plugin and without (control)."""
    require(DEBIAN_PYTHON.exists(), f"{DEBIAN_PYTHON} missing (apt-get install python3.11 python3.11-venv)")
    require(shutil.which("gcc") and shutil.which("nm"), "gcc and binutils missing")
    tmp = tmp_path_factory.mktemp("embedders")
    venv = make_venv(DEBIAN_PYTHON, tmp / "venv")
    with_plugin, control = build_pairs({"debian 3.11": venv}, tmp, wheelhouse)["debian 3.11"]
    assert with_plugin.libpython_needed() == [], with_plugin.libpython_needed()
    # Negative control of the build: without the plugin, the same project links libpython.
    assert control.libpython_needed() == [LIBPYTHON_SONAME], control.libpython_needed()
    return with_plugin, control


@pytest.fixture
def site(debian_builds: Tuple[SampleBuild, SampleBuild]) -> Iterator[Path]:
    """A fresh private site per host (its own LD_DEBUG files); removed afterwards."""
    with_plugin, _ = debian_builds
    assert with_plugin.tree is not None, with_plugin.log[-3000:]
    root = emb.make_site(with_plugin.tree, DEBIAN_PYTHON, owner=postgres.RUN_AS if _has_user() else None)
    # The negative control really needs a symbol nobody defines (nm, not our reader).
    assert emb.UNDEFINED_SYMBOL in emb.undefined_symbols(emb.undefined_module(root / "site"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _has_user() -> bool:
    return postgres.available() is None


def _debian_version() -> str:
    return str(interpreter_info(DEBIAN_PYTHON)["version"])


def _operands() -> Tuple[int, int]:
    return random.randrange(1, 10**6), random.randrange(1, 10**6)


# ---------------------------------------------------------------- the common judgement
def check_report(root: Path, report: Mapping[str, str], a: int, b: int, exe: str,
                 scope_pids: Optional[Sequence[int]] = None) -> str:
    """Assert what every host must show; return the evidence text for the cell.

    ``scope_pids``: processes in which ld.so must have loaded the module (default: the
    one that answered).
    """
    assert "error" not in report, report["error"]
    assert report.get("sum") == str(a + b), report
    site = root / "site"
    module = report.get("module", "")
    assert Path(module).parent.parent == site and Path(module).name.startswith("_core"), report
    assert report.get("runtime") == _debian_version(), report
    assert emb.same_file(report.get("exe", ""), exe), f"the answer came from {report.get('exe')}, not {exe}"
    assert report.get("libpython") == emb.DEBIAN_LIBPYTHON, f"libpython mapped in the host: {report}"
    # Negative control, same process: a module needing an undefined symbol fails, naming it.
    assert report.get("control") == emb.expected_control_error(site), report
    # The dynamic linker's view: scope 0 (global) holds Debian's libpython; scope 1, the
    # module and its own DT_NEEDED closure (libc), holds none: the module brought no runtime.
    by_pid = emb.ld_debug_lines(root)
    scopes = emb.module_scopes(by_pid, module)
    pids = list(scope_pids) if scope_pids is not None else [int(report["pid"])]
    # Forked workers share their parent's LD_DEBUG file, and ld.so writes a scope line in
    # pieces (one write per object): two workers that load at the same moment (--lazy-apps)
    # can cut each other's scope lines. ld.so must have loaded the module in every pid (the
    # "object=" line is one write); the scopes are judged wherever they came out whole, and
    # must come out whole in at least one process.
    whole = []
    for pid in pids:
        assert pid in scopes, f"ld.so never loaded {module} in pid {pid} (scopes seen in {sorted(scopes)})"
        found = scopes[pid]
        if len(pids) > 1 and len(found) != 2:
            continue
        assert found and any(emb.same_file(p, emb.DEBIAN_LIBPYTHON) for p in found[0]), found
        assert len(found) == 2 and found[1][0] == module, found
        assert not any(emb.is_libpython(p) for p in found[1]), found
        whole.append(pid)
    assert whole, f"no process printed its scopes whole: {scopes}"
    glob_lib = next(p for p in scopes[whole[0]][0] if emb.is_libpython(p))
    own = " ".join(Path(p).name for p in scopes[whole[0]][1])
    return (f"add({a}, {b}) = {a + b} computed by the plugin-built module (no libpython DT_NEEDED) in "
            f"{report['exe']} pid {report['pid']}, runtime {report['runtime'].split()[0]}; only libpython "
            f"mapped: {report['libpython']}; LD_DEBUG=scopes for the module: scope 0 (global) holds {glob_lib}, "
            f"its own scope 1 ({own}) no libpython; control in the same process: "
            f"`{_short(report['control'], site)}`; without the plugin the same build has NEEDED {LIBPYTHON_SONAME}")


def _short(text: str, site: Path) -> str:
    return text.replace(str(site), "...")


# ---------------------------------------------------------------- uWSGI
UWSGI_CASES: Dict[str, Tuple[str, List[str]]] = {
    "plain": ("--plugin python3, --master", []),
    "threads": ("--enable-threads (module called from a Python thread)", ["--enable-threads"]),
    "lazy": ("--lazy-apps --processes 2 (app loaded in each worker)", ["--lazy-apps", "--processes", "2"]),
}


@pytest.fixture(scope="module")
def uwsgi_plugin() -> str:
    require(uwsgi.available() is None, str(uwsgi.available()))
    needed = readelf_needed(uwsgi.PLUGIN)
    assert LIBPYTHON_SONAME in needed, needed
    return f"{uwsgi.PLUGIN.name} NEEDED {LIBPYTHON_SONAME}"


def _served_pids(server: uwsgi.Uwsgi, a: int, b: int, want: int) -> Tuple[List[Dict[str, str]], List[int]]:
    """Concurrent requests that each hold their worker for a moment, until ``want``
    different workers have answered (bounded)."""
    reports: List[Dict[str, str]] = []
    for _ in range(5):
        with ThreadPoolExecutor(max_workers=want) as pool:
            results = list(pool.map(lambda _: server.get(f"a={a}&b={b}&hold=1"), range(want)))
        for status, body in results:
            assert status == 200, f"HTTP {status}:\n{body[-2000:]}\n{server.output()}"
            reports.append(emb.fields(body))
        pids = sorted({int(r["pid"]) for r in reports})
        if len(pids) >= want:
            return reports, pids
    return reports, sorted({int(r["pid"]) for r in reports})


@pytest.mark.parametrize("mode", list(UWSGI_CASES))
def test_uwsgi(mode: str, site: Path, uwsgi_plugin: str) -> None:
    case, options = UWSGI_CASES[mode]
    a, b = _operands()
    server = uwsgi.Uwsgi(site, options)
    try:
        server.start()
        query = f"a={a}&b={b}" + ("&thread=1" if mode == "threads" else "")
        status, body = server.get(query)
        assert status == 200, f"HTTP {status}:\n{body[-2000:]}\n{server.output()}"
        report = emb.fields(body)
        reports, workers = [report], [int(report["pid"])]
        if mode == "lazy":
            reports, workers = _served_pids(server, a, b, want=2)
            assert len(workers) == 2, f"two workers never both answered: {workers}\n{server.output()}"
        master = server.proc.pid if server.proc else -1
    finally:
        leftovers = server.stop()
    assert leftovers == [], f"uwsgi processes left after SIGINT to the master: {leftovers}"
    log = server.log_text()
    assert ("Python threads support is disabled" in log) == (mode != "threads"), server.output()
    # Where ld.so loaded the module: with --lazy-apps in each worker (every answer is
    # judged in full), else once in the master before it forked the workers.
    for r in reports:
        assert int(r["ppid"]) == master, f"answered by pid {r['pid']}, not a worker of {master}"
        loaded_in = [int(r["pid"])] if mode == "lazy" else [master]
        evidence = check_report(site, r, a, b, str(uwsgi.UWSGI), scope_pids=loaded_in)
    adds = emb.added_to_global_scope(emb.ld_debug_lines(site), master)
    assert str(uwsgi.PLUGIN) in adds and any(emb.same_file(p, emb.DEBIAN_LIBPYTHON) for p in adds), adds
    where = {"plain": "", "threads": " from a threading.Thread",
             "lazy": f" in both workers (pids {', '.join(map(str, workers))}, module loaded in each)"}[mode]
    record_compat(
        UWSGI_SECTION, case, "pass",
        f"HTTP 200 from 127.0.0.1:{server.port}{where}; {evidence}; how: the master dlopen()s {uwsgi_plugin} "
        f"RTLD_GLOBAL (LD_DEBUG: `add {uwsgi.PLUGIN} [0] to global scope`, then libpython); "
        "no uwsgi process left after SIGINT to the master",
    )


# ---------------------------------------------------------------- PostgreSQL PL/Python
PG_FUNCTION = """\
CREATE EXTENSION plpython3u;
CREATE FUNCTION nolibpython_probe(a bigint, b bigint) RETURNS text AS $$
{line}
return {probe}.report(a, b)
$$ LANGUAGE plpython3u;
"""


def test_postgresql_plpython(site: Path) -> None:
    require(postgres.available() is None, str(postgres.available()))
    needed = readelf_needed(postgres.PLPYTHON)
    assert LIBPYTHON_SONAME in needed, needed
    a, b = _operands()
    cluster = postgres.Cluster(site)
    try:
        cluster.start()
        setup_sql = PG_FUNCTION.format(
            line=f"import sys; sys.path.insert(0, {str(site / 'site')!r}); import {emb.PROBE_MODULE}",
            probe=emb.PROBE_MODULE)
        created = cluster.psql(setup_sql)
        assert created.returncode == 0, f"{created.stdout}\n{created.stderr}\n{cluster.server_log()}"
        query = cluster.psql(f"SELECT nolibpython_probe({a}, {b});")
        assert query.returncode == 0, f"{query.stdout}\n{query.stderr}\n{cluster.server_log()}"
        postmaster = cluster.postmaster_pid()
    finally:
        stopped, leftovers = cluster.stop()
    assert stopped is not None and stopped.returncode == 0 and "server stopped" in stopped.stdout, stopped
    assert leftovers == [], f"postgres processes left after pg_ctl stop: {leftovers}"
    report = emb.fields(query.stdout)
    assert int(report["ppid"]) == postmaster, f"answered by pid {report['pid']}, not a backend of {postmaster}"
    evidence = check_report(site, report, a, b, str(postgres.BIN / "postgres"))
    adds = emb.added_to_global_scope(emb.ld_debug_lines(site), int(report["pid"]))
    assert str(postgres.PLPYTHON) in adds and any(emb.same_file(p, emb.DEBIAN_LIBPYTHON) for p in adds), adds
    record_compat(
        PG_SECTION, PG_CASE, "pass",
        f"`SELECT nolibpython_probe({a}, {b})` through psql; {evidence}; how: the backend dlopen()s "
        f"{postgres.PLPYTHON.name} (NEEDED {LIBPYTHON_SONAME}) RTLD_GLOBAL (LD_DEBUG: `add {postgres.PLPYTHON} [0] "
        f"to global scope`, then libpython); cluster stopped by pg_ctl, no process left",
    )


# ---------------------------------------------------------------- gdb and vim
def _linked_host(exe: Path) -> str:
    """The host links libpython itself (DT_NEEDED of the executable): say so, or fail."""
    needed = readelf_needed(exe)
    assert LIBPYTHON_SONAME in needed, f"{exe} no longer links libpython: {needed}"
    return f"{exe} NEEDED {LIBPYTHON_SONAME}, so libpython is in the global scope from startup"


def test_gdb(site: Path) -> None:
    require(emb.GDB.exists(), f"{emb.GDB} missing (apt-get install gdb)")
    how = _linked_host(emb.GDB)
    a, b = _operands()
    proc = emb.run_gdb(site, a, b)
    assert proc.returncode == 0, f"gdb failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    report = emb.fields(proc.stdout)
    evidence = check_report(site, report, a, b, str(emb.GDB))
    record_compat(GDB_SECTION, GDB_CASE, "pass", f"{evidence}; how: {how}")


def test_vim(site: Path) -> None:
    require(emb.VIM.exists(), f"{emb.VIM} missing (apt-get install vim-nox)")
    version = run([str(emb.VIM), "--version"], check=True).stdout
    features = version.split()
    # How Debian builds it: Python 3 compiled in and linked, not loaded with dlopen().
    assert "+python3" in features and "+python3/dyn" not in features, [f for f in features if "python" in f]
    how = _linked_host(emb.VIM)
    a, b = _operands()
    proc, text = emb.run_vim(site, a, b)
    assert proc.returncode == 0, f"vim failed ({proc.returncode}):\n{text}\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
    evidence = check_report(site, emb.fields(text), a, b, str(emb.VIM))
    record_compat(VIM_SECTION, VIM_CASE, "pass",
                  f"{evidence}; how: `vim --version` says +python3 (not +python3/dyn): {how}")


def test_embedders_fail_without_global_libpython(site: Path) -> None:
    """The judgement can fail: the probe run by Debian's own python3.11 (static, runtime in
    the executable, no libpython mapped) is refused by check_report."""
    a, b = _operands()
    proc = subprocess.run([str(DEBIAN_PYTHON), "-I", "-c",
                           emb.probe_call(site / "site", f"print({emb.PROBE_MODULE}.report({a}, {b}))")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = emb.fields(proc.stdout)
    assert report["sum"] == str(a + b) and report["libpython"] == "", report
    with pytest.raises(AssertionError, match="libpython mapped in the host"):
        check_report(site, report, a, b, str(DEBIAN_PYTHON))


def test_every_cell_is_required_by_gen_compat() -> None:
    """`gen_compat.py --check` fails CI when one of these cells is missing: the names the
    tests record must be exactly the ones the script requires."""
    spec = importlib.util.spec_from_file_location("gen_compat", REPO / "scripts" / "gen_compat.py")
    assert spec is not None and spec.loader is not None
    gen_compat = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen_compat)
    recorded = {
        UWSGI_SECTION: tuple(case for case, _ in UWSGI_CASES.values()),
        PG_SECTION: (PG_CASE,),
        GDB_SECTION: (GDB_CASE,),
        VIM_SECTION: (VIM_CASE,),
    }
    for section, cases in recorded.items():
        assert gen_compat.REQUIRED.get(section) == cases, section
        assert section in gen_compat.SECTIONS, section
