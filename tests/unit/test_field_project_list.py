"""A bad field-trial project list (field/projects.toml format) is one line naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from field import common as field


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[sdist]]\nname = 'x'\nversion = '1.0'\nsmoke = 'pass'\nexercises = ['plain C']\nbogus = 1\n",
         "unknown key(s) bogus"),
        ("[[sdist]]\nname = 'x'\nversion = '>=1'\nsmoke = 'pass'\nexercises = []\n", "is not an exact version"),
        ("[[sdist]]\nname = 'x'\nversion = '1'\nsmoke = 'pass'\nexercises = ['Fortran']\n",
         "unknown exercise 'Fortran'"),
        ("[[wheel]]\nfile = 'x.tar.gz'\n", "'file' must be a wheel file name"),
        ("[[sdist\n", "Expected"),
    ],
)
def test_bad_project_list_is_one_line_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    bad = tmp_path / "projects.toml"
    bad.write_text(text)
    with pytest.raises(field.FieldError) as exc:
        field.load_projects(bad)
    assert str(exc.value).startswith(str(bad)) and message in str(exc.value) and "\n" not in str(exc.value)
