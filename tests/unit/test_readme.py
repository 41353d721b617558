"""README is for users, read top-down: short, the two set-up commands with their times
near the top, then the sections in the order a user needs them. Contributor material and
the message catalogue live elsewhere (CONTRIBUTING.md, docs/messages.md)."""

from __future__ import annotations

import re

from support import REPO

#: The order a user reads (issue 23): using it, configuration, the CLI, other backends,
#: fixing an installed environment, known limits, supported versions.
ORDER = ("## Using it", "### Configuration", "## Checking and repairing wheels", "## Other build backends",
         "## Fixing an installed environment", "## Known limits", "## Supported versions")


def headings(text: str) -> "list[str]":
    return [line for line in text.splitlines() if line.startswith("#")]


def positions(text: str) -> "list[int]":
    found = headings(text)
    return [next((i for i, h in enumerate(found) if h.startswith(p)), -1) for p in ORDER]


def test_readme_is_short_and_in_a_users_order() -> None:
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) < 250
    where = positions(text)
    assert -1 not in where and where == sorted(where), list(zip(ORDER, where))
    top = text.split("## Using it", 1)[0]
    for command in ("make demo", "make test"):  # near the top, each with a measured time
        assert re.search(rf"^{command}\s+#.*\b\d+ (s|min)\b", top, re.M), command
    assert "not on PyPI yet" in text and "--find-links" in text and "pip install setuptools-nolibpython" in text
    # Contributor material and the generated catalogue are elsewhere.
    for elsewhere in ("<!-- layers:begin", "<!-- messages:begin", "## Architecture", "apt-get install -y"):
        assert elsewhere not in text, elsewhere


def test_order_check_sees_a_swap() -> None:
    """Control: swapping two sections breaks the order."""
    text = (REPO / "README.md").read_text()
    swapped = text.replace("## Known limits", "## @@").replace("## Supported versions", "## Known limits")
    swapped = swapped.replace("## @@", "## Supported versions")
    where = positions(swapped)
    assert where != sorted(where)
