"""``calib import``: a CRM or marketing-automation export (or a database) into a data set."""

from __future__ import annotations

from calib.cli.common import Command, info, json_arg, print_json, warn
from calib.errors import ConfigError

FORMAT_HELP = """formats:
  hubspot      HubSpot contacts export: lifecycle dates -> outcomes, counts -> attributes
  salesforce   Salesforce Lead export (+ --tasks Task.csv, --campaign-members
               CampaignMember.csv -> events); SRC may be a folder holding them
  marketo      Marketo activity log -> events and revenue-stage outcomes (+ --leads FILE)
  generic      any CSV with --mapping (columns, exclude, [outcome_dates] wide dates)
  x-education  the public X Education Leads.csv (snapshot; leaking columns left out)
  olist        the public Olist marketing funnel folder (MQLs + closed deals)
  sql          a database: SRC is a URL (or env:VAR), with --table/--query NAME=...

The source is only read, never modified. Columns that leak the outcome (set by sales
during or after follow-up, or as of the export) and personal data are left out and
listed; --keep-leaking keeps the leaking ones."""


def _args(p):
    p.add_argument("format", metavar="FORMAT",
                   choices=("hubspot", "salesforce", "marketo", "generic", "x-education",
                            "olist", "sql"),
                   help="hubspot, salesforce, marketo, generic, x-education, olist or sql")
    p.add_argument("src", metavar="SRC", help="the export file or folder (sql: a database URL)")
    p.add_argument("--out", required=True, metavar="DIR", help="data set folder to write")
    p.add_argument("--format", dest="table_format", choices=("csv", "parquet"), default="csv",
                   help="file format of the tables written (default csv)")
    p.add_argument("--mapping", metavar="FILE.toml",
                   help="column names, exclusions and [outcome_dates] where the export "
                        "differs from the vendor's defaults (needed for generic)")
    p.add_argument("--timezone", default=None, metavar="TZ",
                   help="time zone of timestamps written without an offset, e.g. "
                        "Europe/Berlin (default UTC)")
    p.add_argument("--day-first", action="store_true",
                   help="dates like 05/01/2025 are day first (default: month first)")
    p.add_argument("--encoding", default="utf-8-sig", metavar="ENC",
                   help="text encoding of the export (default utf-8; e.g. cp1252, latin-1)")
    p.add_argument("--keep-leaking", action="store_true",
                   help="keep columns the importer leaves out as leaking the outcome")
    p.add_argument("--tasks", metavar="FILE", help="salesforce: Task export (activities)")
    p.add_argument("--campaign-members", metavar="FILE",
                   help="salesforce: CampaignMember export (campaign responses)")
    p.add_argument("--leads", metavar="FILE", help="marketo: the leads export")
    p.add_argument("--deals", metavar="FILE", help="olist: the closed-deals file")
    p.add_argument("--table", action="append", default=[], metavar="NAME=TABLE",
                   help="sql: a table of the database, e.g. leads=crm.leads (repeatable)")
    p.add_argument("--query", action="append", default=[], metavar="NAME=SQL",
                   help="sql: a query giving a table, e.g. 'events=select ...' (repeatable)")
    p.add_argument("--force", action="store_true",
                   help="replace the data set tables in a non-empty --out folder")
    json_arg(p)


def _pairs(values, flag) -> dict:
    out = {}
    for v in values:
        name, sep, what = v.partition("=")
        if not sep or not name.strip() or not what.strip():
            raise ConfigError(f"{flag} takes NAME=VALUE (e.g. leads=crm.leads). Got {v!r}.",
                              code="invalid_value")
        out[name.strip()] = what.strip()
    return out


def _run(args):
    from pathlib import Path

    from calib.importers import ImportMapping, import_export
    from calib.rules import read_toml

    _check_sources(args)
    mapping = None
    if args.mapping:
        mapping = ImportMapping.from_dict(read_toml(args.mapping, what="import mapping"),
                                          source=str(args.mapping))
    if args.format == "sql":
        res = _import_sql(args, mapping)
    else:
        extra = {k: getattr(args, k) for k in ("tasks", "campaign_members", "leads", "deals")
                 if getattr(args, k)}
        wrong = {"tasks": "salesforce", "campaign_members": "salesforce", "leads": "marketo",
                 "deals": "olist"}
        for k in extra:
            if wrong[k] != args.format:
                raise ConfigError(f"--{k.replace('_', '-')} is for the {wrong[k]} format, not "
                                  f"{args.format}.", code="invalid_value")
        if args.table or args.query:
            raise ConfigError("--table and --query are for the sql format.", code="invalid_value")
        options = {"timezone": args.timezone, "day_first": args.day_first, "encoding": args.encoding,
                   "keep_leaking": args.keep_leaking, **extra}
        res = import_export(args.format, Path(args.src), Path(args.out), mapping=mapping,
                            options=options, table_format=args.table_format, force=args.force)
    if args.json:
        warn(res.warnings)
        print_json(res.to_dict())
    else:
        print(res.summary())
        info(f"\nNext: calib validate {args.out}")


def _check_sources(args) -> None:
    """The tables written into --out must not replace a file being imported."""
    from pathlib import Path

    from calib.io import check_output

    if not Path(args.out).is_dir():
        return  # a new folder holds no source
    sources = [getattr(args, k) for k in ("src", "mapping", "tasks", "campaign_members",
                                          "leads", "deals") if getattr(args, k, None)]
    if args.format != "sql" and Path(args.src).is_dir():
        sources.append(args.src)
    for table in ("leads", "events", "outcomes", "assignments"):
        for ext in (".csv", ".parquet"):
            check_output(Path(args.out) / f"{table}{ext}", sources,
                         what="The table file of --out")


def _import_sql(args, mapping):
    from pathlib import Path

    from calib.data import load_dataset
    from calib.importers import ExportTables, result_of, to_dataset
    from calib.importers.base import write_dataset_folder
    from calib.importers.sql import masked, read_sql, resolve_url

    cm = mapping.columns if mapping is not None else None
    frames = read_sql(args.src, _pairs(args.table, "--table"), _pairs(args.query, "--query"), cm)
    where = masked(resolve_url(args.src))
    tables = ExportTables(format="sql", leads=frames["leads"], outcomes=frames["outcomes"],
                          events=frames.get("events"), sources=[where])
    to_dataset(tables, name=f"database {where}")
    files = write_dataset_folder(tables, Path(args.out), fmt=args.table_format, force=args.force)
    return result_of(tables, load_dataset(args.out), out=str(args.out),
                     table_format=args.table_format, files=files)


COMMANDS = [
    Command("import", "turn a CRM or marketing-automation export into a data set",
            "Read an export as the vendor writes it (HubSpot, Salesforce, Marketo), a CSV "
            "with a mapping, one of the public example data sets, or a database, and write a "
            "calib data set folder (leads, events, outcomes) that 'calib validate' accepts.\n\n"
            + FORMAT_HELP,
            "calib import hubspot contacts.csv --out data --timezone Europe/Berlin",
            _args, _run),
]
