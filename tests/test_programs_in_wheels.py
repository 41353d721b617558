"""Programs in a wheel get their own verdict and fix: a program that embeds Python through
libpython is never "repaired" into one that cannot start, never offered as a library,
and a frozen application's host (static CPython inside) serves the modules beside it.
Every file is built here by gcc; each claim is held to what really happens."""

from __future__ import annotations

import shutil
import sys
import zipfile
from pathlib import Path
from typing import Dict

import pytest
from support import run
from support.cbuild import (
    EMBED_PROGRAM_C,
    EXT,
    INCLUDE,
    LDVERSION,
    LIBDIR,
    PY_TAG,
    check_doc,
    cli,
    gcc,
    make_wheel,
    module,
    problems_of,
)

from setuptools_nolibpython.elf import read_elf
from setuptools_nolibpython.elfpatch import patch_file, plan_edit
from setuptools_nolibpython.sources import FileSource


@pytest.fixture(scope="module")
def program_wheel(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """A wheel with a program that links libpython (embeds Python) and a module that
    links libpython by mistake: repair must fix the module and leave the program alone."""
    d = tmp_path_factory.mktemp("prog")
    (d / "prog.c").write_text(EMBED_PROGRAM_C)
    prog = d / "prog"
    gcc(["-O0", f"-I{INCLUDE}", d / "prog.c", f"-L{LIBDIR}", f"-lpython{LDVERSION}", f"-Wl,-rpath,{LIBDIR}",
         "-o", prog])
    assert run([prog], env={"PYTHONHOME": sys.base_prefix}).stdout.strip() == "embedded 42"  # it works as built
    mod = module(d, "_bad", extra=[f"-L{LIBDIR}", "-Wl,--no-as-needed", f"-lpython{LDVERSION}"])
    wheel = make_wheel(d / f"probe-1.0-{PY_TAG}-{PY_TAG}-linux_x86_64.whl",
                       {"probe/bin/prog": prog.read_bytes(), f"probe/_bad{EXT}": mod.read_bytes()},
                       f"{PY_TAG}-{PY_TAG}-linux_x86_64", modes={"probe/bin/prog": 0o755})
    return {"dir": d, "prog": prog, "wheel": wheel}


def test_program_still_runs_after_repair(program_wheel: Dict[str, Path], tmp_path: Path) -> None:
    proc = cli("repair", program_wheel["wheel"], "-w", tmp_path / "out")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "probe/bin/prog: left as it is: a program that embeds Python" in proc.stdout
    assert f"probe/_bad{EXT}: removed DT_NEEDED libpython" in proc.stdout  # the module is repaired
    out = tmp_path / "out" / program_wheel["wheel"].name
    with zipfile.ZipFile(out) as zf:
        prog = tmp_path / "prog"
        prog.write_bytes(zf.read("probe/bin/prog"))
        fixed = read_elf(FileSource(str(prog)))
    prog.chmod(0o755)
    assert any(n.startswith("libpython") for n in fixed.needed)
    ran = run([prog], env={"PYTHONHOME": sys.base_prefix})
    assert ran.returncode == 0 and ran.stdout.strip() == "embedded 42", ran.stderr
    # Negative control: what repair used to do (remove the entry) breaks the program at start-up.
    broken = tmp_path / "broken"
    shutil.copy(program_wheel["prog"], broken)
    with FileSource(str(broken)) as src:
        plan = plan_edit(src, read_elf(src), {n for n in fixed.needed if n.startswith("libpython")})
    patch_file(str(broken), plan)
    failed = run([broken], env={"PYTHONHOME": sys.base_prefix})
    assert failed.returncode != 0 and "undefined symbol" in failed.stderr


def test_program_gets_its_own_verdict_and_fix(program_wheel: Dict[str, Path]) -> None:
    doc = check_doc(program_wheel["wheel"])
    probs = problems_of(doc)
    (prog,) = probs["probe/bin/prog"]
    assert prog["code"] == "executable-needs-libpython" and prog["severity"] == "error"
    assert "is a program that embeds Python" in prog["message"]
    assert "link libpython statically" in prog["fix"] and "allow" in prog["fix"]
    assert "nolibpython repair" not in prog["fix"]
    # control: the module beside it keeps the module verdict and the repair advice
    assert [p["code"] for p in probs[f"probe/_bad{EXT}"]][0] == "needs-libpython"
    assert "nolibpython repair" in probs[f"probe/_bad{EXT}"][0]["fix"]
    assert doc["targets"][0]["summary"].endswith(
        "1 violates the no-libpython rule, 1 program embeds Python through libpython")


def test_frozen_host_judges_its_modules(frozen_app: Dict[str, Path]) -> None:
    doc = check_doc(frozen_app["wheel"])
    probs = problems_of(doc)
    notes = " ".join(doc["targets"][0]["notes"])
    assert "app/host is a program that statically embeds CPython" in notes
    # The module the host serves passes: one warning that only the host defines its symbol
    # (an import in the interpreter would fail), and no advice to "link" a program.
    (uses,) = probs[f"app/lib/_uses_host{EXT}"]
    assert (uses["code"], uses["severity"], uses["detail"]) == ("host-only-symbol", "warning", "host_api_answer")
    assert not any("link host" in p["fix"] for ps in probs.values() for p in ps)
    # Control: a symbol nobody defines is still an error, and the message names the host.
    (typo,) = [p for p in probs[f"app/lib/_typo{EXT}"] if p["detail"] == "host_api_answr"]
    assert typo["severity"] == "error" and "the wheel's Python host (app/host)" in typo["message"]
    assert probs["app/host"] == []  # the host itself: no embedded-runtime or libpython verdict
    # What really happens: the host imports the good module and runs it; the typo fails as predicted.
    lib = frozen_app["dir"]
    env = {"PYTHONHOME": sys.base_prefix, "PYTHONPATH": str(lib)}
    ok = run([frozen_app["host"], "-c", "import _uses_host; print(_uses_host.answer())"], env=env)
    assert ok.stdout.strip() == "42", ok.stderr
    bad = run([frozen_app["host"], "-c", "import _typo"], env=env)
    assert "undefined symbol: host_api_answr" in bad.stderr


def test_program_never_offered_as_a_library(frozen_app: Dict[str, Path], tmp_path: Path) -> None:
    """A module needing a symbol only a program (not a host) defines: no 'link <program>' fix."""
    (tmp_path / "tool.c").write_text("long tool_only(void) { return 1; }\nint main(void) { return 0; }\n")
    tool = tmp_path / "tool"
    gcc(["-O0", tmp_path / "tool.c", "-Wl,-E", "-o", tool])
    mod = module(tmp_path, "_needs_tool", decl="long tool_only(void);", value="tool_only()")
    wheel = make_wheel(tmp_path / f"t-1.0-{PY_TAG}-{PY_TAG}-linux_x86_64.whl",
                       {"t/tool": tool.read_bytes(), f"t/_needs_tool{EXT}": mod.read_bytes()},
                       f"{PY_TAG}-{PY_TAG}-linux_x86_64")
    probs = problems_of(check_doc(wheel))[f"t/_needs_tool{EXT}"]
    (p,) = [p for p in probs if p["detail"] == "tool_only"]
    assert p["severity"] == "error" and "link tool" not in p["fix"]
    # Control: the same symbol in a shared library of the wheel is offered (with its warning).
    lib = tmp_path / "libtool.so"
    gcc(["-shared", "-fPIC", tmp_path / "tool.c", "-Wl,-soname,libtool.so", "-o", lib])
    wheel2 = make_wheel(tmp_path / f"t2-1.0-{PY_TAG}-{PY_TAG}-linux_x86_64.whl",
                        {"t/libtool.so": lib.read_bytes(), f"t/_needs_tool{EXT}": mod.read_bytes()},
                        f"{PY_TAG}-{PY_TAG}-linux_x86_64")
    probs2 = problems_of(check_doc(wheel2))[f"t/_needs_tool{EXT}"]
    assert any("link libtool.so" in p["fix"] for p in probs2)
