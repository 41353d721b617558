"""The finding catalogue (setuptools_nolibpython/findings.py) is the one home of codes,
severities and wording: the documents that list the codes are generated from it, and no
other module words a finding. Fast: no compiler, no run."""

from __future__ import annotations

import ast
import importlib.util
import json
from types import ModuleType

import pytest
from support import REPO

from setuptools_nolibpython.findings import Code, Problem, Severity


def _gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_findings", REPO / "scripts" / "gen_findings.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_documents_list_exactly_the_catalogues_codes() -> None:
    gen = _gen()
    assert gen.main(["--check"]) == 0, "run scripts/gen_findings.py"
    schema = json.loads(gen.SCHEMA.read_text())
    problem = schema["$defs"]["problem"]["properties"]
    assert problem["code"]["enum"] == [c.value for c in Code]
    assert problem["severity"]["enum"] == [s.value for s in Severity]
    table = gen.CATALOGUE.read_text().split(gen.BEGIN, 1)[1].split(gen.END, 1)[0]
    assert [line.split("`")[1] for line in table.strip().splitlines()[2:]] == [c.value for c in Code]


def test_a_document_that_drifts_is_caught() -> None:
    """Negative control: a schema missing one code, or a table missing one row, differs."""
    gen = _gen()
    schema = json.loads(gen.SCHEMA.read_text())
    schema["$defs"]["problem"]["properties"]["code"]["enum"].remove(Code.HOST_ONLY_SYMBOL.value)
    drifted = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    assert gen.schema_text(drifted) != drifted
    page = gen.CATALOGUE.read_text()
    row = next(line for line in page.splitlines() if line.startswith(f"| `{Code.STABLE_ABI.value}`"))
    short = page.replace(row + "\n", "")
    assert gen.messages_text(short) != short and gen.messages_text(short) == page


def test_only_the_catalogue_words_a_finding() -> None:
    """No module but findings.py builds a Problem: wording added elsewhere would escape
    the catalogue (and its generated documents)."""
    builders = []
    for path in sorted((REPO / "setuptools_nolibpython").glob("*.py")):
        if path.name == "findings.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "Problem":
                builders.append(f"{path.name}:{node.lineno}")
    assert builders == []


def test_severity_and_code_read_as_their_json_strings() -> None:
    assert Severity.from_config("warn") is Severity.WARNING and Severity.from_config("error") is Severity.ERROR
    with pytest.raises(ValueError):
        Severity.from_config("warning")  # the config says "warn"; the finding says "warning"
    p = Problem(Code.MISSING_LIBRARY, Severity.WARNING, "m", "f", "d")
    assert (p.code.value, p.severity.value) == ("missing-library", "warning")
    assert p.code == "missing-library" and p.severity == "warning"  # old string comparisons still hold
    assert all(c.meaning and c.severities for c in Code)
