"""Issue 11, the build side: the environment switch, the build log, symlinks in the wheel
tree and which project's table a build reads. Real ``setup.py`` builds with gcc, each with
its negative control."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

from support import make_project, run
from support.plugin_builds import LDVERSION, LIBDIR, PYTHON, output, setup_py

from setuptools_nolibpython.config import ENV_VAR
from setuptools_nolibpython.elf import read_elf
from setuptools_nolibpython.sources import BytesSource, FileSource

LINKS_LIBPYTHON = "libraries=['python' + LDVERSION], library_dirs=[LIBDIR], extra_link_args=['-Wl,--no-as-needed']"


def needed_of(path: Path) -> tuple:
    with FileSource(str(path)) as src:
        return read_elf(src).needed


def built(project: Path, name: str) -> Path:
    (so,) = (project / "build").glob(f"lib.*/{name}/_ext.*.so")
    return so


# ---------------------------------------------------------------- 4. the environment switch
def test_env_switch_off_is_logged_once_naming_the_variable(tmp_path: Path) -> None:
    proj = make_project(tmp_path / "proj", name="envoff", ext_kwargs=LINKS_LIBPYTHON)
    off = setup_py(proj, "build_ext", env={ENV_VAR: "0"})
    lines = [ln for ln in output(off).splitlines() if ENV_VAR in ln]
    assert len(lines) == 1, output(off)[-3000:]
    assert f"{ENV_VAR}=0 overrides enable = true in {proj / 'pyproject.toml'}" in lines[0]
    assert any(n.startswith("libpython") for n in needed_of(built(proj, "envoff")))  # it really was off
    # Control: without the variable nothing is said and the plugin works.
    on = setup_py(proj, "build_ext", "--force")
    assert ENV_VAR not in output(on)
    assert not any(n.startswith("libpython") for n in needed_of(built(proj, "envoff")))


# ---------------------------------------------------------------- 5. the build log
def test_linker_flag_removal_logged_once_per_extension(tmp_path: Path) -> None:
    proj = make_project(tmp_path / "proj", name="two", modules=("_a", "_b"))
    ldflags = f"-Wl,--no-as-needed -L{LIBDIR} -lpython{LDVERSION}"
    proc = setup_py(proj, "build_ext", env={"LDFLAGS": ldflags})
    lines = [ln for ln in output(proc).splitlines() if f"'-lpython{LDVERSION}'" in ln]
    assert sorted(lines) == [
        f"setuptools-nolibpython: two.{m}: removed '-lpython{LDVERSION}' (libpython) from the linker command "
        "(LDSHARED/LDFLAGS)" for m in ("_a", "_b")
    ], output(proc)[-3000:]
    assert "linker_so" not in output(proc)
    # Control: without the flag in LDFLAGS nothing is logged about it.
    quiet = setup_py(proj, "build_ext", "--force")
    assert f"'-lpython{LDVERSION}'" not in output(quiet)


def test_summary_grammar(tmp_path: Path) -> None:
    proj = make_project(tmp_path / "proj", name="gram", ext_kwargs=LINKS_LIBPYTHON)
    setup_py(proj, "build_ext", env={ENV_VAR: "0"})  # the plugin off: the module links libpython
    proc = run([PYTHON, "-m", "setuptools_nolibpython", "check", "--check-symbols", "off", proj / "build"])
    assert "1 violates the no-libpython rule" in proc.stdout
    assert "1 violate " not in proc.stdout


# ---------------------------------------------------------------- 7. symlinks in the wheel tree
SYMLINK_SETUP = """
import os, sysconfig
from setuptools import Extension, setup
from setuptools.command.install_lib import install_lib

class linking_install_lib(install_lib):
    # Puts a symlink into the wheel tree, as a custom step or a vendored tree can.
    def run(self):
        super().run()
        os.symlink({target!r}, os.path.join(self.install_dir, "sym", "libbad.so"))

setup(ext_modules=[Extension("sym._ext", ["sym/_ext.c"])], cmdclass={{"install_lib": linking_install_lib}})
"""


def test_symlinked_file_in_wheel_tree_is_scanned(tmp_path: Path) -> None:
    """bdist_wheel writes a symlinked file's target; the pre-wheel scan must judge it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "bad.c").write_text("int bad(void) { return 1; }\n")
    target = outside / "libbad.so"
    run(["gcc", "-shared", "-fPIC", outside / "bad.c", f"-L{LIBDIR}", "-Wl,--no-as-needed", f"-lpython{LDVERSION}",
         "-o", target], check=True)
    results = {}
    for enable in (True, False):
        proj = make_project(tmp_path / f"proj-{enable}", name="sym", enable=enable,
                            setup_py=SYMLINK_SETUP.format(target=str(target)))
        results[enable] = setup_py(proj, "bdist_wheel", check=False)
    on, off = results[True], results[False]
    assert on.returncode != 0, output(on)[-3000:]
    assert f"sym/libbad.so: violation: needs libpython{LDVERSION}.so.1.0" in output(on), output(on)[-3000:]
    # Control: without the plugin the wheel is written, and it holds the target's bytes.
    assert off.returncode == 0, output(off)[-3000:]
    (wheel,) = (tmp_path / "proj-False" / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        data = zf.read("sym/libbad.so")
    assert any(n.startswith("libpython") for n in read_elf(BytesSource(data, "libbad.so")).needed)


# ---------------------------------------------------------------- 8. which project's table
ABS_SETUP = """
import os, sysconfig
from setuptools import Extension, setup
HERE = os.path.dirname(os.path.abspath(__file__))
LDVERSION = sysconfig.get_config_var('LDVERSION')
LIBDIR = sysconfig.get_config_var('LIBDIR')
setup(name="far", ext_modules=[Extension("far._ext", [os.path.join(HERE, "far", "_ext.c")],
      libraries=['python' + LDVERSION], library_dirs=[LIBDIR], extra_link_args=['-Wl,--no-as-needed'])])
"""


def test_table_read_from_the_project_not_the_current_directory(tmp_path: Path) -> None:
    neighbour = tmp_path / "neighbour"
    neighbour.mkdir()
    # A neighbour's table, wrong on purpose: reading it would fail the build.
    (neighbour / "pyproject.toml").write_text('[tool.setuptools-nolibpython]\nenable = "yes"\n')
    results = {}
    for enable in (True, False):
        proj = make_project(tmp_path / f"far-{enable}", name="far", enable=enable, setup_py=ABS_SETUP)
        proc = run([PYTHON, proj / "setup.py", "build_ext"], cwd=neighbour)
        assert proc.returncode == 0, output(proc)[-3000:]
        assert "enable must be true or false" not in output(proc)
        (so,) = (neighbour / "build").glob("lib.*/far/_ext.*.so")
        results[enable] = needed_of(so)
        run(["rm", "-rf", neighbour / "build"], check=True)
    assert not any(n.startswith("libpython") for n in results[True])  # the project's table: plugin on
    assert any(n.startswith("libpython") for n in results[False])  # control: its enable = false is obeyed
    # Control: from inside the neighbour, its own (bad) table is the one read.
    bad = run([PYTHON, "-c", "from setuptools import setup; setup(name='n', script_args=['build'])"], cwd=neighbour)
    assert bad.returncode != 0 and "enable must be true or false" in output(bad)


# ---------------------------------------------------------------- 6. an unreadable global scope is said
HOST_C = """
#include <Python.h>
int hostdep(void);
int main(int argc, char **argv) { return hostdep() + Py_BytesMain(argc, argv); }
"""


def test_build_log_warns_when_the_interpreter_scope_is_unknown(tmp_path: Path) -> None:
    """A build run by an embedding interpreter whose dependency only LD_LIBRARY_PATH finds
    (ld.so's rules from its files do not): symbols cannot be checked, and the log says so."""
    import sysconfig

    d = tmp_path / "host"
    d.mkdir()
    (d / "dep.c").write_text("int hostdep(void) { return 0; }\n")
    run(["gcc", "-shared", "-fPIC", d / "dep.c", "-Wl,-soname,libhostdep.so", "-o", d / "libhostdep.so"], check=True)
    (d / "host.c").write_text(HOST_C)
    host = d / "python3.11"
    run(["gcc", f"-I{sysconfig.get_paths()['include']}", d / "host.c", f"-L{d}", "-lhostdep", f"-L{LIBDIR}",
         f"-lpython{LDVERSION}", "-o", host], check=True)
    site = sysconfig.get_paths()["purelib"]
    import setuptools_nolibpython

    pkg_root = Path(setuptools_nolibpython.__file__).parents[1]
    env = {"LD_LIBRARY_PATH": f"{d}:{LIBDIR}", "PYTHONHOME": sys.base_prefix, "PYTHONPATH": f"{site}:{pkg_root}"}
    proj = make_project(tmp_path / "proj", name="scope")
    proc = run([host, "setup.py", "build_ext"], cwd=proj, env=env)
    assert proc.returncode == 0, output(proc)[-3000:]
    (line,) = [ln for ln in output(proc).splitlines() if "symbols not checked" in ln]
    assert "needs libhostdep.so" in line and str(host) in line
    # Control: the same build by the plain interpreter checks symbols and says nothing of the kind.
    plain = setup_py(proj, "build_ext", "--force")
    assert "symbols not checked" not in output(plain)


# ---------------------------------------------------------------- 2. on-violation = "repair" and programs
PROGRAM_C = """
#include <Python.h>
int main(void) { Py_Initialize(); PyRun_SimpleString("print(6 * 7)"); return Py_FinalizeEx() < 0; }
"""


def _program_project(root: Path, table_extra: str) -> Path:
    import sysconfig

    proj = make_project(root / "proj", name="tool", table_extra=table_extra,
                        pyproject_extra='[tool.setuptools.package-data]\ntool = ["bin/*"]\n')
    (proj / "tool" / "bin").mkdir()
    (root / "prog.c").write_text(PROGRAM_C)
    run(["gcc", f"-I{sysconfig.get_paths()['include']}", root / "prog.c", f"-L{LIBDIR}", f"-lpython{LDVERSION}",
         f"-Wl,-rpath,{LIBDIR}", "-o", proj / "tool" / "bin" / "prog"], check=True)
    return proj


def test_repair_mode_never_edits_a_shipped_program(tmp_path: Path) -> None:
    """on-violation = "repair" used to strip the program's libpython and ship a program that
    cannot start; now the build stops and says what the program is."""
    proj = _program_project(tmp_path / "repair", 'on-violation = "repair"\n')
    proc = setup_py(proj, "bdist_wheel", check=False)
    assert proc.returncode != 0, output(proc)[-3000:]
    assert "tool/bin/prog: violation: is a program that embeds Python" in output(proc)
    assert not list((proj / "dist").glob("*.whl"))
    # With allow, the build passes and the program in the wheel still runs.
    proj = _program_project(tmp_path / "allowed", 'on-violation = "repair"\nallow = ["tool/bin/prog"]\n')
    proc = setup_py(proj, "bdist_wheel", check=False)
    assert proc.returncode == 0, output(proc)[-3000:]
    (wheel,) = (proj / "dist").glob("*.whl")
    prog = tmp_path / "prog"
    with zipfile.ZipFile(wheel) as zf:
        prog.write_bytes(zf.read("tool/bin/prog"))
    prog.chmod(0o755)
    ran = run([prog], env={"PYTHONHOME": sys.base_prefix})
    assert ran.returncode == 0 and ran.stdout.strip() == "42", ran.stderr
    # Control: the module beside it is still repaired in that same build.
    with zipfile.ZipFile(wheel) as zf:
        (mod,) = [n for n in zf.namelist() if n.startswith("tool/_ext") and n.endswith(".so")]
        assert not any(n.startswith("libpython") for n in read_elf(BytesSource(zf.read(mod), mod)).needed)
