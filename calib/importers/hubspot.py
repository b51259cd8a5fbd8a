"""HubSpot contacts export -> a data set with dated outcomes and no events.

Layout: the CSV that HubSpot writes from *Contacts > Export* (one row per contact,
one column per property, the property *labels* as headers). The names below are the
labels of HubSpot's default contact properties (HubSpot Knowledge Base, "HubSpot's
default contact properties"), with their internal names as aliases for API or
warehouse extracts:

- ``Record ID`` (hs_object_id; older exports: ``Contact ID``) -> ``lead_id``
- ``Create Date`` (createdate) -> ``created_at``
- lifecycle stage dates, "Became a ... Date" (hs_lifecyclestage_<stage>_date) or, in
  portals on the lifecycle-stage pipeline, 'Date entered "<Stage> (Lifecycle Stage
  Pipeline)"' -> outcome rows: Marketing Qualified Lead -> ``mql``, Sales Qualified
  Lead -> ``sql``, Opportunity -> ``opportunity``, Customer -> ``won``
- aggregate activity counts such as ``Number of Pageviews`` (hs_analytics_num_page_views),
  ``Number of Sessions`` (hs_analytics_num_visits) and ``Number of Form Submissions``
  (num_conversion_events) stay lead attributes (``page_views``, ``sessions``,
  ``form_submissions``): the export has no event log, so fit rules test them.
- properties such as ``Job Title``, ``Industry``, ``Number of Employees``,
  ``Country/Region``, ``Original Source`` become attributes (``job_title``,
  ``industry``, ``employees``, ``country``, ``source``); any other column keeps its
  name as a snake_case slug.

Left out: personal data, and properties that are set during or after sales follow-up
or describe the contact as of the export (``Lifecycle Stage``, ``Lead Status``,
``HubSpot Score``, deal and revenue roll-ups, last-contacted dates, other lifecycle
timings). ``--keep-leaking`` keeps them. HubSpot writes timestamps in the portal's
time zone without an offset: pass it as ``--timezone``.
"""

from __future__ import annotations

import re
from pathlib import Path

from calib.errors import Problem
from calib.importers.base import (ColumnFinder, ExportTables, ImportMapping, ImportOptions,
                                  attribute_frame, concat_outcomes, export_file, parse_times,
                                  raise_problems, read_export, sanitize_ids, wide_outcomes)


LEAD_ID = ("Record ID", "Contact ID", "Contact id", "hs_object_id", "vid")
CREATED_AT = ("Create Date", "createdate", "Create date")


def _stage(label: str, internal: str) -> tuple[str, ...]:
    return (f"Became {label} Date", f'Date entered "{label.split(" ", 1)[1]} (Lifecycle Stage '
            f'Pipeline)"', f"Date entered '{label.split(' ', 1)[1]} (Lifecycle Stage Pipeline)'",
            f"hs_lifecyclestage_{internal}_date")


STAGES = {  # calib outcome: the export's column names for the date the contact entered it
    "mql": _stage("a Marketing Qualified Lead", "marketingqualifiedlead"),
    "sql": _stage("a Sales Qualified Lead", "salesqualifiedlead"),
    "opportunity": _stage("an Opportunity", "opportunity"),
    "won": _stage("a Customer", "customer"),
}
RENAMES = {
    "Job Title": "job_title", "jobtitle": "job_title", "Industry": "industry",
    "Number of Employees": "employees", "numemployees": "employees",
    "Country/Region": "country", "Country": "country", "State/Region": "state",
    "Original Source": "source", "hs_analytics_source": "source",
    "Original Source Drill-Down 1": "source_detail_1",
    "Original Source Drill-Down 2": "source_detail_2",
    "Number of Pageviews": "page_views", "hs_analytics_num_page_views": "page_views",
    "Number of Sessions": "sessions", "hs_analytics_num_visits": "sessions",
    "Number of Form Submissions": "form_submissions", "num_conversion_events": "form_submissions",
    "Number of Unique Forms Submitted": "unique_forms_submitted",
    "Marketing emails opened": "emails_opened", "Marketing emails clicked": "emails_clicked",
    "Marketing emails delivered": "emails_delivered", "Annual Revenue": "annual_revenue",
    "Persona": "persona", "Company Name": "company_name",
}
_AFTER = "set during or after sales follow-up (leaks the outcome)"
_SNAPSHOT = "describes the contact as of the export, after its outcomes (leaks the outcome)"
LEAKING = {
    "Lifecycle Stage": "the contact's current stage " + "(leaks the outcome)",
    "lifecyclestage": "the contact's current stage (leaks the outcome)",
    "Lead Status": _AFTER, "hs_lead_status": _AFTER,
    "HubSpot Score": "the score of today's rules, as of the export",
    "hubspotscore": "the score of today's rules, as of the export",
    "Likelihood to close": "HubSpot's predictive score, as of the export",
    "Contact priority": "HubSpot's predictive tier, as of the export",
    "Associated Deal": _AFTER, "Associated Deals": _AFTER, "Number of Associated Deals": _AFTER,
    "Recent Deal Amount": _AFTER, "Recent Deal Close Date": _AFTER, "Total Revenue": _AFTER,
    "Close Date": _AFTER, "Days To Close": _AFTER, "First Deal Created Date": _AFTER,
    "Last Contacted": _AFTER, "Last Activity Date": _SNAPSHOT, "Last Engagement Date": _SNAPSHOT,
    "Number of Sales Activities": _AFTER, "Number of times contacted": _AFTER,
    "Contact owner": _AFTER, "HubSpot Owner": _AFTER, "Owner Assigned Date": _AFTER,
    "HubSpot Team": _AFTER, "Last Modified Date": _SNAPSHOT, "Lead Response Time": _AFTER,
}
_LIFECYCLE = re.compile(r"^(Became an? .+ Date|Date (entered|exited) .+|(Cumulative |Latest )?"
                        r"[Tt]ime in .+|hs_lifecyclestage_.+_date|hs_date_(entered|exited)_.+|"
                        r"hs_time_in_.+)$")


def read(src: Path, mapping: ImportMapping, options: ImportOptions) -> ExportTables:
    """Read a HubSpot contacts export.

    Parameters
    ----------
    src : Path
        The contacts export (CSV), or a folder holding it.
    mapping : ImportMapping
        Column names that differ from HubSpot's, exclusions, more lifecycle dates in
        ``[outcome_dates]``.
    options : ImportOptions
        The time zone of the export's dates (HubSpot writes them in the portal's zone).

    Returns
    -------
    ExportTables
        One lead per contact, an outcome per lifecycle-stage date, and the activity
        counts as attributes (no events: the export has none).

    Examples
    --------
    >>> from pathlib import Path
    >>> from calib.importers.base import ImportMapping, ImportOptions
    >>> rows = ["Record ID,Create Date,Became a Customer Date,Number of Pageviews",
    ...         "51001,2025-01-06 09:14,2025-03-03 15:20,42", "51002,2025-01-07 13:30,,18"]
    >>> _ = Path("hubspot-export.csv").write_text("\\n".join(rows) + "\\n")
    >>> tables = read(Path("hubspot-export.csv"), ImportMapping(), ImportOptions())
    >>> tables.outcomes[["lead_id", "outcome"]].values.tolist(), list(tables.leads.columns)
    ([['51001', 'won']], ['lead_id', 'created_at', 'page_views'])
    """
    path = src
    if src.is_dir():
        path = export_file(src, mapping, "leads", ("*contacts*.csv", "*contact*.csv", "*.csv"))
        if path is None:
            raise_problems([_missing(src)], f"The folder '{src}'")
    df = read_export(path, options)
    file = path.name
    id_col, created_col, dates = _columns(df, file, mapping)

    problems: list = []
    result = ExportTables(format="hubspot", leads=None, outcomes=None, sources=[str(path)])
    lead_id = sanitize_ids(df[id_col])
    created = parse_times(df, created_col, file, options, problems, id_column=id_col)
    outcomes = wide_outcomes(lead_id, df, dates, file, options, problems,
                             dict(mapping.outcome_amounts))
    raise_problems(problems, f"The HubSpot export '{file}'")

    lifecycle = {c: "lifecycle timing (known only after the outcome)" for c in df.columns
                 if _LIFECYCLE.match(str(c)) and c not in dates.values()}
    attrs = attribute_frame(df, consumed={id_col, created_col, *dates.values()},
                            renames=RENAMES, leaking={**LEAKING, **lifecycle}, options=options,
                            mapping=mapping, table="leads", file=file, result=result)
    leads = attrs.copy()
    leads.insert(0, "created_at", created.to_numpy())
    leads.insert(0, "lead_id", lead_id.to_numpy())
    result.leads = leads
    result.outcomes = concat_outcomes([outcomes])
    result.renamed.setdefault(file, {}).update({id_col: "lead_id", created_col: "created_at",
                                                **{c: f"outcome '{o}'" for o, c in dates.items()}})
    counts = [c for c in attrs.columns if c in ("page_views", "sessions", "form_submissions",
                                                "emails_opened", "emails_clicked")]
    if counts:
        result.notes.append(
            f"{', '.join(counts)} are totals as of the export: they include activity after each "
            "lead's outcomes, so rules on them look better here than they would have live.")
    if options.timezone == "UTC":
        result.notes.append("HubSpot writes times in the portal's time zone without an offset; "
                            "they were read as UTC (pass --timezone if your portal is elsewhere).")
    return result


def _columns(df, file: str, mapping: ImportMapping) -> tuple[str, str, dict[str, str]]:
    """The id and creation columns, and outcome name to its lifecycle-date column."""
    cols = ColumnFinder(df, file, "leads", mapping)
    id_col = cols.find("lead_id", LEAD_ID)
    created_col = cols.find("created_at", CREATED_AT)
    dates: dict[str, str] = {}
    for outcome, aliases in STAGES.items():
        c = cols.find(outcome, aliases, required=False)
        if c is not None:
            dates[outcome] = c
    for outcome, c in mapping.outcome_dates.items():
        dates[outcome] = c
        if c not in df.columns:
            cols.find(outcome, (c,))
    raise_problems(cols.problems, f"The HubSpot export '{file}'")
    if not dates:
        raise_problems([_no_stage_dates(file, df)], f"The HubSpot export '{file}'")
    return id_col, created_col, dates


def _missing(src):
    return Problem(str(src), "missing_table", "no contacts export (*.csv) in the folder")


def _no_stage_dates(file, df):
    wanted = ", ".join(f"'{a[0]}'" for a in STAGES.values())
    return Problem(file, "missing_column",
                   f"no lifecycle stage date column ({wanted}) to take outcomes from; the file "
                   f"has: {', '.join(map(str, df.columns[:15]))}. Add the 'Became a ... Date' "
                   "properties to the export, or name date columns in [outcome_dates].",
                   column=STAGES["mql"][0])
