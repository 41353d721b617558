import nolibpython_demo


def test_add() -> None:
    assert nolibpython_demo.add(2, 40) == 42


def test_runtime_is_the_loading_interpreter() -> None:
    import sys

    assert nolibpython_demo.runtime_version() == sys.version
