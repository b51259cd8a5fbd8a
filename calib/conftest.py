"""Doctests run where a user would run them: in a folder holding a small demo world.

(pytest reads this file for the doctests of ``calib``; the tests have their own
``tests/conftest.py``, and what both share, such as a data-set cache folder of the run's
own, is in the ``conftest.py`` at the top of the repository.)

The examples in calib's docstrings read ``calib-demo/data`` and ``calib-demo/*.toml`` as
the README's quickstart writes them; here a 2,000-lead demo world is written once per test
run, and every doctest runs with that folder as its working directory.
"""

import pytest


@pytest.fixture(scope="session")
def _doctest_home(tmp_path_factory):
    from calib.demo import generate_demo

    home = tmp_path_factory.mktemp("doctest-home")
    generate_demo(home / "calib-demo", n_leads=2000, seed=1)
    return home


@pytest.fixture(autouse=True)
def _doctest_in_demo_folder(request, monkeypatch):
    if type(request.node).__name__ == "DoctestItem":
        monkeypatch.chdir(request.getfixturevalue("_doctest_home"))
