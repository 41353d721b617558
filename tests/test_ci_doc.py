"""docs/ci.md as it stands: its YAML jobs parse and run its gate; the gate's exit status
and report are what the page says.

The gate commands are taken from the page's one ```sh block and run with bash in a
directory whose ``dist/`` holds real wheels: a clean one from the index (lxml), a wheel
whose module gcc linked against libpython, and nothing at all. The ``pip install``
line is the one command not run: the package is not on the index yet, so this venv's
``nolibpython`` (this checkout) stands in for it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import elfgen
import jsonschema
import pytest
from support import REPO, download_wheel, require, run
from support.cipage import INSTALL, REPORT, gate_lines

SCHEMA = json.loads((REPO / "docs" / "check-json-schema.json").read_text())


@pytest.fixture(scope="module")
def linked_wheel(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A wheel whose extension module gcc linked against this interpreter's libpython."""
    require(shutil.which("gcc"), "gcc is needed to build the module", apt=["gcc"])
    libdir = str(sysconfig.get_config_var("LIBDIR"))
    ldversion = str(sysconfig.get_config_var("LDVERSION"))
    require(os.path.exists(os.path.join(libdir, f"libpython{ldversion}.so")),
            "this interpreter has no shared libpython to link against")
    d = tmp_path_factory.mktemp("linked")
    (d / "m.c").write_text("int probe_answer(void) { return 42; }\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(d / "m.so"), str(d / "m.c"), f"-L{libdir}",
                    "-Wl,--no-as-needed", f"-lpython{ldversion}"], check=True)
    return elfgen.make_wheel({"probe/__init__.py": b"", "probe/_ext.so": (d / "m.so").read_bytes()})


def run_gate(work: Path) -> "subprocess.CompletedProcess[str]":
    script = "\n".join(line for line in gate_lines() if line != INSTALL)
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return run(["bash", "-e", "-c", script], cwd=work, env=env)


def test_gate_passes_a_clean_wheel(tmp_path: Path) -> None:
    (tmp_path / "dist").mkdir()
    shutil.copy2(download_wheel("lxml"), tmp_path / "dist")
    proc = run_gate(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads((tmp_path / REPORT).read_text())
    jsonschema.validate(doc, SCHEMA)
    assert doc["ok"] is True and doc["exit_status"] == 0 and doc["totals"]["files"] > 0


def test_gate_fails_a_wheel_that_links_libpython(tmp_path: Path, linked_wheel: bytes) -> None:
    (tmp_path / "dist").mkdir()
    shutil.copy2(download_wheel("lxml"), tmp_path / "dist")
    (tmp_path / "dist" / "probe-1.0-cp311-cp311-linux_x86_64.whl").write_bytes(linked_wheel)
    proc = run_gate(tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = json.loads((tmp_path / REPORT).read_text())
    jsonschema.validate(doc, SCHEMA)
    assert doc["ok"] is False and doc["exit_status"] == 1 and doc["totals"]["violation"] == 1
    bad = [f for t in doc["targets"] for f in t["files"] if f["verdict"] == "violation"]
    assert [f["path"] for f in bad] == ["probe/_ext.so"]
    assert "needs-libpython" in {p["code"] for p in bad[0]["problems"]}
    # The "explain" step: one human line naming the file and the fix.
    human = run([Path(sys.executable).parent / "nolibpython", "check", *sorted((tmp_path / "dist").glob("*.whl"))])
    assert human.returncode == 1
    assert re.search(r"probe/_ext\.so: violation: .*needs libpython.*; fix: ", human.stdout), human.stdout


def test_gate_fails_when_nothing_was_built(tmp_path: Path) -> None:
    (tmp_path / "dist").mkdir()
    proc = run_gate(tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "nolibpython: error: dist/*.whl: no such file or directory"
    assert (tmp_path / REPORT).read_text() == ""
