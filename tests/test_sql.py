"""A SQL source against a real PostgreSQL server: the replay of a demo world read from
the database equals the replay of the same world read from files.

The test starts a throwaway cluster itself (initdb + pg_ctl in a temporary folder,
listening on 127.0.0.1 only, on a free port) when PostgreSQL's server binaries are
installed (``.ci/postgres.sh`` installs them in CI), and skips otherwise. As root, the
server runs as the unprivileged user ``nobody`` (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pandas as pd
import pytest

sqlalchemy = pytest.importorskip("sqlalchemy", reason="the 'sql' extra is not installed "
                                 "(pip install 'calib[sql]')")
pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'calib[sql]')")

from calib.data import load_dataset  # noqa: E402
from calib.engine import replay  # noqa: E402
from calib.errors import ConfigError, DataError  # noqa: E402
from calib.importers.sql import load_sql, read_sql  # noqa: E402
from calib.rules import load_rules  # noqa: E402


def _server_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[4]) if Path(p).parts[4].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres():
    """A URL of a fresh PostgreSQL server, stopped and removed afterwards."""
    bin_dir = _server_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed; "
                    "run .ci/postgres.sh or apt-get install postgresql to run this test")
    tmp = Path(tempfile.mkdtemp(prefix="calib-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        import pwd

        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL as a user")
        try:
            user = pwd.getpwnam("nobody")
        except KeyError:
            pytest.skip("running as root and there is no user 'nobody' to run PostgreSQL as")
        os.chown(tmp, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "nobody", "--"]
    data, log, port = tmp / "data", tmp / "server.log", _free_port()

    def run(*cmd):
        return subprocess.run([*prefix, *map(str, cmd)], capture_output=True, text=True,
                              timeout=120, cwd=tmp)

    r = run(bin_dir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--no-locale")
    if r.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        pytest.fail(f"initdb failed: {r.stderr[-2000:]}")
    r = run(bin_dir / "pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", "start", "-o",
            f"-h 127.0.0.1 -p {port} -k {tmp} -c fsync=off")
    if r.returncode != 0:
        text = log.read_text() if log.exists() else r.stderr
        shutil.rmtree(tmp, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {text[-2000:]}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        run(bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def world(postgres, tmp_path_factory):
    """A demo world of 1,500 leads, as files and as tables of schema 'crm'."""
    from calib.demo import generate_demo

    folder = tmp_path_factory.mktemp("demo")
    w = generate_demo(folder, n_leads=1500, seed=1)
    engine = sqlalchemy.create_engine(postgres.replace("postgresql://",
                                                       "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("create schema crm"))
        for name in ("leads", "events", "outcomes"):
            df = pd.read_csv(w.data_dir / f"{name}.csv", dtype={"lead_id": str})
            for c in ("created_at", "occurred_at"):
                if c in df:
                    df[c] = pd.to_datetime(df[c], utc=True)  # timestamptz columns
            df.to_sql(name, conn, schema="crm", index=False)
        # a table with the CRM's own column names, for the mapping
        leads = pd.read_csv(w.data_dir / "leads.csv", dtype={"lead_id": str})
        leads["created_at"] = pd.to_datetime(leads["created_at"], utc=True)
        leads.rename(columns={"lead_id": "contact_id", "created_at": "created"}) \
            .assign(owner="rep").to_sql("contacts", conn, schema="crm", index=False)
    engine.dispose()
    return w


def _rules(world):
    return [load_rules(world.current_rules), load_rules(world.truth_rules)]


TABLES = {"leads": "crm.leads", "events": "crm.events", "outcomes": "crm.outcomes"}


def test_replay_from_postgres_equals_replay_from_files(postgres, world):
    files = load_dataset(world.data_dir)
    db = load_sql(postgres, tables=TABLES)
    assert db.n_leads == files.n_leads == 1500
    assert len(db.events) == len(files.events)
    for rules in _rules(world):
        a = replay(files, rules, per_lead=True)
        b = replay(db, rules, per_lead=True)
        assert b.to_dict() == a.to_dict()
        pa_ = a.per_lead.sort_values("lead_id").reset_index(drop=True)
        pb_ = b.per_lead.sort_values("lead_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(pb_, pa_, check_dtype=False)


def test_queries_and_a_mapping(postgres, world):
    files = load_dataset(world.data_dir)
    db = load_sql(postgres, tables={"leads": "crm.contacts"},
                  queries={"events": "select lead_id, occurred_at, event_type from crm.events",
                           "outcomes": "select * from crm.outcomes order by occurred_at desc"},
                  mapping={"columns": {"leads": {"lead_id": "contact_id",
                                                 "created_at": "created"}},
                           "exclude": {"leads": ["owner"]}})
    assert "owner" not in db.leads.columns
    rules = _rules(world)[0]
    assert replay(db, rules).to_dict() == replay(files, rules).to_dict()


def test_problems_are_collected_and_passwords_hidden(postgres, world):
    url = postgres.replace("postgres@", "postgres:s3cret@")
    with pytest.raises(DataError) as e:
        read_sql(url, tables={"leads": "crm.nope", "outcomes": "crm.outcomes"},
                 queries={"events": "select lead_id, occurred_at, event_type from crm.nothing"},
                 mapping={"columns": {"outcomes": {"outcome": "stage"}}})
    assert e.value.codes == {"missing_table", "query_failed", "mapping_missing_column"}
    text = str(e.value)
    assert "s3cret" not in text and "***" in text
    assert "it has: contacts, events, leads, outcomes" in text


def test_configuration_errors(postgres):
    with pytest.raises(ConfigError) as e:
        load_sql(postgres, tables={"leads": "crm.leads"})
    assert e.value.code == "missing_key"
    with pytest.raises(ConfigError) as e:
        load_sql(postgres, tables=TABLES, queries={"leads": "select 1"})
    assert e.value.code == "invalid_value"
    with pytest.raises(ConfigError) as e:
        load_sql("env:CALIB_TEST_NO_SUCH_VARIABLE", tables=TABLES)
    assert e.value.code == "missing_key"


def test_unreachable_server_is_a_clear_error():
    port = _free_port()  # nothing listens there
    with pytest.raises(DataError) as e:
        load_sql(f"postgresql://postgres:pw@127.0.0.1:{port}/postgres", tables=TABLES)
    assert e.value.code == "connection_failed" and "pw@" not in str(e.value)


def test_cli_import_sql(postgres, world, tmp_path, capsys):
    import json

    from calib.cli.main import main

    code = main(["import", "sql", postgres, "--table", "leads=crm.leads", "--table",
                 "events=crm.events", "--table", "outcomes=crm.outcomes", "--out",
                 str(tmp_path / "db"), "--format", "parquet", "--json"])
    out = capsys.readouterr().out
    assert code == 0 and json.loads(out)["leads"] == 1500
    rules = _rules(world)[1]
    assert (replay(load_dataset(tmp_path / "db"), rules).to_dict()
            == replay(load_dataset(world.data_dir), rules).to_dict())
