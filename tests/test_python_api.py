"""The declared API (``setuptools_nolibpython.__all__``, docs/api.md) reproduces
``nolibpython check`` exactly, symbol check included, on real gcc-built wheels: the
function's result and the CLI's ``--json`` document are the same document, and the same
exit status. Importing the package loads none of the internals until a name is used."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
from support import REPO, run
from support.cbuild import EXT, LINUX_TAG, check_doc, libpython_module_wheel, make_wheel, module

import setuptools_nolibpython as api


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """A wheel that links libpython, one whose module uses a symbol nothing defines, a clean one."""
    work = tmp_path_factory.mktemp("api")
    out = {"libpython": libpython_module_wheel(work / "libpython")}
    missing = module(work / "build", "_missing", decl="extern int nolibpython_api_missing;",
                     value="nolibpython_api_missing")
    clean = module(work / "build", "_clean")
    for name, so in (("missing", missing), ("clean", clean)):
        out[name] = make_wheel(work / f"{name}-1.0-{LINUX_TAG}.whl",
                               {f"{name}/__init__.py": b"", f"{name}/{so.name}": so.read_bytes()}, LINUX_TAG,
                               dist=f"{name}-1.0")
    return out


def as_json(doc: Dict[str, Any]) -> Dict[str, Any]:
    """The document as the CLI prints it: through JSON (tuples become lists)."""
    return json.loads(json.dumps(doc))


@pytest.mark.parametrize("options", [[], ["--check-symbols", "off"], ["--strict", "--allow", "probe/*"],
                                     ["--no-rpath", "--check-symbols", "warn"]])
def test_check_reproduces_the_cli(wheels: Dict[str, Path], options: List[str]) -> None:
    paths = [str(wheels[k]) for k in ("libpython", "missing", "clean")]
    settings = api.CheckSettings(
        allow=tuple(options[options.index("--allow") + 1:][:1]) if "--allow" in options else (),
        strict="--strict" in options,
        check_rpath="--no-rpath" not in options,
        check_symbols=options[options.index("--check-symbols") + 1] if "--check-symbols" in options else "error",
    )
    result = api.check(paths, settings)
    cli_doc = check_doc(*options, *paths)
    assert as_json(result.document()) == cli_doc
    assert result.status == cli_doc["exit_status"]
    if options:  # control: the options change the document, so equal documents mean the same options
        assert as_json(api.check(paths).document()) != cli_doc
    for target in paths:  # every target is judged, in the order given
        assert any(t.report.target == target for t in result.targets)


def test_the_symbol_check_is_on_by_default(wheels: Dict[str, Path]) -> None:
    """An undefined symbol fails the API's check as it fails the CLI's; turned off, it passes."""
    result = api.check([str(wheels["missing"])])
    assert result.status == 1 and not result.ok
    (target,) = result.targets
    assert target.report.symbol_check == "checked" and target.report.symbol_reason is None
    codes = [p.code for f in target.report.files for p in f.problems]
    assert api.Code.UNRESOLVED_SYMBOL in codes, codes
    assert run([sys.executable, "-m", "setuptools_nolibpython", "check", str(wheels["missing"])]).returncode == 1
    # Control: the same wheel with the symbol check off passes, so the check above is what failed it.
    off = api.check([str(wheels["missing"])], api.CheckSettings(check_symbols="off"))
    assert off.ok and off.targets[0].report.symbol_check == "off"
    assert api.check([str(wheels["clean"])]).ok


def test_libpython_is_a_violation_and_allow_waives_only_it(wheels: Dict[str, Path]) -> None:
    result = api.check([str(wheels["libpython"])])
    (f,) = result.targets[0].report.files
    assert not result.ok and api.Code.NEEDS_LIBPYTHON in [p.code for p in f.problems]
    allowed = api.check([str(wheels["libpython"])], api.CheckSettings(allow=("probe/*",)))
    assert allowed.ok and allowed.unused_allow == ()
    # One glob as a string is that glob (not its characters), a list is a tuple of globs.
    assert api.CheckSettings(allow="probe/*").allow == ("probe/*",)  # type: ignore[arg-type]
    assert api.check([str(wheels["libpython"])], api.CheckSettings(allow=["probe/*"])).ok  # type: ignore[arg-type]


def test_bad_input_is_a_one_line_usage_error(tmp_path: Path, wheels: Dict[str, Path]) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a wheel\n")
    for paths, settings, phrase in (
        ([str(tmp_path / "absent.whl")], api.CheckSettings(), "no such file or directory"),
        ([str(text)], api.CheckSettings(), "not a wheel (.whl), a directory or an ELF file"),
        ([], api.CheckSettings(), "check needs a PATH"),
        ([str(wheels["clean"])], api.CheckSettings(check_symbols="loud"), "check_symbols must be one of"),
        ([str(wheels["clean"])], api.CheckSettings(python=str(tmp_path / "python9")), "no such file"),
    ):
        with pytest.raises(api.UsageError) as err:
            api.check(paths, settings)
        assert phrase in str(err.value) and "\n" not in str(err.value), err.value


def test_repair_wheel_is_the_cli_repair(wheels: Dict[str, Path], tmp_path: Path) -> None:
    result = api.repair_wheel(str(wheels["libpython"]), str(tmp_path / "fixed"))
    assert result.changed and result.output is not None
    assert api.check([result.output]).ok
    assert not api.check([str(wheels["libpython"])]).ok  # control: the input is unchanged, still a violation


def test_importing_the_package_loads_no_internal_module() -> None:
    """The facade costs nothing until a name is used: builds and the CLI stay lean."""
    probe = ("import sys, setuptools_nolibpython as n\n"
             "before = sorted(m for m in sys.modules if m.startswith('setuptools_nolibpython.'))\n"
             "n.CheckSettings\n"
             "after = sorted(m for m in sys.modules if m.startswith('setuptools_nolibpython.'))\n"
             "print(before, 'setuptools_nolibpython.checking' in after, 'setuptools' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[] True False", proc.stdout + proc.stderr


def test_every_declared_name_resolves_and_nothing_else() -> None:
    for name in api.__all__:
        assert getattr(api, name) is not None, name
    assert set(api.__all__) <= set(dir(api))
    with pytest.raises(AttributeError):
        api.scan_wheel  # noqa: B018  # internal: not part of the API
    assert issubclass(api.UsageError, api.NoLibpythonError) and issubclass(api.RepairError, api.NoLibpythonError)


def test_the_documented_example_runs(wheels: Dict[str, Path], tmp_path: Path) -> None:
    """docs/api.md's example, run as written: the CLI's exit status, one line per finding."""
    doc = (REPO / "docs" / "api.md").read_text()
    block = doc.split("<!-- api example:begin -->", 1)[1].split("<!-- api example:end -->", 1)[0]
    code = block.split("```python\n", 1)[1].split("```", 1)[0]
    script = tmp_path / "gate.py"
    script.write_text(code)
    bad = run([sys.executable, str(script), str(wheels["libpython"])])
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert f"probe/_bad{EXT}: error: needs-libpython: needs libpython" in bad.stdout, bad.stdout
    good = run([sys.executable, str(script), str(wheels["clean"])])  # control
    assert good.returncode == 0 and good.stdout == "", good.stdout + good.stderr
