"""Debian's programs that embed Python, each running a module built with the plugin.

The hosts (uWSGI, PostgreSQL PL/Python, gdb, vim) run Python inside their own process, so
a test cannot import anything itself: it hands the host a *site*, one world-readable
temporary directory (PostgreSQL runs as another user) holding

- the unpacked wheel of ``sample_project`` built by Debian's python3.11 with the plugin;
- ``_nolibpython_undefined``, a module built by gcc that needs ``nolibpython_absent_symbol``,
  which nothing defines: the negative control, which must fail to import in the same host
  and name that symbol (proof that the host's dynamic loader really processed our files);
- ``nolibpython_probe.py``, which the host runs: it calls the module's C function, tries
  the negative control and reports what ``/proc/self`` says about the process.

The evidence of which libpython serves the module comes from two independent places:
``/proc/self/maps`` (read inside the host) and the dynamic linker itself
(``LD_DEBUG=scopes``, one file per process under ``LD_DEBUG_OUTPUT``), whose scope lists
for the module show where its ``Py*`` symbols are looked up.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from devtools import machine

from . import pids_with_arg, run

UNDEFINED_SYMBOL = "nolibpython_absent_symbol"
UNDEFINED_MODULE = "_nolibpython_undefined"
PROBE_MODULE = "nolibpython_probe"
#: Debian's runtime, as /proc/self/maps names it (ld.so prints it under /lib, the
#: merged-/usr symlink; compare real paths).
DEBIAN_LIBPYTHON = str(machine.DEBIAN_LIBPYTHON)

UNDEFINED_C = f"""\
#define PY_SSIZE_T_CLEAN
#include <Python.h>
extern long {UNDEFINED_SYMBOL}(void);  /* defined nowhere: importing must fail */
static struct PyModuleDef mod = {{PyModuleDef_HEAD_INIT, "{UNDEFINED_MODULE}", NULL, -1, NULL}};
PyMODINIT_FUNC PyInit_{UNDEFINED_MODULE}(void) {{
    PyObject *m = PyModule_Create(&mod);
    if (m != NULL) PyModule_AddIntConstant(m, "value", {UNDEFINED_SYMBOL}());
    return m;
}}
"""

PROBE = f'''\
"""Runs inside an embedding host: use the plugin-built module, try the negative control,
describe the process. Each field is one "key=value" line."""
import os
import threading

import nolibpython_demo  # the plugin-built module is loaded when the host imports the probe
from nolibpython_demo import _core


def report(a, b, in_thread=False):
    if in_thread:  # the C function called from a thread the app started
        box = []
        worker = threading.Thread(target=lambda: box.append(nolibpython_demo.add(a, b)))
        worker.start()
        worker.join()
        total = box[0]
    else:
        total = nolibpython_demo.add(a, b)
    try:
        import {UNDEFINED_MODULE}  # noqa: F401
        control = "imported, but it needs an undefined symbol"
    except ImportError as exc:
        control = str(exc)
    with open("/proc/self/maps") as f:
        libpython = sorted({{line.split()[-1] for line in f if "/libpython" in line}})
    fields = [
        ("sum", total),
        ("module", _core.__file__),
        ("runtime", nolibpython_demo.runtime_version()),
        ("control", control),
        ("libpython", ",".join(libpython)),
        ("exe", os.readlink("/proc/self/exe")),
        ("pid", os.getpid()),
        ("ppid", os.getppid()),
    ]
    return "\\n".join("%s=%s" % (k, str(v).replace("\\n", " ")) for k, v in fields)


def write(path, a, b):
    """For hosts whose output is not ours to read (vim -es): report, or the traceback."""
    import traceback

    try:
        text = report(a, b)
    except BaseException:
        text = "error=" + traceback.format_exc().replace("\\n", " | ")
    with open(path + ".tmp", "w") as f:
        f.write(text + "\\n")
    os.replace(path + ".tmp", path)
'''


# ---------------------------------------------------------------- the site
def make_site(sample_tree: Path, python: Path, owner: Optional[str] = None) -> Path:
    """A new world-readable directory: the unpacked wheel, the negative control built for
    ``python`` (its headers and EXT_SUFFIX) and the probe. The caller removes it."""
    root = Path(tempfile.mkdtemp(prefix="nolibpython-embed-"))
    site = root / "site"
    shutil.copytree(sample_tree, site)
    (site / f"{PROBE_MODULE}.py").write_text(PROBE)
    conf = run([str(python), "-I", "-c", "import sysconfig as s; print(s.get_paths()['include']); "
                "print(s.get_config_var('EXT_SUFFIX'))"], check=True).stdout.split()
    src = root / f"{UNDEFINED_MODULE}.c"
    src.write_text(UNDEFINED_C)
    run(["gcc", "-shared", "-fPIC", "-O1", "-Wall", "-Werror", f"-I{conf[0]}", "-o",
         str(site / f"{UNDEFINED_MODULE}{conf[1]}"), str(src)], check=True)
    for d, _, files in os.walk(root):
        os.chmod(d, 0o755)
        for f in files:
            os.chmod(os.path.join(d, f), 0o755 if f.endswith(".so") else 0o644)
    (root / "ld-debug").mkdir(mode=0o755)
    if owner:
        shutil.chown(root / "ld-debug", owner, owner)
    return root


def undefined_module(site: Path) -> Path:
    found = sorted(site.glob(f"{UNDEFINED_MODULE}*.so"))
    assert len(found) == 1, found
    return found[0]


def undefined_symbols(path: Path) -> List[str]:
    """``nm -D --undefined-only`` of a file (independent of the package's reader)."""
    out = run(["nm", "-D", "--undefined-only", str(path)], check=True).stdout
    return [line.split()[-1].split("@")[0] for line in out.splitlines() if line.strip()]


def expected_control_error(site: Path) -> str:
    """What the host's import of the negative control must say, exactly."""
    return f"{undefined_module(site)}: undefined symbol: {UNDEFINED_SYMBOL}"


def ld_debug_env(root: Path) -> Dict[str, str]:
    """Ask ld.so for its scope lists, one file per process (``ld-debug/ld.PID``)."""
    return {"LD_DEBUG": "scopes", "LD_DEBUG_OUTPUT": str(root / "ld-debug" / "ld")}


# ---------------------------------------------------------------- what the host reported
def fields(text: str) -> Dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def ld_debug_lines(root: Path) -> Dict[int, List[str]]:
    """{pid: lines} from every LD_DEBUG_OUTPUT file; a forked child (a uWSGI worker, a
    PostgreSQL backend) writes into its parent's file under its own pid."""
    by_pid: Dict[int, List[str]] = {}
    for path in sorted((root / "ld-debug").glob("ld.*")):
        for line in path.read_text(errors="replace").splitlines():
            m = re.match(r"\s*(\d+):\s?(.*)", line)
            if m:
                by_pid.setdefault(int(m[1]), []).append(m[2])
    return by_pid


def module_scopes(by_pid: Mapping[int, List[str]], module: str) -> Dict[int, List[List[str]]]:
    """{pid: lookup scopes} printed when ``module`` was loaded: scope 0 is the global scope,
    the following ones the module's own DT_NEEDED closure."""
    found: Dict[int, List[List[str]]] = {}
    for pid, lines in by_pid.items():
        for i, line in enumerate(lines):
            if line.strip() != f"object={module} [0]":
                continue
            scopes: List[List[str]] = []
            for nxt in lines[i + 1:]:
                m = re.match(r"\s*scope (\d+): (.*)", nxt)
                if not m:
                    break
                scopes.append(m[2].split())
            found[pid] = scopes
            break
    return found


def added_to_global_scope(by_pid: Mapping[int, List[str]], pid: int) -> List[str]:
    """Files a ``dlopen(RTLD_GLOBAL)`` in process ``pid`` added to the global scope."""
    return [m[1] for line in by_pid.get(pid, []) if (m := re.match(r"\s*add (\S+) \[0\] to global scope", line))]


def is_libpython(path: str) -> bool:
    return os.path.basename(path).startswith("libpython")


def same_file(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


# ---------------------------------------------------------------- processes


def stop_pid(proc: "subprocess.Popen[bytes]", sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    """Send ``sig`` to the process we started, wait; SIGKILL if it does not go."""
    if proc.poll() is None:
        os.kill(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout)


def wait_gone(pids: Sequence[int], timeout: float = 30) -> List[int]:
    """The pids still alive after ``timeout`` (a zombie counts as gone)."""
    deadline = time.monotonic() + timeout
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if _alive(p)]
        if alive:
            time.sleep(0.1)
    return alive


def reap_leftovers(text: str, grace: float = 5) -> List[int]:
    """Processes of ours (``text`` in their command line) still alive ``grace`` seconds
    after their server was stopped: each gets SIGKILL by its pid, and the list is
    returned so the test can fail on it without leaving them behind."""
    left = wait_gone([p for p in pids_with_arg(text) if p != os.getpid()], grace)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


# ---------------------------------------------------------------- gdb and vim
GDB = Path("/usr/bin/gdb")
VIM = Path("/usr/bin/vim.nox")


def probe_call(site: Path, call: str) -> str:
    """One line of Python that puts the site first on sys.path and runs ``call``."""
    return f"import sys; sys.path.insert(0, {str(site)!r}); import {PROBE_MODULE}; {call}"


def run_gdb(root: Path, a: int, b: int) -> "subprocess.CompletedProcess[str]":
    """``gdb -batch -ex 'python ...'``: the report is gdb's standard output."""
    line = probe_call(root / "site", f"print({PROBE_MODULE}.report({a}, {b}))")
    return run([str(GDB), "-nx", "-batch", "-ex", f"python {line}"], env=ld_debug_env(root), timeout=120)


def run_vim(root: Path, a: int, b: int) -> Tuple["subprocess.CompletedProcess[str]", str]:
    """``vim -es -c 'py3 ...' -c 'qa!'``; silent Ex mode prints nothing, so the probe
    writes its report to a file. Returns (vim's result, the report)."""
    out = root / "vim-report.txt"
    line = probe_call(root / "site", f"{PROBE_MODULE}.write({str(out)!r}, {a}, {b})")
    proc = subprocess.run([str(VIM), "-es", "-N", "-u", "NONE", "-i", "NONE", "-c", f"py3 {line}", "-c", "qa!"],
                          env={**os.environ, **ld_debug_env(root)}, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120)
    return proc, out.read_text() if out.exists() else ""
