"""The public API: every name in ``calib.__all__`` imports in a fresh interpreter."""

import subprocess
import sys

import calib


def test_every_public_name_imports_in_a_fresh_interpreter():
    code = ("import calib, inspect\n"
            "for n in calib.__all__:\n"
            "    obj = getattr(calib, n)\n"
            "    assert not inspect.ismodule(obj), n\n"
            "print(len(calib.__all__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == len(calib.__all__)


def test_an_unknown_name_is_an_attribute_error():
    try:
        calib.no_such_thing  # noqa: B018
    except AttributeError as e:
        assert "no_such_thing" in str(e)
    else:
        raise AssertionError("calib.no_such_thing did not raise")


def test_a_public_function_imported_by_name_is_the_function():
    # the live-test analysis lives in the subpackage calib.abtest, which is no public
    # function name: importing the subpackage first changes nothing at the top
    for first in ("import calib.abtest.plan", "import calib"):
        code = ("import inspect\n"
                f"{first}\n"
                "from calib import sweep, replay, compare_rules\n"
                "import calib\n"
                "assert all(inspect.isfunction(f) for f in (sweep, replay, compare_rules))\n"
                "assert 'abtest' not in calib.__all__\n"
                "from calib.abtest import abtest, plan_test\n"
                "assert inspect.isfunction(abtest) and inspect.isfunction(plan_test)\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert out.returncode == 0, (first, out.stderr)
