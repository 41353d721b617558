"""Configuration end to end through real ``pip wheel`` builds: a prebuilt library that
needs libpython fails the build unless ``allow`` covers it, ``on-violation = "warn"``
continues, the environment variable, the backend wrapper and the explicit cmdclass turn
the plugin on, and a bad table fails with one line naming the key."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Dict, Optional

import pytest
from support import built_wheel, libpython_needed_by_readelf, make_project, pip_wheel, run
from support.plugin_builds import (
    LDVERSION,
    LIBDIR,
    SETUP_HEAD,
    SONAME,
    assert_libpython,
    assert_no_libpython,
    errors_of,
    names_entry,
    output,
    scan_built_wheel,
    setup_py,
    wheel_extensions,
)

from setuptools_nolibpython.results import ScanOptions
from setuptools_nolibpython.scan import scan_wheel

LINKS = "libraries=['python' + V], library_dirs=[LIBDIR], extra_link_args=['-Wl,-z,defs']"
#: the same, with the names make_project's default setup.py defines
LINKS_DEFAULT = "libraries=['python' + LDVERSION], library_dirs=[LIBDIR], extra_link_args=['-Wl,-z,defs']"
HELPER = "shipped/helper.so"


# ---------------------------------------------------------------- prebuilt package data

def _shipped(root: Path, wheelhouse: Path, table_extra: str = "", enable: bool = True):  # type: ignore[no-untyped-def]
    proj = make_project(root / "proj", name="shipped", enable=enable, table_extra=table_extra, ext_kwargs=LINKS_DEFAULT,
                        pyproject_extra='[tool.setuptools.package-data]\nshipped = ["*.so"]\n')
    (root / "helper.c").write_text(
        "extern const char *Py_GetVersion(void);\nconst char *helper(void) { return Py_GetVersion(); }\n")
    run(["gcc", "-shared", "-fPIC", str(root / "helper.c"), "-o", str(proj / HELPER),
         f"-L{LIBDIR}", f"-lpython{LDVERSION}"], check=True)
    assert libpython_needed_by_readelf(proj / HELPER) == [SONAME]
    return pip_wheel(proj, root / "out", wheelhouse)


@pytest.fixture(scope="module")
def shipped_error(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("shipped-error")
    return root, _shipped(root, wheelhouse)


def test_prebuilt_library_fails_the_build(shipped_error) -> None:  # type: ignore[no-untyped-def]
    root, proc = shipped_error
    out = output(proc)
    assert proc.returncode != 0
    lines = [ln for ln in out.splitlines() if HELPER in ln and "libpython" in ln]
    assert lines, out[-4000:]
    assert any(f"needs {SONAME}" in ln and "fix:" in ln for ln in lines)
    # The fix fits a build with the plugin on and no wheel yet: not "builds with the plugin
    # strip it" nor "run 'nolibpython repair' on the wheel".
    (fix,) = {ln.split("; fix: ", 1)[1] for ln in lines if "; fix: " in ln}
    assert fix.startswith("this build strips libpython from every setuptools link"), fix
    assert "on the wheel" not in fix and 'on-violation = "repair"' in fix
    assert "error: setuptools-nolibpython" in out
    assert "Traceback" not in out
    assert not list((root / "out").glob("*.whl"))  # nothing half-written


def test_prebuilt_library_allowed(tmp_path: Path, wheelhouse: Path) -> None:
    proc = _shipped(tmp_path, wheelhouse, table_extra=f'allow = ["{HELPER}"]\n')
    assert proc.returncode == 0, output(proc)[-6000:]
    wheel = built_wheel(tmp_path / "out")
    files = wheel_extensions(wheel, tmp_path / "unpacked")
    # the helper ships untouched; the extension is fixed
    assert libpython_needed_by_readelf(files["helper"]) == [SONAME]
    assert libpython_needed_by_readelf(files["_ext"]) == []
    report = scan_wheel(str(wheel), ScanOptions(allow=(HELPER,)))
    assert not report.failed
    verdicts = {Path(f.path).name.split(".")[0]: f.verdict for f in report.files}
    assert verdicts == {"helper": "allowed", "_ext": "clean"}
    assert "(1 allowed to link libpython)" in output(proc)
    # control: without allow the scanner does fail the same wheel
    assert scan_built_wheel(wheel).failed


def test_prebuilt_library_warn(tmp_path: Path, wheelhouse: Path) -> None:
    proc = _shipped(tmp_path, wheelhouse, table_extra='on-violation = "warn"\n')
    assert proc.returncode == 0, output(proc)[-6000:]
    out = output(proc)
    assert any(HELPER in ln and f"needs {SONAME}" in ln for ln in out.splitlines())
    assert "1 violates the no-libpython rule" in out
    wheel = built_wheel(tmp_path / "out")
    files = wheel_extensions(wheel, tmp_path / "unpacked")
    assert libpython_needed_by_readelf(files["_ext"]) == []  # the fix still happened


def test_prebuilt_library_without_plugin(tmp_path: Path, wheelhouse: Path) -> None:
    """Negative control: the plugin is what fails the build, not the library itself."""
    proc = _shipped(tmp_path, wheelhouse, enable=False)
    assert proc.returncode == 0, output(proc)[-6000:]
    files = wheel_extensions(built_wheel(tmp_path / "out"), tmp_path / "unpacked")
    assert libpython_needed_by_readelf(files["helper"]) == [SONAME]
    assert libpython_needed_by_readelf(files["_ext"]) == [SONAME]


# ---------------------------------------------------------------- ways to turn it on and off

def _build(root: Path, wheelhouse: Path, *, enable: Optional[bool], isolation: bool = True,
           env: Optional[Dict[str, str]] = None, **kwargs: object):  # type: ignore[no-untyped-def]
    proj = make_project(root / "proj", name="opt", enable=enable, ext_kwargs=LINKS_DEFAULT,
                        **kwargs)  # type: ignore[arg-type]
    proc = pip_wheel(proj, root / "out", wheelhouse, isolation=isolation, env=env)
    assert proc.returncode == 0, output(proc)[-6000:]
    wheel = built_wheel(root / "out")
    return wheel_extensions(wheel, root / "unpacked"), scan_built_wheel(wheel), output(proc)


def test_env_forces_on_without_table(tmp_path: Path, wheelhouse: Path) -> None:
    files, report, log = _build(tmp_path / "on", wheelhouse, enable=None, isolation=False,
                                env={"SETUPTOOLS_NOLIBPYTHON": "1"})
    assert_no_libpython(files, report, ["_ext"])
    assert "checked 1 ELF file in the wheel: none needs libpython" in log
    # negative control: the same build without the variable links libpython
    files, report, log = _build(tmp_path / "off", wheelhouse, enable=None, isolation=False)
    assert_libpython(files, report, ["_ext"])
    assert "setuptools-nolibpython" not in log


def test_env_forces_off_with_table(tmp_path: Path, wheelhouse: Path) -> None:
    files, report, log = _build(tmp_path / "off", wheelhouse, enable=True, env={"SETUPTOOLS_NOLIBPYTHON": "0"})
    assert_libpython(files, report, ["_ext"])
    said = [ln for ln in log.splitlines() if "setuptools-nolibpython:" in ln]
    assert said and all("turned off by the environment: SETUPTOOLS_NOLIBPYTHON=0" in ln for ln in said)
    assert len(said) == 1, said  # once per build, not once per setup.py process pip runs
    # control: the table alone does turn it on
    files, report, _ = _build(tmp_path / "on", wheelhouse, enable=True)
    assert_no_libpython(files, report, ["_ext"])


def test_backend_wrapper_turns_it_on(tmp_path: Path, wheelhouse: Path) -> None:
    files, report, log = _build(tmp_path / "b", wheelhouse, enable=None, backend="setuptools_nolibpython.build_meta")
    assert_no_libpython(files, report, ["_ext"])
    assert "opt._ext: removed 'python" in log
    # negative control (same project, plain setuptools backend, no table) is in
    # test_env_forces_on_without_table; here: the environment still wins over the backend
    files, report, _ = _build(tmp_path / "b0", wheelhouse, enable=None, backend="setuptools_nolibpython.build_meta",
                              env={"SETUPTOOLS_NOLIBPYTHON": "0"})
    assert_libpython(files, report, ["_ext"])


def test_explicit_cmdclass(tmp_path: Path, wheelhouse: Path) -> None:
    setup = SETUP_HEAD + textwrap.dedent(
        f"""
        from setuptools_nolibpython import build_ext
        setup(ext_modules=[Extension('opt._ext', ['opt/_ext.c'], {LINKS})], cmdclass={{'build_ext': build_ext}})
        """
    )
    files, report, log = _build(tmp_path / "x", wheelhouse, enable=None, setup_py=setup)
    assert_no_libpython(files, report, ["_ext"])
    assert "opt._ext: removed 'python" in log
    # bdist_wheel is given the whole-wheel check too, so the wheel (not only build_ext's
    # outputs) is what is verified
    assert "checked 1 ELF file in the wheel: none needs libpython" in log
    # the explicit class honours the environment's "off" too (negative control)
    files, report, _ = _build(tmp_path / "x0", wheelhouse, enable=None, setup_py=setup,
                              env={"SETUPTOOLS_NOLIBPYTHON": "off"})
    assert_libpython(files, report, ["_ext"])


def test_explicit_cmdclass_scans_package_data(tmp_path: Path, wheelhouse: Path) -> None:
    """With only the explicit class (no table), a prebuilt library shipped as package data
    that needs libpython still fails the build; without the class it ships (control)."""
    explicit = SETUP_HEAD + (
        "from setuptools_nolibpython import build_ext\n"
        "setup(ext_modules=[Extension('shipped._ext', ['shipped/_ext.c'])], cmdclass={'build_ext': build_ext})\n"
    )
    for name, setup, expect_fail in (("explicit", explicit, True), ("plain", None, False)):
        root = tmp_path / name
        proj = make_project(root / "proj", name="shipped", enable=None, setup_py=setup,
                            pyproject_extra='[tool.setuptools.package-data]\nshipped = ["*.so"]\n')
        (root / "helper.c").write_text(
            "extern const char *Py_GetVersion(void);\nconst char *helper(void) { return Py_GetVersion(); }\n")
        run(["gcc", "-shared", "-fPIC", str(root / "helper.c"), "-o", str(proj / HELPER),
             f"-L{LIBDIR}", f"-lpython{LDVERSION}"], check=True)
        proc = pip_wheel(proj, root / "out", wheelhouse)
        out = output(proc)
        if expect_fail:
            assert proc.returncode != 0, out[-3000:]
            assert any(HELPER in ln and f"needs {SONAME}" in ln for ln in out.splitlines()), out[-3000:]
            assert "Traceback" not in out
            assert not list((root / "out").glob("*.whl"))
        else:
            assert proc.returncode == 0, out[-3000:]
            assert "setuptools-nolibpython:" not in out


@pytest.mark.parametrize("value", ["0", "off", "false", "no"])
def test_explicit_cmdclass_env_off_spellings(value: str, tmp_path: Path) -> None:
    """Every "off" spelling the variable accepts turns the explicit class off (in-process)."""
    setup = SETUP_HEAD + (
        "from setuptools_nolibpython import build_ext\n"
        f"setup(ext_modules=[Extension('opt._ext', ['opt/_ext.c'], {LINKS})], cmdclass={{'build_ext': build_ext}})\n"
    )
    proj = make_project(tmp_path / "proj", name="opt", enable=None, setup_py=setup)
    proc = setup_py(proj, "build_ext", env={"SETUPTOOLS_NOLIBPYTHON": value})
    said = [ln for ln in output(proc).splitlines() if "setuptools-nolibpython:" in ln]
    assert len(said) == 1 and f"SETUPTOOLS_NOLIBPYTHON={value} overrides the explicit opt-in" in said[0]
    (so,) = (proj / "build").glob("lib.*/opt/*.so")
    assert libpython_needed_by_readelf(so) == [SONAME]
    # control: the variable unset, the class is on
    proc = setup_py(proj, "build_ext", "--force", env={"SETUPTOOLS_NOLIBPYTHON": ""})
    assert "opt._ext: removed 'python" in output(proc)
    assert libpython_needed_by_readelf(so) == []


# ---------------------------------------------------------------- bad configuration

@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('enable = true\non_violation = "warn"\n', "unknown key 'on_violation' in [tool.setuptools-nolibpython] "
                                                    '(did you mean "on-violation"?)'),
        ('enable = "yes"\n', "[tool.setuptools-nolibpython] enable must be true or false, got str 'yes'"),
    ],
    ids=["unknown-key", "wrong-type"],
)
def test_bad_config_fails_with_one_line(table: str, expected: str, tmp_path: Path, wheelhouse: Path) -> None:
    proj = make_project(tmp_path / "proj", name="bad", enable=None, table_extra=table)
    proc = pip_wheel(proj, tmp_path / "out", wheelhouse)
    out = output(proc)
    assert proc.returncode != 0
    hits = [ln for ln in out.splitlines() if expected in ln]
    assert hits, out[-4000:]
    assert str(proj / "pyproject.toml") in hits[0]
    assert "Traceback" not in out
    assert not list((tmp_path / "out").glob("*.whl"))


# ---------------------------------------------------------------- every libpython spelling, unreadable files

#: DT_NEEDED spellings (ABI flags t, td, d, m; the stable-ABI shim) that the build must refuse
#: (the libraries are stand-ins made here with that SONAME, except the real stable-ABI shim)
SPELLINGS = ["libpython3.13t.so.1.0", "libpython3.14td.so.1.0", "libpython3.11d.so.1.0", "libpython3.7m.so.1.0",
             "libpython2.7.so.1.0", "libpython3.so"]


def test_every_libpython_spelling_fails_the_build(tmp_path: Path, wheelhouse: Path) -> None:
    proj = make_project(tmp_path / "proj", name="spell", enable=True,
                        pyproject_extra='[tool.setuptools.package-data]\nspell = ["*.so"]\n')
    fake = tmp_path / "fake"
    fake.mkdir()
    (tmp_path / "empty.c").write_text("int stand_in;\n")
    (tmp_path / "user.c").write_text("int user(void) { return 0; }\n")
    for i, soname in enumerate(SPELLINGS):
        if soname != "libpython3.so":
            run(["gcc", "-shared", "-fPIC", str(tmp_path / "empty.c"), "-o", str(fake / soname),
                 f"-Wl,-soname,{soname}"], check=True)
        libdir = LIBDIR if soname == "libpython3.so" else str(fake)
        run(["gcc", "-shared", "-fPIC", str(tmp_path / "user.c"), "-o", str(proj / "spell" / f"user{i}.so"),
             f"-L{libdir}", "-Wl,--no-as-needed", f"-l:{soname}"], check=True)
        assert libpython_needed_by_readelf(proj / "spell" / f"user{i}.so") == [soname]
    proc = pip_wheel(proj, tmp_path / "out", wheelhouse)
    out = output(proc)
    assert proc.returncode != 0
    for i, soname in enumerate(SPELLINGS):
        # Exactly one error for the file, naming that entry: a warning (or another file's
        # error) that mentions the name does not count.
        errors = errors_of(out, f"spell/user{i}.so")
        assert len(errors) == 1 and names_entry(errors[0], soname), (soname, errors)
    assert f"{len(SPELLINGS)} violate the no-libpython rule" in out
    assert "error: setuptools-nolibpython" in out
    assert "Traceback" not in out
    assert not list((tmp_path / "out").glob("*.whl"))


def test_unreadable_elf_fails_the_build(tmp_path: Path, wheelhouse: Path) -> None:
    proj = make_project(tmp_path / "proj", name="broken", enable=True,
                        pyproject_extra='[tool.setuptools.package-data]\nbroken = ["*.so"]\n')
    # an ELF magic followed by a truncated, nonsensical header
    (proj / "broken" / "corrupt.so").write_bytes(b"\x7fELF\x02\x01\x01" + b"\xff" * 40)
    proc = pip_wheel(proj, tmp_path / "out", wheelhouse)
    out = output(proc)
    assert proc.returncode != 0
    lines = [ln for ln in out.splitlines() if "broken/corrupt.so" in ln and "cannot be read as ELF" in ln]
    assert lines, out[-4000:]
    assert "1 could not be read" in out
    assert "Traceback" not in out
    assert not list((tmp_path / "out").glob("*.whl"))
