"""Every public function of calib shows its use: a numpydoc ``Examples`` section whose
example runs (the doctests run it against a demo world), not one marked to be skipped."""

import doctest
import inspect
import re

import pytest

import calib

FUNCTIONS = [n for n in calib.__all__ if inspect.isfunction(getattr(calib, n))]


def test_the_public_functions_are_found():
    assert {"replay", "sweep", "load_dataset", "load_rules", "compare_rules",
            "run_experiment", "load_experiment", "score_as_of"} <= set(FUNCTIONS)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_a_public_function_has_an_examples_section_that_runs(name):
    doc = inspect.getdoc(getattr(calib, name)) or ""
    m = re.search(r"^Examples\n-{8,}\n(.*?)(?=^\S[^\n]*\n-{3,}\n|\Z)", doc, re.M | re.S)
    assert m, f"calib.{name} has no Examples section"
    examples = doctest.DocTestParser().get_examples(m.group(1))
    assert examples, f"calib.{name}'s Examples section has no >>> example"
    running = [ex for ex in examples if not ex.options.get(doctest.SKIP)]
    assert running, f"calib.{name}'s examples are all skipped"
