"""Salesforce Lead export (+ Task and CampaignMember exports) -> a data set.

Layouts, as Salesforce writes them: a report export (*Reports > Export > Details Only*)
has the field *labels* as headers ("Lead ID", "Created Date"); the weekly Data Export
service and API extracts (Data Loader) have the field *API names* ("Id",
"CreatedDate"). Both are accepted. Field names are those of the Salesforce Object
Reference (Lead, Task, CampaignMember):

Lead (required) -> leads and outcomes
    ``Lead ID``/``Id`` -> ``lead_id``; ``Created Date``/``CreatedDate`` -> ``created_at``;
    ``Converted``/``IsConverted`` with ``Converted Date``/``ConvertedDate`` -> outcome
    ``sql`` at conversion (a converted lead was accepted by sales), plus ``opportunity``
    when ``Converted Opportunity ID``/``ConvertedOpportunityId`` is set. A ``Lead Status``
    of Unqualified / Disqualified / Closed - Not Converted -> ``disqualified`` dated by
    ``Last Modified Date`` when the export has it (an approximation, see notes).
    ``Title``, ``Industry``, ``No. of Employees``/``NumberOfEmployees``, ``Country``,
    ``Lead Source``/``LeadSource``... -> attributes (``job_title``, ``industry``,
    ``employees``, ``country``, ``source``).
Task (optional, ``--tasks``) -> events ``task_<type>``
    ``Who ID``/``WhoId`` (or ``Lead ID``), ``Activity Date``/``ActivityDate`` (else
    ``Created Date``), ``Type``/``Task Subtype`` (else ``Subject``). Tasks of contacts
    and open tasks are skipped.
CampaignMember (optional, ``--campaign-members``) -> events ``campaign_response[_<type>]``
    ``Lead ID``/``LeadId``, ``Campaign Type`` or ``Campaign Name``, ``Responded``/
    ``HasResponded``, ``First Responded Date``/``FirstRespondedDate`` (else
    ``Created Date``). Members that never responded are not behaviour and are skipped.

Report exports write dates in the user's locale (``1/15/2025 9:30 AM``); pass
``--day-first`` for day-first locales and ``--timezone`` for the user's time zone.
15- and 18-character ids are matched to each other.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from calib.errors import Problem
from calib.importers.base import (ColumnFinder, ExportTables, ImportMapping, ImportOptions,
                                  attribute_frame, concat_outcomes, export_file, find_files,
                                  parse_flags, parse_times, raise_problems, read_export,
                                  salesforce_ids, sanitize_ids, slug, wide_outcomes)


LEAD_ID = ("Lead ID", "Id", "ID", "Lead Id", "LeadId")
CREATED_AT = ("Created Date", "CreatedDate", "Create Date", "Lead Created Date")
CONVERTED = ("Converted", "IsConverted", "Is Converted")
CONVERTED_DATE = ("Converted Date", "ConvertedDate")
CONVERTED_OPP = ("Converted Opportunity ID", "ConvertedOpportunityId", "Converted Opportunity")
STATUS = ("Lead Status", "Status")
LAST_MODIFIED = ("Last Modified Date", "LastModifiedDate")
DISQUALIFIED = {"unqualified", "disqualified", "closed - not converted", "closed not converted",
                "junk", "not qualified"}
CONSUMED = {"Converted Account ID", "ConvertedAccountId", "Converted Contact ID",
            "ConvertedContactId", "Lead Converted"}
RENAMES = {
    "Title": "job_title", "Industry": "industry", "No. of Employees": "employees",
    "NumberOfEmployees": "employees", "Employees": "employees", "Country": "country",
    "Lead Source": "source", "LeadSource": "source", "Annual Revenue": "annual_revenue",
    "AnnualRevenue": "annual_revenue", "State/Province": "state", "State": "state",
    "City": "city",
}
_AFTER = "set during or after sales follow-up (leaks the outcome)"
LEAKING = {
    "Lead Status": "the lead's current status (leaks the outcome)",
    "Status": "the lead's current status (leaks the outcome)",
    "Rating": _AFTER, "Lead Owner": _AFTER, "Owner": _AFTER, "OwnerId": _AFTER,
    "Owner Name": _AFTER, "Last Activity": "as of the export (leaks the outcome)",
    "LastActivityDate": "as of the export (leaks the outcome)",
    "Last Modified Date": "as of the export (leaks the outcome)",
    "LastModifiedDate": "as of the export (leaks the outcome)",
    "Last Modified By": _AFTER, "Unread By Owner": _AFTER, "IsUnreadByOwner": _AFTER,
    "Last Viewed Date": _AFTER, "LastViewedDate": _AFTER, "Last Referenced Date": _AFTER,
    "LastReferencedDate": _AFTER, "SystemModstamp": "as of the export (leaks the outcome)",
}
IDENTIFYING = {"Company", "Company / Account", "Website", "Description", "Salutation",
               "Street", "Zip/Postal Code", "PostalCode", "Fax", "Name", "Lead Name"}

WHO_ID = ("Who ID", "WhoId", "Lead ID", "LeadId", "Name ID")
TASK_TIME = ("Activity Date", "ActivityDate", "Created Date", "CreatedDate", "Date",
             "Completed Date/Time", "CompletedDateTime")
TASK_TYPE = ("Type", "Task Type", "TaskSubtype", "Task Subtype")
TASK_STATUS = ("Status", "Task Status")
OPEN_TASK = {"not started", "open", "in progress", "deferred", "waiting on someone else"}
CM_LEAD = ("Lead ID", "LeadId", "Lead/Contact ID")
CM_CAMPAIGN = ("Campaign Type", "Campaign.Type", "CampaignType", "Campaign Name",
               "Campaign.Name", "CampaignName", "Campaign ID", "CampaignId")
CM_RESPONDED = ("Responded", "HasResponded", "Has Responded")
CM_TIME = ("First Responded Date", "FirstRespondedDate", "Created Date", "CreatedDate")


def read(src: Path, mapping: ImportMapping, options: ImportOptions) -> ExportTables:
    """Read a Salesforce Lead export (a file, or a folder with Lead, Task and
    CampaignMember exports) into the tables of a data set.

    Parameters
    ----------
    src : Path
        The Lead export, or a folder holding it (``Lead.csv``) and optionally
        ``Task.csv`` and ``CampaignMember.csv``.
    mapping : ImportMapping
        File and column names that differ from Salesforce's, ``[outcome_dates]``.
    options : ImportOptions
        The ``tasks`` / ``campaign_members`` files, date parsing, kept columns.

    Returns
    -------
    ExportTables
        Leads, outcomes (``sql`` / ``opportunity`` at conversion, ``disqualified``)
        and events from tasks and campaign responses, with notes on what was read.

    Examples
    --------
    >>> from pathlib import Path
    >>> from calib.importers.base import ImportMapping, ImportOptions
    >>> _ = Path("Lead.csv").write_text(
    ...     "Id,CreatedDate,IsConverted,ConvertedDate\\n"
    ...     "00Q1,2025-01-06T09:14:00Z,true,2025-01-20T10:00:00Z\\n"
    ...     "00Q2,2025-01-07T13:30:00Z,false,\\n")
    >>> tables = read(Path("Lead.csv"), ImportMapping(), ImportOptions())
    >>> tables.outcomes["outcome"].tolist()
    ['sql']
    """
    lead_path, task_path, cm_path = _export_paths(src, mapping, options)
    df = read_export(lead_path, options)
    file = lead_path.name
    col = _lead_columns(df, file, mapping)
    result = ExportTables(format="salesforce", leads=None, outcomes=None,
                          sources=[str(lead_path)])
    problems: list[Problem] = []
    lead_id = sanitize_ids(df[col["id"]])
    created = parse_times(df, col["created"], file, options, problems, id_column=col["id"])
    frames = _conversions(df, col, lead_id, file, options, problems)
    frames += _disqualifications(df, col, lead_id, file, options, problems, result)
    if mapping.outcome_dates:
        frames.append(wide_outcomes(lead_id, df, dict(mapping.outcome_dates), file, options,
                                    problems, dict(mapping.outcome_amounts)))
    if col["converted_at"] is None and not mapping.outcome_dates:
        problems.append(Problem(file, "missing_column",
                                f"no '{CONVERTED_DATE[0]}' column (nor [outcome_dates] in the "
                                f"mapping) to take outcomes from; the file has: "
                                f"{', '.join(map(str, df.columns[:15]))}",
                                column=CONVERTED_DATE[0]))
    raise_problems(problems, f"The Salesforce Lead export '{file}'")
    leads = _leads(df, col, lead_id, created, file, mapping, options, result)
    events = [] if task_path is None else [_tasks(task_path, mapping, options, result)]
    if cm_path is not None:
        events.append(_campaign_members(cm_path, options, result))
    _link_events(result, leads, [e for e in events if e is not None], concat_outcomes(frames))
    result.renamed.setdefault(file, {}).update({col["id"]: "lead_id",
                                                col["created"]: "created_at"})
    if col["converted_at"] is not None:
        result.notes.append("Converted leads are 'sql' at their Converted Date (and "
                            "'opportunity' when an opportunity was created); the Lead export "
                            "has no MQL date: name one in [outcome_dates] if you track it.")
    return result


def _export_paths(src: Path, mapping: ImportMapping, options: ImportOptions):
    """The Lead, Task and CampaignMember exports (the last two may be None)."""
    lead_path, task_path, cm_path = src, options.file("tasks"), options.file("campaign_members")
    if src.is_dir():
        lead_path = export_file(src, mapping, "leads", ("lead.csv", "lead*.csv", "*leads*.csv"))
        if lead_path is None:
            raise_problems([Problem(str(src), "missing_table", "no Lead export (Lead.csv) in "
                                    "the folder")], f"The folder '{src}'")
        task_path = task_path or export_file(src, mapping, "events",
                                             ("task.csv", "task*.csv", "*tasks*.csv"))
        cm_path = cm_path or find_files(src, ("campaignmember*.csv", "*campaign*member*.csv"))
    return lead_path, task_path, cm_path


def _lead_columns(df: pd.DataFrame, file: str, mapping: ImportMapping) -> dict:
    """The columns of the Lead export the import uses, by role (None when absent)."""
    cols = ColumnFinder(df, file, "leads", mapping)
    col = {"id": cols.find("lead_id", LEAD_ID), "created": cols.find("created_at", CREATED_AT),
           "converted": cols.find("converted", CONVERTED, required=False)}
    col["converted_at"] = cols.find("converted_at", CONVERTED_DATE,
                                    required=col["converted"] is not None)
    col["opportunity"] = cols.find("converted_opportunity", CONVERTED_OPP, required=False)
    col["status"] = cols.find("status", STATUS, required=False)
    col["modified"] = cols.find("last_modified", LAST_MODIFIED, required=False)
    for outcome, c in mapping.outcome_dates.items():
        if c not in df.columns:
            cols.find(outcome, (c,))
    raise_problems(cols.problems, f"The Salesforce Lead export '{file}'")
    return col


def _conversions(df, col, lead_id, file, options, problems) -> list[pd.DataFrame]:
    """``sql`` at each lead's conversion, ``opportunity`` too when one was created."""
    if col["converted_at"] is None:
        return []
    conv_at = parse_times(df, col["converted_at"], file, options, problems, id_column=col["id"])
    converted = (parse_flags(df, col["converted"], file, problems) if col["converted"]
                 else conv_at.notna())
    no_date = converted & conv_at.isna()
    if no_date.any():
        problems.append(Problem(file, "missing_timestamp", f"{int(no_date.sum())} converted "
                                f"lead(s) have no {col['converted_at']}",
                                column=col["converted_at"], count=int(no_date.sum()),
                                rows=tuple({"row": int(i) + 2, col["id"]: lead_id.iloc[i]}
                                           for i in no_date[no_date].index[:3])))
    has = (converted & conv_at.notna()).to_numpy()
    frames = [pd.DataFrame({"lead_id": lead_id[has].to_numpy(), "outcome": "sql",
                            "occurred_at": conv_at[has].to_numpy()})]
    if col["opportunity"] is not None:
        opp = has & df[col["opportunity"]].notna().to_numpy()
        frames.append(pd.DataFrame({"lead_id": lead_id[opp].to_numpy(), "outcome": "opportunity",
                                    "occurred_at": conv_at[opp].to_numpy()}))
    return frames


def _disqualifications(df, col, lead_id, file, options, problems,
                       result: ExportTables) -> list[pd.DataFrame]:
    """``disqualified`` for a disqualifying status, dated by the last modification."""
    status_col, modified_col = col["status"], col["modified"]
    if status_col is None:
        return []
    disq = df[status_col].astype("string").str.strip().str.lower().isin(DISQUALIFIED)
    disq = disq.fillna(False).to_numpy()
    if not disq.any():
        return []
    if modified_col is None:
        result.notes.append(f"{int(disq.sum())} lead(s) have a disqualifying {status_col} "
                            "but the export has no 'Last Modified Date' to date it; they "
                            "are not outcomes.")
        return []
    mod = parse_times(df, modified_col, file, options, problems, id_column=col["id"])
    disq = disq & mod.notna().to_numpy()
    result.notes.append(f"{int(disq.sum())} lead(s) with a disqualifying {status_col} "
                        f"are 'disqualified' as of their {modified_col} (the export has "
                        "no status history, so that date is approximate).")
    return [pd.DataFrame({"lead_id": lead_id[disq].to_numpy(), "outcome": "disqualified",
                          "occurred_at": mod[disq].to_numpy()})]


def _leads(df, col, lead_id, created, file, mapping, options,
           result: ExportTables) -> pd.DataFrame:
    """``lead_id``, ``created_at`` and the attributes (identifying and leaking columns
    left out and listed)."""
    consumed = {col["id"], col["created"], col["converted"], col["converted_at"],
                col["opportunity"], *mapping.outcome_dates.values(),
                *(c for c in df.columns if c in CONSUMED)}
    for c in df.columns:
        if c in IDENTIFYING and c not in mapping.excluded("leads"):
            result.excluded[c] = "identifies the person or company (not needed for scoring)"
            consumed.add(c)
    attrs = attribute_frame(df, consumed={c for c in consumed if c}, renames=RENAMES,
                            leaking=LEAKING, options=options, mapping=mapping, table="leads",
                            file=file, result=result)
    leads = attrs.copy()
    leads.insert(0, "created_at", created.to_numpy())
    leads.insert(0, "lead_id", lead_id.to_numpy())
    return leads


def _link_events(result: ExportTables, leads: pd.DataFrame, events: list,
                 outcomes: pd.DataFrame) -> None:
    """Set the tables of ``result``, matching 15- and 18-character ids across them and
    skipping activity of records that are not in the Lead export."""
    if events:
        ev = pd.concat(events, ignore_index=True)
        ids = salesforce_ids(leads["lead_id"].astype("string"), ev["lead_id"].astype("string"))
        leads["lead_id"], ev["lead_id"] = ids[0].to_numpy(), ids[1].to_numpy()
        outcomes["lead_id"] = salesforce_ids(leads["lead_id"].astype("string"),
                                             outcomes["lead_id"].astype("string"))[1].to_numpy()
        known = ev["lead_id"].isin(set(leads["lead_id"]))
        if (~known).any():
            result.notes.append(f"{int((~known).sum())} activity row(s) belong to records that "
                                "are not in the Lead export (contacts, or leads outside it) and "
                                "were skipped.")
        result.events = ev[known].sort_values(["lead_id", "occurred_at"], kind="stable") \
            .reset_index(drop=True)
    result.leads = leads
    result.outcomes = outcomes


def _tasks(path: Path, mapping: ImportMapping, options: ImportOptions,
           result: ExportTables) -> pd.DataFrame:
    df = read_export(path, options)
    file = path.name
    result.sources.append(str(path))
    cols = ColumnFinder(df, file, "events", mapping)
    who = cols.find("lead_id", WHO_ID)
    when = cols.find("occurred_at", TASK_TIME)
    kind = cols.find("event_type", TASK_TYPE, required=False)
    subject = cols.find("subject", ("Subject",), required=kind is None)
    status = cols.find("status", TASK_STATUS, required=False)
    raise_problems(cols.problems, f"The Salesforce Task export '{file}'")
    problems: list[Problem] = []
    keep = df[who].notna()
    if status is not None:
        open_ = df[status].astype("string").str.strip().str.lower().isin(OPEN_TASK).fillna(False)
        if open_.any():
            result.notes.append(f"{int(open_.sum())} open task(s) in {file} (not done yet) were "
                                "skipped.")
        keep &= ~open_
    df = df[keep].reset_index(drop=True)
    t = parse_times(df, when, file, options, problems, id_column=who)
    raise_problems(problems, f"The Salesforce Task export '{file}'")
    label = df[kind] if kind is not None else pd.Series(pd.NA, index=df.index, dtype="string")
    for alt in ("TaskSubtype", "Task Subtype"):
        if alt in df.columns and alt != kind:
            label = label.fillna(df[alt])
    if subject is not None:
        label = label.fillna(df[subject])
    event_type = label.fillna("task").map(lambda s: "task_" + slug(s) if s != "task" else s)
    result.notes.append(f"Tasks in {file} are mostly what sales did after routing a lead, not "
                        "what the lead did: rules on task_* events measure sales effort.")
    return pd.DataFrame({"lead_id": sanitize_ids(df[who]).to_numpy(),
                         "occurred_at": t.to_numpy(), "event_type": event_type.to_numpy()})


def _campaign_members(path: Path, options: ImportOptions,
                      result: ExportTables) -> pd.DataFrame:
    df = read_export(path, options)
    file = path.name
    result.sources.append(str(path))
    cols = ColumnFinder(df, file, "events", ImportMapping())
    lead = cols.find("lead_id", CM_LEAD)
    when = cols.find("occurred_at", CM_TIME)
    campaign = cols.find("campaign", CM_CAMPAIGN, required=False)
    responded = cols.find("responded", CM_RESPONDED, required=False)
    raise_problems(cols.problems, f"The Salesforce CampaignMember export '{file}'")
    problems: list[Problem] = []
    keep = df[lead].notna()
    if responded is not None:
        resp = parse_flags(df, responded, file, problems)
        if (~resp).any():
            result.notes.append(f"{int((~resp).sum())} campaign member(s) in {file} never "
                                "responded and were skipped.")
        keep &= resp
    else:
        result.notes.append(f"{file} has no 'Responded' column: every membership counts as a "
                            "response.")
    raise_problems(problems, f"The Salesforce CampaignMember export '{file}'")
    df = df[keep].reset_index(drop=True)
    t = parse_times(df, when, file, options, problems, id_column=lead)
    raise_problems(problems, f"The Salesforce CampaignMember export '{file}'")
    if campaign is not None:
        event_type = df[campaign].map(lambda s: "campaign_response" if pd.isna(s)
                                      else f"campaign_response_{slug(s)}")
    else:
        event_type = pd.Series("campaign_response", index=df.index)
    return pd.DataFrame({"lead_id": sanitize_ids(df[lead]).to_numpy(),
                         "occurred_at": t.to_numpy(), "event_type": event_type.to_numpy()})
