"""Hostile input against every command: each case runs the real command line in-process
on a copy of a small demo world and checks the exit code (1 for a bad file or value, 2
for bad usage), an error message naming the file, column, row or option, never an
"internal error" or a traceback, every input file byte for byte unchanged, and no
temporary file left behind.

The README's reliability table counts these cases: ``python -m pytest tests/test_hostile.py``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from calib.cli.main import main
from calib.report.render import MARKER


@pytest.fixture(scope="module")
def world_template(tmp_path_factory):
    from calib.demo import generate_demo

    root = tmp_path_factory.mktemp("hostile") / "w"
    generate_demo(root, n_leads=300, seed=1, fmt="csv")
    return root


@pytest.fixture
def world(world_template, tmp_path):
    w = tmp_path / "w"
    shutil.copytree(world_template, w, symlinks=True)
    return w


def checksums(root: Path) -> dict:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def leftovers(root: Path) -> list:
    return [str(p) for p in root.rglob(".*") if re.search(r"\.calib-\d+-", p.name)
            or p.name.endswith((".tmp", ".old", ".partitioning"))]


# ---------------------------------------------------------------- preparations
def edit_csv(table, fn):
    def prep(w):
        p = w / "data" / f"{table}.csv"
        df = pd.read_csv(p, dtype=str, keep_default_na=False)
        fn(df).to_csv(p, index=False)
    return prep


def set_cell(table, column, row, value):
    def fn(df):
        df.loc[row, column] = value
        return df
    return edit_csv(table, fn)


def write(rel, text):
    def prep(w):
        p = w / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return prep


def write_bytes(rel, data):
    def prep(w):
        (w / rel).write_bytes(data)
    return prep


def replace_in(rel, old, new):
    def prep(w):
        p = w / rel
        text = p.read_text(encoding="utf-8")
        assert old in text, (rel, old)
        p.write_text(text.replace(old, new, 1), encoding="utf-8")
    return prep


def append_to(rel, text):
    def prep(w):
        with open(w / rel, "a", encoding="utf-8") as f:
            f.write(text)
    return prep


def both(*preps):
    def prep(w):
        for p in preps:
            p(w)
    return prep


def stale_parquet(w):
    df = pd.read_csv(w / "data" / "leads.csv", dtype=str)
    df.head(10).to_parquet(w / "data" / "leads.parquet", index=False)


def float_timestamps(w):
    df = pd.read_csv(w / "data" / "leads.csv", dtype=str)
    (w / "data" / "leads.csv").unlink()
    df["created_at"] = pd.to_datetime(df["created_at"]).astype("int64") / 1e9
    df.to_parquet(w / "data" / "leads.parquet", index=False)


def dir_named_leads(w):
    (w / "data" / "leads.csv").unlink()
    (w / "data" / "leads.csv").mkdir()


def duplicate_header(w):
    p = w / "data" / "leads.csv"
    lines = p.read_text().splitlines()
    lines[0] = lines[0].replace("seniority", "lead_id")
    p.write_text("\n".join(lines) + "\n")


def symlink(rel, target_rel):
    def prep(w):
        (w / rel).symlink_to(w / target_rel)
    return prep


def hardlink(rel, target_rel):
    def prep(w):
        os.link(w / target_rel, w / rel)
    return prep


def occupied_report(w):
    (w / "rep").mkdir()
    (w / "rep" / MARKER).write_text("another\n")
    (w / "rep" / "report.md").write_text("# another\n")


def foreign_folder(w):
    (w / "rep").mkdir()
    (w / "rep" / "notes.txt").write_text("mine\n")


def report_link(w):
    (w / "real").mkdir()
    (w / "rep").symlink_to(w / "real")
    (w / "real" / "notes.txt").write_text("mine\n")


def partitioned(w):
    from calib.distributed.partitions import partition_dataset

    partition_dataset(w / "data", w / "parts", 2)


RUN = "run W/experiment.toml"
D = "D"
R = "--rules W/current.toml"
SW = f"sweep {D} {R} --grid W/grid.toml"

# id, argv (W: world folder, D: its data folder), exit code, words the message must
# contain (case-insensitive), preparation, whether calib may compute anything
CASES = [
    # -- outputs that would overwrite an input (SPEC: input files are never modified)
    ("fit-out-is-rules", f"fit {D} {R} --out W/current.toml", 1, ["--out", "current.toml", "input"], None),
    ("score-out-is-leads", f"score {D} {R} --as-of 2026-06-30 --out D/leads.csv", 1, ["--out", "leads.csv"], None),
    ("replay-leads-out-is-events", f"replay {D} {R} --leads-out D/events.csv", 1, ["--leads-out", "events.csv"], None),
    ("sweep-out-is-outcomes", f"{SW} --out D/outcomes.csv", 1, ["--out", "outcomes.csv"], None),
    ("sweep-out-shadows-leads", f"{SW} --out D/leads.parquet", 1, ["--out", "leads.parquet"], None),
    ("calibrate-map-out-is-outcomes", f"calibrate {D} {R} --map-out D/outcomes.csv", 1, ["--map-out", "outcomes.csv"], None),
    ("compare-leads-out-is-leads", f"compare {D} {R} --rules W/truth.toml --leads-out D/leads.csv", 1, ["--leads-out", "leads.csv"], None),
    ("abtest-out-is-assignments", f"abtest {D} --out D/assignments.csv", 1, ["--out", "assignments.csv"], None),
    ("abtest-looks-out-is-assignments", f"abtest {D} --looks-out D/assignments.csv", 1, ["--looks-out", "assignments.csv"], None),
    ("assign-out-is-existing", f"assign {D} --experiment x --arms a=0.5,b=0.5 --existing D/assignments.csv --out D/assignments.csv", 1, ["--out", "assignments.csv"], None),
    ("assign-out-is-existing-elsewhere", f"assign {D} --experiment x --arms a=0.5,b=0.5 --existing W/prev.csv --out W/prev.csv", 1, ["--out", "prev.csv", "input"], write("prev.csv", "lead_id,arm\nL0000001,a\n")),
    ("fit-curve-out-is-leads", f"fit {D} {R} --out W/p.toml --curve-out D/leads.csv", 1, ["--curve-out", "leads.csv"], None),
    ("fit-out-is-grid-of-nothing", f"fit {D} {R} --out D/outcomes.csv", 1, ["--out", "outcomes.csv"], None),
    ("replay-leads-out-symlink-to-input", f"replay {D} {R} --leads-out W/link.csv", 1, ["--leads-out", "link.csv"], symlink("link.csv", "data/leads.csv")),
    ("replay-leads-out-hardlink-to-input", f"replay {D} {R} --leads-out W/hard.csv", 1, ["--leads-out", "hard.csv", "input"], hardlink("hard.csv", "data/leads.csv")),
    ("replay-leads-out-dotted-path", f"replay {D} {R} --leads-out D/../data/./events.csv", 1, ["--leads-out", "events.csv"], None),
    ("calibrate-map-out-json", f"calibrate {D} {R} --map-out W/map.json", 1, ["--map-out", "map.json", ".csv"], None),
    ("fit-out-not-toml", f"fit {D} {R} --out W/proposed.txt", 1, ["--out", "proposed.txt", ".toml"], None),
    ("replay-leads-out-no-folder", f"replay {D} {R} --leads-out W/nope/x.csv", 1, ["--leads-out", "nope", "does not exist"], None),
    ("score-out-is-folder", f"score {D} {R} --as-of 2026-06-30 --out D", 1, ["--out", "folder"], None),
    ("run-out-is-data", f"{RUN} --out D", 1, ["report folder", "input"], None),
    ("run-out-holds-experiment-force", f"{RUN} --out W --force", 1, ["report folder", "experiment.toml"], None),
    ("run-out-occupied", f"{RUN} --out W/rep", 1, ["W/rep", "another"], occupied_report),
    ("run-out-foreign", f"{RUN} --out W/rep", 1, ["W/rep", "did not write"], foreign_folder),
    ("run-out-link-to-foreign", f"{RUN} --out W/rep", 1, ["real", "did not write"], report_link),
    ("run-out-dangling-link", f"{RUN} --out W/rep", 1, ["W/rep", "does not exist"], lambda w: (w / "rep").symlink_to(w / "gone")),
    ("run-out-is-file", f"{RUN} --out W/truth.json", 1, ["truth.json", "not a folder"], None),
    ("demo-out-not-empty", "demo --out D --no-run", 1, ["data", "not empty"], None),
    ("partition-out-is-data", f"partition {D} --out D --partitions 2", 1, ["data"], None),
    ("import-over-its-source", "import generic W/imp/leads.csv --out W/imp --force", 1, ["--out", "leads.csv", "input"], lambda w: (w / "imp").mkdir() or shutil.copy(w / "data" / "leads.csv", w / "imp")),
    ("import-into-source-folder", "import olist D --out D --force", 1, ["--out", "leads.csv", "input"], None),
    # -- silent choices
    ("leads-csv-and-parquet", f"validate {D}", 1, ["leads.csv", "leads.parquet"], stale_parquet),
    ("duplicate-header", f"validate {D}", 1, ["leads", "lead_id", "twice"], duplicate_header),
    ("holdout-maybe", f"fit {D} {R} --out W/p.toml", 1, ["exploration_holdout", "maybe", "L0000004"], set_cell("leads", "exploration_holdout", 3, "maybe")),
    ("holdout-blank", f"fit {D} {R} --out W/p.toml", 1, ["exploration_holdout", "blank", "L0000008"], set_cell("leads", "exploration_holdout", 7, "")),
    ("start-after-data", f"replay {D} {R} --start 2031-01-01", 1, ["--start", "2031-01-01", "no lead"], None),
    ("partitioned-start-after-data", f"replay W/parts {R} --start 2031-01-01", 1, ["--start", "2031-01-01", "no lead"], partitioned),
    ("end-before-data", f"replay {D} {R} --end 1999-01-01", 1, ["--end", "no lead"], None),
    ("start-not-iso-ambiguous", f"replay {D} {R} --start 01/06/2026", 1, ["--start", "01/06/2026", "ISO"], None),
    ("as-of-day-first", f"score {D} {R} --as-of 30/06/2026", 1, ["--as-of", "30/06/2026"], None),
    ("as-of-month-first", f"score {D} {R} --as-of 01/06/2026", 1, ["--as-of", "01/06/2026"], None),
    ("as-of-before-data", f"score {D} {R} --as-of 1990-01-01", 1, ["--as-of", "1990-01-01", "no lead"], None),
    ("as-of-year-2999", f"score {D} {R} --as-of 2999-01-01", 1, ["--as-of", "2999"], None),
    ("assign-start-after-data", f"assign {D} --experiment x --arms a=0.5,b=0.5 --start 2099-01-01", 1, ["--start", "2099-01-01", "no lead"], None),
    ("end-before-start", f"replay {D} {R} --start 2026-02-01 --end 2026-01-01", 1, ["--end", "--start"], None),
    # -- numbers that break
    ("points-1e308", f"replay {D} --rules W/huge.toml", 1, ["huge.toml", "points"], write("huge.toml", 'name = "h"\n[thresholds]\nmql = 50\n[[behavior]]\nevent = "email_open"\npoints = 1e308\n')),
    ("points-nan", f"replay {D} --rules W/nan.toml", 1, ["nan.toml", "points"], write("nan.toml", 'name = "h"\n[thresholds]\nmql = 50\n[[behavior]]\nevent = "email_open"\npoints = nan\n')),
    ("threshold-inf", f"replay {D} --rules W/inf.toml", 1, ["inf.toml", "mql"], write("inf.toml", 'name = "h"\n[thresholds]\nmql = inf\n[[behavior]]\nevent = "email_open"\npoints = 5\n')),
    ("capacity-nan-experiment", RUN, 1, ["experiment.toml", "capacity_mql_per_week"], replace_in("experiment.toml", "capacity_mql_per_week = 1", "capacity_mql_per_week = nan")),
    ("window-inf-experiment", RUN, 1, ["experiment.toml", "window_days"], replace_in("experiment.toml", "window_days = 90", "window_days = inf")),
    ("window-huge-experiment", RUN, 1, ["experiment.toml", "window_days", "36,500"], replace_in("experiment.toml", "window_days = 90", "window_days = 1e9")),
    ("train-until-soon", RUN, 1, ["experiment.toml", "train_until", "soon"], replace_in("experiment.toml", 'train_until = "2026-01-01"', 'train_until = "soon"')),
    ("report-bootstrap-text", RUN, 1, ["experiment.toml", "bootstrap"], append_to("experiment.toml", 'bootstrap = "many"\n')),
    ("report-bootstrap-huge", RUN, 1, ["experiment.toml", "bootstrap"], append_to("experiment.toml", "bootstrap = 1000000000\n")),
    ("fit-train-until-soon", f"fit {D} {R} --out W/p.toml --train-until soon", 1, ["train", "soon"], None),
    ("sweep-capacity-0", f"{SW} --capacity 0", 2, ["--capacity"], None),
    ("sweep-capacity-nan", f"{SW} --capacity nan", 2, ["--capacity"], None),
    ("sweep-capacity-negative", f"{SW} --capacity -3", 2, ["--capacity"], None),
    ("sweep-top-0", f"{SW} --top 0", 2, ["--top"], None),
    ("window-days-inf", f"replay {D} {R} --window-days inf", 2, ["--window-days"], None),
    ("window-days-nan", f"replay {D} {R} --window-days nan", 2, ["--window-days"], None),
    ("window-days-zero", f"replay {D} {R} --window-days 0", 2, ["--window-days"], None),
    ("window-days-text", f"replay {D} {R} --window-days ninety", 2, ["--window-days"], None),
    ("fit-capacity-nan", f"fit {D} {R} --out W/p.toml --capacity nan", 2, ["--capacity"], None),
    ("fit-horizon-inf", f"fit {D} {R} --out W/p.toml --horizon-days inf", 2, ["--horizon-days"], None),
    ("calibrate-bins-0", f"calibrate {D} {R} --bins 0", 2, ["--bins"], None),
    ("calibrate-every-days-0", f"calibrate {D} {R} --every-days 0", 2, ["--every-days"], None),
    ("compare-bootstrap-huge", f"compare {D} {R} --rules W/truth.toml --bootstrap 1000000000", 2, ["--bootstrap"], None),
    ("compare-bootstrap-negative", f"compare {D} {R} --rules W/truth.toml --bootstrap -1", 2, ["--bootstrap"], None),
    ("partition-huge", f"partition {D} --out W/parts --partitions 100000", 2, ["--partitions"], None),
    ("partition-more-than-leads", f"partition {D} --out W/parts --partitions 1000", 1, ["--partitions", "300"], None),
    ("partition-zero", f"partition {D} --out W/parts --partitions 0", 2, ["--partitions"], None),
    ("abtest-tau-nan", f"abtest {D} --tau nan", 2, ["--tau"], None),
    ("abtest-alpha-big", f"abtest {D} --alpha 1.5", 2, ["--alpha"], None),
    ("plan-rate-big", "plan --baseline-rate 1.5 --mde 0.02", 2, ["--baseline-rate"], None),
    ("plan-power-nan", "plan --baseline-rate 0.1 --mde 0.02 --power nan", 2, ["--power"], None),
    ("assign-shares-over", f"assign {D} --experiment x --arms a=0.5,b=0.6", 1, ["--arms"], None),
    ("assign-shares-nan", f"assign {D} --experiment x --arms a=nan,b=0.5", 1, ["--arms"], None),
    # -- files calib cannot read
    ("year-9999", f"validate {D}", 1, ["leads", "created_at", "9999"], set_cell("leads", "created_at", 4, "9999-12-31T00:00:00Z")),
    ("year-1677", f"validate {D}", 1, ["events", "occurred_at", "1677"], set_cell("events", "occurred_at", 2, "1677-01-01T00:00:00Z")),
    ("parquet-float-timestamps", f"validate {D}", 1, ["leads", "created_at"], float_timestamps),
    ("dir-named-leads-csv", f"validate {D}", 1, ["leads.csv", "folder"], dir_named_leads),
    ("corrupt-parquet", f"validate {D}", 1, ["leads.parquet"], both(lambda w: (w / "data" / "leads.csv").unlink(), write_bytes("data/leads.parquet", b"PAR1 not really"))),
    ("not-utf8", f"validate {D}", 1, ["leads", "UTF-8"], write_bytes("data/leads.csv", "lead_id,created_at\nL\xe9,2025-01-01\n".encode("latin-1"))),
    ("empty-leads", f"validate {D}", 1, ["leads"], write_bytes("data/leads.csv", b"")),
    ("header-only-leads", f"validate {D}", 1, ["leads", "no rows"], write("data/leads.csv", "lead_id,created_at\n")),
    ("ragged-rows", f"validate {D}", 1, ["leads.csv", "line 302"], append_to("data/leads.csv", "L9999999,2025-01-01T00:00:00Z,a,b,c,d,e,f,g,h\n")),
    ("duplicate-lead", f"validate {D}", 1, ["leads", "L0000001"], append_to("data/leads.csv", "L0000001,2025-01-05T13:00:57Z,director,32,retail,GB,organic,false\n")),
    ("unknown-lead-in-events", f"validate {D}", 1, ["events", "NOPE"], append_to("data/events.csv", "NOPE,2025-01-01T00:00:00Z,email_open\n")),
    ("infinite-amount", f"validate {D}", 1, ["outcomes", "amount", "row=", "finite"], append_to("data/outcomes.csv", "L0000001,won,2025-03-01T00:00:00Z,1e309\n")),
    ("negative-amount", f"validate {D}", 1, ["outcomes", "amount"], append_to("data/outcomes.csv", "L0000001,won,2025-03-01T00:00:00Z,-5\n")),
    ("missing-data-folder", "validate W/nope", 1, ["nope"], None),
    ("rules-not-toml", f"replay {D} --rules W/bad.toml", 1, ["bad.toml"], write("bad.toml", "name = [unclosed\n")),
    ("rules-is-folder", f"replay {D} --rules D", 1, ["data"], None),
    ("grid-nan", f"sweep {D} {R} --grid W/g.toml", 1, ["g.toml"], write("g.toml", '"thresholds.mql" = [nan, 50]\n')),
    ("mapping-two-to-one", f"validate {D} --mapping W/m.toml", 1, ["m.toml", "lead_id", "created_at"], write("m.toml", '[columns.leads]\nlead_id = "lead_id"\ncreated_at = "lead_id"\n')),
    ("mapping-path-escape", f"validate {D} --mapping W/m.toml", 1, ["m.toml", "leads"], write("m.toml", '[files]\nleads = "../../../../etc/passwd"\n')),
    ("mapping-absolute-path", f"validate {D} --mapping W/m.toml", 1, ["m.toml", "leads"], write("m.toml", '[files]\nleads = "/etc/passwd"\n')),
    ("assignments-file-missing", f"abtest {D} --assignments W/none.csv", 1, ["none.csv"], None),
    ("assignments-no-arm", f"abtest {D} --assignments W/a.csv", 1, ["a.csv", "arm"], write("a.csv", "lead_id\nL0000001\n")),
    ("abtest-unknown-control", f"abtest {D} --control nobody", 1, ["nobody"], None),
]


def _argv(template: str, w: Path) -> list[str]:
    out = []
    for tok in template.split():
        if tok == "D" or tok.startswith("D/"):
            tok = str(w / "data") + tok[1:]
        elif tok == "W" or tok.startswith("W/"):
            tok = str(w) + tok[1:]
        out.append(tok)
    return out


def _message(words, w):
    return [str(w) + x[1:] if x.startswith("W/") else x for x in words]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_hostile_input(case, world, capsys, monkeypatch):
    _, template, code, words, prep = case
    if prep is not None:
        prep(world)
    import calib.pipeline.run as pipeline_run

    def no_compute(*a, **k):
        raise AssertionError("calib run computed before refusing")

    monkeypatch.setattr(pipeline_run, "run_experiment", no_compute)
    monkeypatch.chdir(world)
    before = checksums(world)
    argv = _argv(template, world)
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse usage errors
        rc = e.code
    err = capsys.readouterr().err
    assert rc == code, err
    assert "internal error" not in err and "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("calib") and "error:" in ln]
    assert len(lines) == 1, err
    for word in _message(words, world):
        assert word.lower() in err.lower(), (word, err)
    after = checksums(world)
    assert {k: v for k, v in after.items() if k in before} == before
    assert not leftovers(world)


OUTPUT_CHECKS = ("test_formula_names_are_neutralised_in_csv_headers_and_cells",
                 "test_symlinked_report_folder_is_followed_and_kept",
                 "test_markdown_report_escapes_pipes_and_html",
                 "test_neutralised_ids_and_crm_arm_names_round_trip",
                 "test_concurrent_writers_of_one_file_leave_one_complete_file",
                 "test_stale_temporaries_of_dead_writers_are_cleaned",
                 "test_output_guard_compares_real_files",
                 "test_sweep_capacity_below_every_row_says_so",
                 "test_compressed_tables_and_blank_header_names_still_load",
                 "test_text_in_a_number_column_is_a_warning_naming_the_lead",
                 "test_a_data_set_calib_wrote_keeps_its_lead_ids")


def test_sweep_capacity_below_every_row_says_so(world, capsys):
    (world / "low.toml").write_text('"thresholds.mql" = [1, 2]\n')
    assert main(["sweep", str(world / "data"), "--rules", str(world / "current.toml"),
                 "--grid", str(world / "low.toml"), "--capacity", "0.01"]) == 0
    out = capsys.readouterr().out
    assert "No configuration stays within 0.01 MQLs per week" in out
    assert "DataFrame" not in out


def test_text_in_a_number_column_is_a_warning_naming_the_lead(world, capsys):
    set_cell("leads", "employees", 3, "many")(world)
    assert main(["replay", str(world / "data"), "--rules", str(world / "current.toml")]) == 0
    got = capsys.readouterr()
    text = got.out + got.err  # the summary lists the warnings
    assert "warning:" in text and "'employees'" in text and "L0000004: 'many'" in text


ERROR_CHECKS = ("test_unreadable_table_is_one_clean_error",
                "test_unwritable_output_is_one_clean_error")


def test_readme_reliability_table_counts_this_file():
    assert len(CASES) >= 60
    assert all(callable(globals()[name]) for name in OUTPUT_CHECKS + ERROR_CHECKS)
    readme = Path(__file__).parent.parent / "README.md"
    if not readme.exists():
        pytest.skip("no README.md beside the tests")
    errors = len(CASES) + len(ERROR_CHECKS)
    row = f"| {errors + len(OUTPUT_CHECKS)} | {errors} | 0 | 0 | 0 |"
    assert row in readme.read_text(encoding="utf-8"), row


# ---------------------------------------------------------------- a world of awkward names
NASTY_OUTCOME = "=cmd|' /C calc'!A0"
ARMS = {"control": "Control Group", "strict": "Variant A"}


@pytest.fixture(scope="module")
def nasty_world(world_template, tmp_path_factory):
    """The demo world with lead ids starting =, +, -, @ (formula starts), arms named as
    CRMs name them, and an outcome whose name is a spreadsheet formula with a '|'."""
    w = tmp_path_factory.mktemp("nasty") / "w"
    shutil.copytree(world_template, w)
    data = w / "data"
    leads = pd.read_csv(data / "leads.csv", dtype=str, keep_default_na=False)
    ids = {x: "=+-@"[i % 4] + x for i, x in enumerate(leads["lead_id"])}
    for t in ("leads", "events", "outcomes", "assignments"):
        df = pd.read_csv(data / f"{t}.csv", dtype=str, keep_default_na=False)
        df["lead_id"] = df["lead_id"].map(ids)
        if t == "assignments":
            df["arm"] = df["arm"].map(ARMS)
        if t == "outcomes":
            extra = df[df["outcome"] == "meeting"].assign(outcome=NASTY_OUTCOME)
            df = pd.concat([df, extra])
        df.to_csv(data / f"{t}.csv", index=False)
    exp = (w / "experiment.toml").read_text()
    exp = exp.replace('control = "control"', 'control = "Control Group"')
    exp = exp.replace("outcomes = [", f"outcomes = [\n    {NASTY_OUTCOME!r},", 1)
    (w / "experiment.toml").write_text(exp)
    return w


@pytest.fixture(scope="module")
def nasty_run(nasty_world):
    """One full run of the awkward world into a report folder reached through a link."""
    (nasty_world / "real-reports").mkdir()
    (nasty_world / "rep").symlink_to(nasty_world / "real-reports")
    before = checksums(nasty_world / "data")
    assert main(["run", str(nasty_world / "experiment.toml"), "--out",
                 str(nasty_world / "rep")]) == 0
    assert checksums(nasty_world / "data") == before
    return nasty_world


def csv_cells(path: Path) -> list:
    import csv

    with open(path, newline="", encoding="utf-8") as f:
        return [c for row in csv.reader(f) for c in row]


def test_formula_names_are_neutralised_in_csv_headers_and_cells(nasty_run, tmp_path, capsys):
    w = nasty_run
    out = tmp_path / "sweep.csv"
    assert main(["sweep", str(w / "data"), "--rules", str(w / "current.toml"), "--grid",
                 str(w / "grid.toml"), "--out", str(out)]) == 0
    files = [out, *sorted((w / "rep" / "tables").glob("*.csv"))]
    header_hits = 0
    for f in files:
        header = csv_cells(f)[:1000]
        header_hits += sum("calc" in c for c in header)
        risky = [c for c in csv_cells(f) if c[:1] in ("=", "+", "@")
                 or (c[:1] == "-" and not c[1:2].isdigit() and c != "-")]
        assert not risky, (f.name, risky[:3])
    assert header_hits > 0  # the outcome does reach the headers, neutralised
    capsys.readouterr()


def test_symlinked_report_folder_is_followed_and_kept(nasty_run):
    w = nasty_run
    assert (w / "rep").is_symlink()
    assert (w / "real-reports" / "report.html").is_file()
    # a second run replaces the report through the link; nothing is left beside it
    stale = w / f".real-reports.calib-{2 ** 22 + 12345}-abc"  # a killed writer's leftover
    stale.mkdir()
    assert main(["run", str(w / "experiment.toml"), "--out", str(w / "rep")]) == 0
    assert (w / "rep").is_symlink() and (w / "real-reports" / "report.md").is_file()
    assert not stale.exists()
    assert [p.name for p in w.iterdir() if p.name.startswith(".")] == []


def test_markdown_report_escapes_pipes_and_html(nasty_run):
    md = (nasty_run / "rep" / "report.md").read_text(encoding="utf-8")
    rows = [ln for ln in md.splitlines() if "calc" in ln and ln.startswith("|")]
    assert rows
    for ln in rows:
        assert "cmd\\|'" in ln
        cells = [c for c in re.split(r"(?<!\\)\|", ln)[1:-1]]
        header = next(h for h in md.splitlines()[md.splitlines().index(ln)::-1]
                      if h.startswith("|") and "---" not in h and "calc" not in h)
        assert len(cells) == len(re.split(r"(?<!\\)\|", header)[1:-1])


def test_neutralised_ids_and_crm_arm_names_round_trip(nasty_world, tmp_path, capsys):
    w = nasty_world
    a1, a2 = tmp_path / "a1.csv", tmp_path / "a2.csv"
    arms = "Control Group=0.5,Variant A=0.3,contrôle=0.2"
    assert main(["assign", str(w / "data"), "--experiment", "x", "--arms", arms,
                 "--out", str(a1)]) == 0
    first = pd.read_csv(a1, dtype=str)
    assert first["lead_id"].str.startswith("'").sum() > 0  # guarded in the file
    assert main(["assign", str(w / "data"), "--experiment", "x", "--arms", arms,
                 "--existing", str(a1), "--out", str(a2)]) == 0
    second = pd.read_csv(a2, dtype=str)
    assert len(second) == len(first) == 300
    assert second.equals(first)
    capsys.readouterr()
    assert main(["abtest", str(w / "data"), "--assignments", str(a1), "--control",
                 "Control Group", "--json"]) == 0
    import json

    d = json.loads(capsys.readouterr().out)
    text = json.dumps(d, ensure_ascii=False)
    assert "Variant A" in text and "contrôle" in text


def test_a_data_set_calib_wrote_keeps_its_lead_ids(nasty_world, tmp_path, capsys):
    """Tables written as CSV by calib (as ``calib import`` does) guard ids like =L1; read
    back, they are the original ids, so the CRM's own assignment file still matches."""
    from calib.io import write_table

    src, out = nasty_world / "data", tmp_path / "copy"
    out.mkdir()
    for t in ("leads", "events", "outcomes", "assignments"):
        write_table(pd.read_csv(src / f"{t}.csv", dtype=str, keep_default_na=False),
                    out / f"{t}.csv")
    assert (out / "leads.csv").read_text().count("\n'") > 0  # guarded on disk
    assert main(["abtest", str(out), "--assignments", str(src / "assignments.csv"),
                 "--control", "Control Group", "--json"]) == 0
    assert "not in the data" not in capsys.readouterr().err
    scores = tmp_path / "scores.parquet"
    assert main(["score", str(out), "--rules", str(nasty_world / "current.toml"),
                 "--as-of", "2027-01-01", "--out", str(scores)]) == 0
    original = pd.read_csv(src / "leads.csv", dtype=str)["lead_id"]
    assert set(pd.read_parquet(scores)["lead_id"]) == set(original)


# ---------------------------------------------------------------- atomic writes
def _writer(args):
    from calib.io import write_table

    path, n_cols, seed = args
    import numpy as np

    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.random((3000, n_cols)), columns=[f"c{i}" for i in range(n_cols)])
    for _ in range(5):
        write_table(df, path)
    return n_cols


def test_concurrent_writers_of_one_file_leave_one_complete_file(tmp_path):
    from concurrent.futures import ProcessPoolExecutor

    out = tmp_path / "same.csv"
    with ProcessPoolExecutor(2) as pool:
        assert sorted(pool.map(_writer, [(out, 65, 1), (out, 30, 2)])) == [30, 65]
    df = pd.read_csv(out)
    assert df.shape in ((3000, 65), (3000, 30)) and not df.isna().any().any()
    assert [p.name for p in tmp_path.iterdir()] == ["same.csv"]


def test_stale_temporaries_of_dead_writers_are_cleaned(tmp_path):
    from calib.io import temp_prefix, write_table

    out = tmp_path / "t.csv"
    dead = tmp_path / f".t.csv.calib-{2 ** 22 + 777}-x1.tmp"
    dead.write_text("half a file")
    mine = tmp_path / f"{temp_prefix(out)}live.tmp"  # this process: still writing
    mine.write_text("in progress")
    other = tmp_path / ".u.csv.calib-4194999-x.tmp"  # another output's
    other.write_text("x")
    write_table(pd.DataFrame({"a": [1]}), out)
    assert not dead.exists() and mine.exists() and other.exists()


def test_output_guard_compares_real_files(tmp_path):
    from calib.errors import CalibError
    from calib.io import check_output

    data = tmp_path / "data"
    data.mkdir()
    (data / "leads.csv").write_text("x")
    (tmp_path / "rules.toml").write_text("x")
    for bad, inputs in [(data / "leads.csv", []), (data / "events.parquet", []),
                        (tmp_path / "rules.toml", [tmp_path / "rules.toml"]),
                        (tmp_path / "sub" / ".." / "rules.toml", [tmp_path / "rules.toml"])]:
        with pytest.raises(CalibError) as e:
            check_output(bad, inputs, data=data, what="--out")
        assert e.value.code == "overwrites_input"
    assert check_output(tmp_path / "new.csv", [tmp_path / "rules.toml"], data=data)
    assert check_output(data / "notes.csv", [], data=data)  # a new file beside the tables


# ---------------------------------------------------------------- files calib cannot read or write
def test_unreadable_table_is_one_clean_error(world, capsys, monkeypatch):
    import builtins

    from calib.data import dataset

    def no_read(path, *args, **kwargs):  # what a file without read permission does
        if str(path).endswith("leads.csv"):
            raise PermissionError(13, "Permission denied", str(path))
        return builtins.open(path, *args, **kwargs)

    monkeypatch.setattr(dataset, "open", no_read, raising=False)
    rc = main(["validate", str(world / "data")])
    err = capsys.readouterr().err
    assert rc == 1 and "leads.csv" in err and "Permission denied" in err
    assert "internal error" not in err


def test_unwritable_output_is_one_clean_error(world, capsys, monkeypatch):
    import calib.io

    def no_write(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(calib.io.tempfile, "mkstemp", no_write)
    before = checksums(world)
    rc = main(["replay", str(world / "data"), "--rules", str(world / "current.toml"),
               "--leads-out", str(world / "out.csv")])
    err = capsys.readouterr().err
    assert rc == 1 and "out.csv" in err and "Permission denied" in err
    assert "internal error" not in err and checksums(world) == before


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="the superuser may write into read-only folders")
def test_read_only_report_folder_is_refused_before_computing(world, capsys, monkeypatch):
    import calib.pipeline.run as pipeline_run

    monkeypatch.setattr(pipeline_run, "run_experiment", None)  # must not be reached
    (world / "ro").mkdir()
    (world / "ro").chmod(0o555)
    try:
        rc = main(["run", str(world / "experiment.toml"), "--out", str(world / "ro" / "rep")])
    finally:
        (world / "ro").chmod(0o755)
    err = capsys.readouterr().err
    assert rc == 1 and "not writable" in err and "internal error" not in err


def test_compressed_tables_and_blank_header_names_still_load(world, capsys):
    import gzip

    data = world / "data"
    text = (data / "leads.csv").read_text(encoding="utf-8")
    lines = text.splitlines()
    lines = [lines[0] + ",,"] + [ln + ",," for ln in lines[1:]]  # two trailing blank names
    with gzip.open(data / "leads.csv.gz", "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    (data / "leads.csv").unlink()
    assert main(["validate", str(data), "--json"]) == 0, capsys.readouterr().err
    assert '"leads": 300' in capsys.readouterr().out
