"""``python -m setuptools_nolibpython``: the checker/repair CLI."""

from .cli import main

raise SystemExit(main())
