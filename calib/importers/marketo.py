"""Marketo activity-log export + leads export -> a data set with events.

Layouts, as Marketo documents them:

Activities (the Bulk Activity Extract API's CSV, or a flattened *Activity Log* export)
    ``leadId``/``Lead ID`` -> ``lead_id``; ``activityDate``/``Activity Date`` ->
    ``occurred_at``; ``activityTypeId`` (a number) or ``Activity Type`` (its name) ->
    ``event_type`` as a snake_case slug of the name (``Visit Webpage`` ->
    ``visit_webpage``, ``Fill Out Form`` -> ``fill_out_form``, ``Open Email`` ->
    ``open_email``...); ``primaryAttributeValue``/``Primary Attribute Value`` (the page,
    form or email) is kept as ``detail``. Type ids are resolved with Marketo's standard
    activity types (``GET /rest/v1/activities/types.json``); an instance's custom
    types come out as ``activity_<id>`` unless the export carries the name.
    *Change Revenue Stage* (101, 102) rows are outcomes: the new stage (``New Stage``
    column, the ``attributes`` JSON of the bulk extract, or the primary attribute value)
    MQL -> ``mql``, SQL -> ``sql``, Opportunity -> ``opportunity``, Customer / Won ->
    ``won``, Lost -> ``lost``, Disqualified -> ``disqualified``; other stages keep their
    slug. System activities (data value and score changes, list and sync operations,
    emails *sent to* the lead) are not behaviour and are dropped; ``Change Score`` would
    replay today's score.
Leads (required: ``--leads FILE``, or ``leads.csv`` next to the activities)
    ``Id``/``id`` -> ``lead_id``; ``Created At``/``createdAt`` -> ``created_at``;
    ``Job Title``/``title``, ``Industry``, ``Number of Employees``/``numberOfEmployees``,
    ``Country``, ``Lead Source``/``leadSource`` -> attributes. ``Lead Score``,
    ``Lead Status`` and the like are left out (they leak the outcome).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from calib.errors import Problem
from calib.importers.base import (ColumnFinder, ExportTables, ImportMapping, ImportOptions,
                                  attribute_frame, concat_outcomes, export_file, find_files,
                                  parse_times, raise_problems, read_export, sanitize_ids,
                                  slug, wide_outcomes)


# Marketo's standard activity types (GET /rest/v1/activities/types.json).
ACTIVITY_TYPES = {
    1: "Visit Webpage", 2: "Fill Out Form", 3: "Click Link", 6: "Send Email",
    7: "Email Delivered", 8: "Email Bounced", 9: "Unsubscribe Email", 10: "Open Email",
    11: "Click Email", 12: "New Lead", 13: "Change Data Value", 19: "Sync Lead to SFDC",
    21: "Convert Lead", 22: "Change Score", 23: "Change Owner", 24: "Add to List",
    25: "Remove from List", 26: "SFDC Activity", 27: "Email Bounced Soft",
    29: "Delete Lead from SFDC", 30: "SFDC Activity Updated", 32: "Merge Leads",
    34: "Add to Opportunity", 35: "Remove from Opportunity", 36: "Update Opportunity",
    37: "Delete Lead", 38: "Send Alert", 39: "Send Sales Email", 40: "Open Sales Email",
    41: "Click Sales Email", 42: "Add to SFDC Campaign", 43: "Remove from SFDC Campaign",
    44: "Change Status in SFDC Campaign", 45: "Receive Sales Email", 46: "Interesting Moment",
    47: "Request Campaign", 48: "Sales Email Bounced", 100: "Change Lead Partition",
    101: "Change Revenue Stage", 102: "Change Revenue Stage Manually",
    104: "Change Status in Progression", 106: "Enrich with Data.com", 108: "Change Segment",
    110: "Call Webhook", 111: "Sent Forward to Friend Email",
    112: "Received Forward to Friend Email", 113: "Add to Nurture", 114: "Change Nurture Track",
    115: "Change Nurture Cadence", 400: "Share Content", 401: "Vote in Poll",
    405: "Click Shared Link",
}
STAGE_CHANGES = {"change_revenue_stage", "change_revenue_stage_manually"}
SYSTEM = {slug(n) for n in (
    "New Lead", "Change Data Value", "Change Score", "Change Owner", "Sync Lead to SFDC",
    "Convert Lead", "Add to List", "Remove from List", "SFDC Activity", "SFDC Activity Updated",
    "Delete Lead from SFDC", "Merge Leads", "Add to Opportunity", "Remove from Opportunity",
    "Update Opportunity", "Delete Lead", "Send Alert", "Add to SFDC Campaign",
    "Remove from SFDC Campaign", "Change Status in SFDC Campaign", "Change Lead Partition",
    "Change Status in Progression", "Enrich with Data.com", "Change Segment", "Call Webhook",
    "Add to Nurture", "Change Nurture Track", "Change Nurture Cadence", "Request Campaign",
    "Send Email", "Email Delivered", "Send Sales Email", "Receive Sales Email")}
STAGE_OUTCOMES = (  # (words in the stage name, calib outcome), first match wins
    (("disqualified",), "disqualified"), (("closed lost", "lost"), "lost"),
    (("mql", "marketing qualified"), "mql"), (("sql", "sales qualified"), "sql"),
    (("opportunity", "opp"), "opportunity"), (("customer", "closed won", "won"), "won"),
)

ACT_LEAD = ("Lead ID", "leadId", "Lead Id", "lead_id")
ACT_TIME = ("Activity Date", "activityDate", "Date/Time", "Date")
ACT_TYPE = ("Activity Type", "activityType", "Activity Type Name", "activityTypeName")
ACT_TYPE_ID = ("activityTypeId", "Activity Type ID", "Activity Type Id")
ACT_PRIMARY = ("Primary Attribute Value", "primaryAttributeValue", "Detail")
ACT_NEW_STAGE = ("New Stage", "newStage", "New Stage Name")
LEAD_ID = ("Id", "id", "Lead ID", "leadId", "Marketo ID")
CREATED_AT = ("Created At", "createdAt", "Created Date", "Date Created")
RENAMES = {
    "Job Title": "job_title", "title": "job_title", "Title": "job_title",
    "Industry": "industry", "industry": "industry", "Number of Employees": "employees",
    "numberOfEmployees": "employees", "Country": "country", "country": "country",
    "Lead Source": "source", "leadSource": "source", "Annual Revenue": "annual_revenue",
    "annualRevenue": "annual_revenue", "State": "state",
}
_AFTER = "set during or after sales follow-up (leaks the outcome)"
_NOW = "as of the export, after the outcomes (leaks the outcome)"
LEAKING = {
    "Lead Score": "the score of today's rules, as of the export",
    "leadScore": "the score of today's rules, as of the export",
    "Behavior Score": "the score of today's rules, as of the export",
    "Demographic Score": "the score of today's rules, as of the export",
    "Lead Status": _AFTER, "leadStatus": _AFTER, "Revenue Stage": _NOW, "Lifecycle Status": _NOW,
    "Lead Owner": _AFTER, "Lead Owner Email Address": _AFTER, "Updated At": _NOW,
    "updatedAt": _NOW, "Lead Partition": "set by routing", "SFDC Type": _NOW,
    "Company Name": "identifies the company (not needed for scoring)",
    "company": "identifies the company (not needed for scoring)",
}


def read(src: Path, mapping: ImportMapping, options: ImportOptions) -> ExportTables:
    """Read a Marketo activity-log export and its leads export.

    Parameters
    ----------
    src : Path
        The activity export, or a folder holding it (``*activities*.csv``) and the
        leads export (``leads.csv``).
    mapping : ImportMapping
        Other file or column names, exclusions, ``[outcome_dates]`` on the leads file.
    options : ImportOptions
        ``leads`` names the leads export when ``src`` is a file; time zone and date
        order of the dates.

    Returns
    -------
    ExportTables
        The leads with their attributes, one event per activity (by activity type) and
        the revenue-stage changes as outcomes.

    Examples
    --------
    >>> from pathlib import Path
    >>> from calib.importers.base import ImportMapping, ImportOptions
    >>> folder = Path("marketo-export")
    >>> folder.mkdir(exist_ok=True)
    >>> _ = (folder / "activities.csv").write_text(
    ...     "leadId,activityDate,activityTypeId,primaryAttributeValue\\n"
    ...     "3101,2025-01-06T09:20:00Z,1,www.example.com/pricing\\n"
    ...     "3101,2025-01-06T09:25:00Z,2,Demo Request Form\\n")
    >>> _ = (folder / "leads.csv").write_text("id,createdAt,title\\n"
    ...                                       "3101,2025-01-06T09:14:00Z,VP Marketing\\n")
    >>> tables = read(folder, ImportMapping(), ImportOptions())
    >>> tables.events["event_type"].tolist()
    ['visit_webpage', 'fill_out_form']
    """
    act_path, lead_path = src, options.file("leads")
    if src.is_dir():
        act_path = export_file(src, mapping, "events", ("*activit*.csv",))
        lead_path = lead_path or export_file(src, mapping, "leads", ("leads.csv", "*lead*.csv"))
        if act_path is None:
            raise_problems([Problem(str(src), "missing_table", "no activity export "
                                    "(*activities*.csv) in the folder")], f"The folder '{src}'")
    elif lead_path is None:
        lead_path = find_files(src.parent, ("leads.csv", "*leads*.csv"))
    if lead_path is None:
        raise_problems([Problem("leads", "missing_table", "the Marketo activity log needs a "
                                "leads export: pass --leads FILE")], "The Marketo import")

    result = ExportTables(format="marketo", leads=None, outcomes=None,
                          sources=[str(lead_path), str(act_path)])
    leads, wide = _leads(lead_path, mapping, options, result)
    events, outcomes = _activities(act_path, options, result)
    ids = set(leads["lead_id"])
    known = events["lead_id"].isin(ids)
    if (~known).any():
        result.notes.append(f"{int((~known).sum())} activity row(s) of {act_path.name} belong "
                            f"to leads that are not in {lead_path.name} and were skipped.")
    result.leads = leads
    result.events = events[known].reset_index(drop=True)
    result.outcomes = concat_outcomes([outcomes[outcomes["lead_id"].isin(ids)], wide])
    return result


def _leads(path: Path, mapping: ImportMapping, options: ImportOptions,
           result: ExportTables) -> tuple[pd.DataFrame, pd.DataFrame]:
    df = read_export(path, options)
    file = path.name
    cols = ColumnFinder(df, file, "leads", mapping)
    id_col = cols.find("lead_id", LEAD_ID)
    created_col = cols.find("created_at", CREATED_AT)
    for outcome, c in mapping.outcome_dates.items():
        if c not in df.columns:
            cols.find(outcome, (c,))
    raise_problems(cols.problems, f"The Marketo leads export '{file}'")
    problems: list[Problem] = []
    lead_id = sanitize_ids(df[id_col])
    created = parse_times(df, created_col, file, options, problems, id_column=id_col)
    wide = wide_outcomes(lead_id, df, dict(mapping.outcome_dates), file, options,
                                         problems, dict(mapping.outcome_amounts))
    raise_problems(problems, f"The Marketo leads export '{file}'")
    attrs = attribute_frame(df, consumed={id_col, created_col, *mapping.outcome_dates.values()},
                            renames=RENAMES, leaking=LEAKING, options=options, mapping=mapping,
                            table="leads", file=file, result=result)
    attrs.insert(0, "created_at", created.to_numpy())
    attrs.insert(0, "lead_id", lead_id.to_numpy())
    result.renamed.setdefault(file, {}).update({id_col: "lead_id", created_col: "created_at"})
    return attrs, wide


def _activities(path: Path, options: ImportOptions, result: ExportTables):
    df = read_export(path, options)
    file = path.name
    cols = ColumnFinder(df, file, "events", ImportMapping())
    lead = cols.find("lead_id", ACT_LEAD)
    when = cols.find("occurred_at", ACT_TIME)
    name = cols.find("event_type", ACT_TYPE, required=False)
    type_id = cols.find("activity_type_id", ACT_TYPE_ID, required=name is None)
    primary = cols.find("detail", ACT_PRIMARY, required=False)
    new_stage = cols.find("new_stage", ACT_NEW_STAGE, required=False)
    raise_problems(cols.problems, f"The Marketo activity export '{file}'")
    problems: list[Problem] = []
    t = parse_times(df, when, file, options, problems, id_column=lead)
    if name is not None:
        label = df[name]
    else:
        ids = pd.to_numeric(df[type_id], errors="coerce")
        bad = ids.isna() & df[type_id].notna()
        if bad.any():
            problems.append(Problem(file, "invalid_value", f"{int(bad.sum())} activity type id(s) "
                                    "are not numbers", column=type_id, count=int(bad.sum())))
        label = ids.map(lambda i: ACTIVITY_TYPES.get(int(i), f"activity_{int(i)}")
                        if pd.notna(i) else pd.NA)
    missing = label.isna()
    if missing.any():
        problems.append(Problem(file, "missing_value", f"{int(missing.sum())} row(s) have no "
                                "activity type", column=name or type_id, count=int(missing.sum())))
    raise_problems(problems, f"The Marketo activity export '{file}'")
    kind = label.map(slug)
    lead_id = sanitize_ids(df[lead])

    stage_rows = kind.isin(STAGE_CHANGES).to_numpy()
    stage = _new_stage(df, new_stage, primary)
    outcome = stage.map(_stage_outcome)
    outcomes = pd.DataFrame({"lead_id": lead_id[stage_rows].to_numpy(),
                             "outcome": outcome[stage_rows].to_numpy(),
                             "occurred_at": t[stage_rows].to_numpy()}).dropna(subset=["outcome"])
    system = kind.isin(SYSTEM).to_numpy()
    dropped = kind[system | stage_rows].value_counts()
    if len(dropped):
        result.notes.append("Not behaviour, so not events: " + ", ".join(
            f"{k} {v:,}" for k, v in dropped.items()) + ".")
    keep = ~(system | stage_rows)
    events = pd.DataFrame({"lead_id": lead_id[keep].to_numpy(), "occurred_at": t[keep].to_numpy(),
                           "event_type": kind[keep].to_numpy()})
    if primary is not None:
        events["detail"] = df.loc[keep, primary].to_numpy()
    events = events.sort_values(["lead_id", "occurred_at"], kind="stable").reset_index(drop=True)
    return events, outcomes


def _new_stage(df: pd.DataFrame, new_stage: str | None, primary: str | None) -> pd.Series:
    if new_stage is not None:
        return df[new_stage]
    if "attributes" in df.columns:  # bulk extract: a JSON list or object of attributes
        def from_json(text):
            if pd.isna(text):
                return pd.NA
            try:
                d = json.loads(text)
            except ValueError:
                return pd.NA
            if isinstance(d, list):
                d = {a.get("name"): a.get("value") for a in d if isinstance(a, dict)}
            return d.get("New Stage", pd.NA) if isinstance(d, dict) else pd.NA

        stage = df["attributes"].map(from_json)
        if primary is not None:
            stage = stage.fillna(df[primary])
        return stage
    if primary is not None:
        return df[primary]
    return pd.Series(pd.NA, index=df.index)


def _stage_outcome(stage) -> str | None:
    if stage is None or pd.isna(stage):
        return None
    s = str(stage).strip().lower()
    words = set(slug(s).split("_"))
    for keys, outcome in STAGE_OUTCOMES:
        for k in keys:
            if (" " in k and k in s) or k in words:
                return outcome
    return slug(s)
