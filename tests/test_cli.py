"""The command line: help, JSON, exit codes, errors without tracebacks, nothing written
on failure."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from calib.cli.main import COMMANDS, build_parser, main
from small_world import LEADS, OUTCOMES, write_dataset


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_help_lists_commands_with_examples(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for name in COMMANDS:
        assert name in text
    for name in COMMANDS:
        with pytest.raises(SystemExit):
            main([name, "--help"])
        assert "example:" in capsys.readouterr().out


def test_python_dash_m_works():
    r = subprocess.run([sys.executable, "-m", "calib", "--version"], capture_output=True,
                       text=True)
    assert r.returncode == 0 and r.stdout.startswith("calib ")


def test_bad_usage_exits_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["replay"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["nonsense"])
    assert e.value.code == 2


def test_validate_json_is_one_object(capsys, small_data):
    code, out, err = run(capsys, "validate", str(small_data), "--json")
    assert code == 0
    d = json.loads(out)
    assert d["leads"] == 4 and d["event_types"]["email_open"] == 2
    assert d["outcome_types"] == {"meeting": 2, "won": 1}


def test_replay_json_keys(capsys, small_data, small_rules, tmp_path):
    out_file = tmp_path / "leads.csv"
    code, out, err = run(capsys, "replay", str(small_data), "--rules", str(small_rules),
                         "--json", "--leads-out", str(out_file))
    assert code == 0, err
    d = json.loads(out)
    for key in ("rules", "leads", "period_start", "period_end", "mql", "sql", "coverage",
                "outcomes"):
        assert key in d
    assert set(d["mql"]) >= {"count", "per_week", "median_days_to_mql"}
    assert set(d["outcomes"]["meeting"]) >= {"hits", "late", "misses", "immature", "rate",
                                            "ci_low", "ci_high", "recall"}
    assert out_file.exists()


@pytest.mark.parametrize("change, fragment", [
    ({"outcomes": OUTCOMES.replace(",1000", ",-5")}, "negative"),
    ({"leads": LEADS.replace("2025-01-05", "someday")}, "someday"),
    ({"leads": LEADS + "L1,2025-03-01T00:00:00Z,ic,5,retail\n"}, "L1"),
])
def test_data_errors_exit_1_without_traceback_and_write_nothing(capsys, tmp_path, small_rules,
                                                                  change, fragment):
    folder = write_dataset(tmp_path / "bad", **{"leads": LEADS, "outcomes": OUTCOMES, **change})
    out_file = tmp_path / "leads.csv"
    code, out, err = run(capsys, "replay", str(folder), "--rules", str(small_rules),
                         "--leads-out", str(out_file))
    assert code == 1
    assert "Traceback" not in err and fragment in err
    assert out == ""
    assert not out_file.exists()


@pytest.mark.parametrize("rules_text, fragment", [
    ('name = "x"\n[thresholds]\nmql = 50\nsql = 40\n', "sql"),
    ('name = "x"\n[thresholds]\nmql = 50\n[decay]\nkind = "exponential"\nhalf_life_days = -5\n',
     "half_life_days"),
    ('name = "x"\n[thresholds]\nmql = 50\n[[behavior]]\nevent = "a"\npoints = "ten"\n', "points"),
    ('name = "x"\n[thresholds]\nmql = 50\n[[fit]]\nfield = "nope"\nequals = 1\npoints = 5\n',
     "nope"),
])
def test_rule_errors_exit_1(capsys, small_data, tmp_path, rules_text, fragment):
    p = tmp_path / "bad.toml"
    p.write_text(rules_text, encoding="utf-8")
    code, out, err = run(capsys, "replay", str(small_data), "--rules", str(p), "--json")
    assert code == 1 and out == ""
    assert "Traceback" not in err
    assert fragment in err and str(p) in err  # names the key and the file


def test_debug_shows_traceback(capsys, small_data, tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('name = "x"\n[thresholds]\nmql = 50\nsql = 40\n', encoding="utf-8")
    code, _, err = run(capsys, "replay", str(small_data), "--rules", str(p), "--debug")
    assert code == 1 and "Traceback" in err


def test_parser_builds():
    assert build_parser().prog == "calib"
