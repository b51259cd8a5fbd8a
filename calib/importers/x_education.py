"""The public "X Education" lead-scoring data (``Leads.csv``) -> a snapshot data set.

The file (upGrad's Lead Scoring Case Study; 9,240 leads, 37 columns, see its
PROVENANCE.md) is a LeadSquared-style CRM export of an online-education company: one
row per lead, no dates, aggregate behaviour (``TotalVisits``, ``Total Time Spent on
Website``, ``Page Views Per Visit``) and a binary ``Converted``.

- ``Prospect ID`` -> ``lead_id``; ``Lead Number`` stays an attribute (it is roughly
  sequential: a crude creation order).
- ``Converted`` = 1 -> outcome ``won``; 0 -> ``lost``: every lead was worked by the
  sales team, so a non-conversion is an observed result (coverage is complete). The
  outcomes have no dates, so the data set is a snapshot: each lead is evaluated once.
- ``Select`` (the form's "not filled in") becomes missing.
- Columns are renamed to short snake_case names: ``lead_origin``, ``lead_source``,
  ``total_visits``, ``time_on_website`` (unit undocumented; seconds by its range),
  ``page_views_per_visit``, ``occupation``, ``specialization``, ``heard_about``...
- Left out by default because sales set them during or after follow-up, or they are
  end-of-life states (the data set's PROVENANCE.md): ``Tags``, ``Lead Quality``,
  ``Lead Profile``, the four ``Asymmetrique`` indices and scores, ``Last Activity``,
  ``Last Notable Activity``. ``--keep-leaking`` keeps them (to show how much a leak
  flatters a rule).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from calib.errors import Problem
from calib.importers.base import (ColumnFinder, ExportTables, ImportMapping, ImportOptions,
                                  attribute_frame, export_file, parse_flags, raise_problems,
                                  read_export, sanitize_ids)


RENAMES = {
    "Lead Number": "lead_number", "Lead Origin": "lead_origin", "Lead Source": "lead_source",
    "Do Not Email": "do_not_email", "Do Not Call": "do_not_call", "TotalVisits": "total_visits",
    "Total Time Spent on Website": "time_on_website",
    "Page Views Per Visit": "page_views_per_visit", "Country": "country", "City": "city",
    "Specialization": "specialization", "How did you hear about X Education": "heard_about",
    "What is your current occupation": "occupation",
    "What matters most to you in choosing a course": "what_matters_most",
    "Receive More Updates About Our Courses": "receive_updates",
    "Update me on Supply Chain Content": "supply_chain_updates",
    "Get updates on DM Content": "dm_updates",
    "I agree to pay the amount through cheque": "pay_by_cheque",
    "A free copy of Mastering The Interview": "free_interview_copy",
    "Through Recommendations": "through_recommendations",
    "X Education Forums": "x_education_forums", "Newspaper Article": "newspaper_article",
    "Digital Advertisement": "digital_advertisement",
}
_SALES = "set by the sales team during or after follow-up (leaks the outcome)"
_END = "the lead's last state, after the outcome (leaks the outcome)"
LEAKING = {
    "Tags": _SALES, "Lead Quality": _SALES, "Lead Profile": _SALES,
    "Asymmetrique Activity Index": _SALES, "Asymmetrique Profile Index": _SALES,
    "Asymmetrique Activity Score": _SALES, "Asymmetrique Profile Score": _SALES,
    "Last Activity": _END, "Last Notable Activity": _END,
}
LEAD_ID = ("Prospect ID",)
CONVERTED = ("Converted",)


def read(src: Path, mapping: ImportMapping, options: ImportOptions) -> ExportTables:
    """Read the X Education ``Leads.csv`` (a snapshot: no dates).

    Parameters
    ----------
    src : Path
        ``Leads.csv``, or the folder holding it.
    mapping : ImportMapping
        Other column names, and exclusions.
    options : ImportOptions
        ``keep_leaking`` keeps the columns sales filled in after contacting a lead.

    Returns
    -------
    ExportTables
        One lead per row with its attributes (``Select`` is missing), and ``won`` or
        ``lost`` from ``Converted``.

    Examples
    --------
    >>> from pathlib import Path
    >>> from calib.importers.base import ImportMapping, ImportOptions
    >>> header = "Prospect ID,Lead Number,Lead Source,Converted,TotalVisits"
    >>> _ = Path("x-education.csv").write_text(f"{header}\\np1,1,Google,1,5\\np2,2,Olark Chat,0,0\\n")
    >>> tables = read(Path("x-education.csv"), ImportMapping(), ImportOptions())
    >>> tables.outcomes["outcome"].tolist(), "created_at" in tables.leads
    (['won', 'lost'], False)
    """
    path = src
    if src.is_dir():
        path = export_file(src, mapping, "leads", ("leads.csv", "lead scoring.csv", "*.csv"))
        if path is None:
            raise_problems([Problem(str(src), "missing_table", "no Leads.csv in the folder")],
                           f"The folder '{src}'")
    df = read_export(path, options)
    file = path.name
    cols = ColumnFinder(df, file, "leads", mapping)
    id_col = cols.find("lead_id", LEAD_ID)
    conv_col = cols.find("converted", CONVERTED)
    raise_problems(cols.problems, f"The X Education export '{file}'")
    problems: list[Problem] = []
    converted = parse_flags(df, conv_col, file, problems)
    no_value = df[conv_col].isna()
    if no_value.any():
        problems.append(Problem(file, "missing_value", f"{int(no_value.sum())} lead(s) have no "
                                f"{conv_col}", column=conv_col, count=int(no_value.sum())))
    raise_problems(problems, f"The X Education export '{file}'")

    result = ExportTables(format="x-education", leads=None, outcomes=None, sources=[str(path)])
    lead_id = sanitize_ids(df[id_col])
    attrs = attribute_frame(df, consumed={id_col, conv_col}, renames=RENAMES, leaking=LEAKING,
                            options=options, mapping=mapping, table="leads", file=file,
                            result=result, placeholders=("Select",))
    attrs.insert(0, "lead_id", lead_id.to_numpy())
    result.leads = attrs
    result.outcomes = pd.DataFrame({
        "lead_id": lead_id.to_numpy(),
        "outcome": pd.Series(converted.map({True: "won", False: "lost"})).to_numpy()})
    result.renamed.setdefault(file, {}).update({id_col: "lead_id", conv_col: "outcome won/lost"})
    n_select = int((df == "Select").sum().sum())
    if n_select:
        result.notes.append(f"{n_select:,} 'Select' cells (the form's 'not filled in') became "
                            "missing values.")
    if "lead_source" in attrs:
        src_vals = attrs["lead_source"].dropna().astype(str)
        clash = src_vals.groupby(src_vals.str.lower()).nunique()
        clash = sorted(clash[clash > 1].index)
        if clash:
            result.notes.append("lead_source spells some values in two cases ("
                                + ", ".join(clash) + "): list both in a fit rule's 'in'.")
    result.notes.append("No dates: a snapshot. 'won' = Converted 1, 'lost' = Converted 0 (every "
                        "lead was worked by sales). TotalVisits and time on site are totals as "
                        "of the export and may include visits after the lead converted.")
    return result
