"""The public Olist marketing funnel (8,000 MQLs, 842 closed deals) -> a dated data set.

Files (Kaggle "Marketing Funnel by Olist", see its PROVENANCE.md):
``olist_marketing_qualified_leads_dataset.csv`` (``mql_id, first_contact_date,
landing_page_id, origin``) and ``olist_closed_deals_dataset.csv`` (``mql_id, seller_id,
sdr_id, sr_id, won_date, business_segment, lead_type, ...``).

- ``mql_id`` -> ``lead_id``; ``first_contact_date`` (a date) -> ``created_at``;
  ``origin`` and ``landing_page_id`` are the only attributes known when the lead
  arrives (blank ``origin`` stays missing; ``unknown`` is a value of its own).
- Every lead of the file was a marketing-qualified lead that asked to be contacted:
  each gets the outcome ``mql`` at ``first_contact_date`` (the historical milestone,
  which is also what tells calib the lead was worked).
- A closed deal is the outcome ``won`` at ``won_date``. There are no lost records and
  no intermediate stages.
- The deal's firmographics (``business_segment``, ``lead_type``,
  ``lead_behaviour_profile``, revenue...) were collected by the SDR *during* the sales
  contact and exist only for won deals: as lead attributes they would leak the outcome,
  so they are kept as extra columns of the ``won`` outcome rows only (for deal
  analysis), never as attributes. Seller, SDR and SR ids are left out.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from calib.errors import Problem
from calib.importers.base import (ColumnFinder, ExportTables, ImportMapping, ImportOptions,
                                  concat_outcomes, export_file, find_files, parse_times,
                                  raise_problems, read_export, sanitize_ids)


MQL_FILE = ("olist_marketing_qualified_leads_dataset.csv", "*marketing_qualified_leads*.csv",
            "*mql*.csv")
DEALS_FILE = ("olist_closed_deals_dataset.csv", "*closed_deals*.csv", "*deals*.csv")
DEAL_COLUMNS = ("business_segment", "lead_type", "business_type")
LEFT_OUT = {
    "seller_id": "links the deal to Olist's seller (after the outcome)",
    "sdr_id": "the SDR who worked the lead (after routing)",
    "sr_id": "the sales rep who closed it (after the outcome)",
    "lead_behaviour_profile": "collected during the sales contact, only for won deals",
    "has_company": "collected during the sales contact, only for won deals",
    "has_gtin": "collected during the sales contact, only for won deals",
    "average_stock": "collected during the sales contact, only for won deals",
    "declared_product_catalog_size": "collected during the sales contact, only for won deals",
    "declared_monthly_revenue": "collected during the sales contact, only for won deals",
}


def read(src: Path, mapping: ImportMapping, options: ImportOptions) -> ExportTables:
    """Read the Olist marketing funnel (its MQL and closed-deals files).

    The public data set has no activity: a lead is an MQL from its first contact, and
    the closed deals say which were won (the others are not known to be lost).

    Parameters
    ----------
    src : Path
        The MQL file, or the folder holding both files.
    mapping : ImportMapping
        Other file or column names, and exclusions.
    options : ImportOptions
        ``deals`` names the closed-deals file when ``src`` is a file.

    Returns
    -------
    ExportTables
        One lead per MQL (``mql`` at its first contact), ``won`` for its closed deal;
        the deal's columns collected during the sales contact are left out.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from calib.importers.base import ImportMapping, ImportOptions
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "olist_marketing_qualified_leads_dataset.csv").write_text(
    ...     "mql_id,first_contact_date,landing_page_id,origin\\n"
    ...     "m1,2018-01-08,p1,paid_search\\nm2,2018-01-10,p1,organic_search\\n")
    >>> _ = (folder / "olist_closed_deals_dataset.csv").write_text(
    ...     "mql_id,won_date\\nm1,2018-01-19 14:05:10\\n")
    >>> tables = read(folder, ImportMapping(), ImportOptions())
    >>> tables.outcomes[["lead_id", "outcome"]].values.tolist()
    [['m1', 'mql'], ['m1', 'won'], ['m2', 'mql']]
    """
    mql_path, deals_path = _export_paths(src, mapping, options)
    result = ExportTables(format="olist", leads=None, outcomes=None,
                          sources=[str(mql_path), str(deals_path)])
    mql = read_export(mql_path, options)
    deals = read_export(deals_path, options)
    id_col, created_col, deal_id, won_col = _columns(mql, deals, mql_path, deals_path, mapping)

    problems: list[Problem] = []
    lead_id = sanitize_ids(mql[id_col])
    created = parse_times(mql, created_col, mql_path.name, options, problems, id_column=id_col)
    won_at = parse_times(deals, won_col, deals_path.name, options, problems, id_column=deal_id)
    raise_problems(problems, "The Olist export")
    leads = pd.DataFrame({"lead_id": lead_id.to_numpy(), "created_at": created.to_numpy(),
                          "origin": mql["origin"].to_numpy(),
                          "landing_page_id": mql["landing_page_id"].to_numpy()})
    extra = [c for c in mql.columns if c not in (id_col, created_col, "origin",
                                                 "landing_page_id")]
    for c in extra:
        leads[c] = mql[c].to_numpy()
    mqls = pd.DataFrame({"lead_id": lead_id.to_numpy(), "outcome": "mql",
                         "occurred_at": created.to_numpy()})
    won = pd.DataFrame({"lead_id": sanitize_ids(deals[deal_id]).to_numpy(), "outcome": "won",
                        "occurred_at": won_at.to_numpy()})
    for c in DEAL_COLUMNS:
        if c in deals.columns:
            won[c] = deals[c].to_numpy()
    result.leads = leads
    result.outcomes = concat_outcomes([mqls, won])
    result.excluded.update({c: why for c, why in LEFT_OUT.items() if c in deals.columns})
    result.renamed[mql_path.name] = {id_col: "lead_id", created_col: "created_at"}
    result.renamed[deals_path.name] = {deal_id: "lead_id", won_col: "outcome 'won' at"}
    _note_days_to_won(result, won, leads)
    result.notes.append(f"{', '.join(DEAL_COLUMNS)} are kept on the 'won' rows only (collected "
                        "during the sales contact: as lead attributes they would leak the "
                        "outcome).")
    return result


def _export_paths(src: Path, mapping: ImportMapping, options: ImportOptions):
    """The MQL file and the closed-deals file (both must be there)."""
    mql_path, deals_path = src, options.file("deals")
    if src.is_dir():
        mql_path = export_file(src, mapping, "leads", MQL_FILE)
        deals_path = deals_path or export_file(src, mapping, "outcomes", DEALS_FILE)
    elif deals_path is None:
        deals_path = find_files(src.parent, DEALS_FILE)
    missing = [Problem(str(src), "missing_table", f"no {what} file ({pat[0]})")
               for what, pat, p in (("MQL", MQL_FILE, mql_path), ("closed deals", DEALS_FILE,
                                                                  deals_path)) if p is None]
    raise_problems(missing, f"The Olist import from '{src}'")
    return mql_path, deals_path


def _columns(mql, deals, mql_path: Path, deals_path: Path, mapping: ImportMapping):
    """The id and date columns of the two files (every missing one reported at once)."""
    c1 = ColumnFinder(mql, mql_path.name, "leads", mapping)
    id_col = c1.find("lead_id", ("mql_id",))
    created_col = c1.find("created_at", ("first_contact_date",))
    c1.find("origin", ("origin",))
    c1.find("landing_page_id", ("landing_page_id",))
    c2 = ColumnFinder(deals, deals_path.name, "outcomes", mapping)
    deal_id = c2.find("lead_id", ("mql_id",))
    won_col = c2.find("occurred_at", ("won_date",))
    raise_problems(c1.problems + c2.problems, "The Olist export")
    return id_col, created_col, deal_id, won_col


def _note_days_to_won(result: ExportTables, won: pd.DataFrame, leads: pd.DataFrame) -> None:
    """How long deals took to close, against calib's default window."""
    gap = (won.merge(leads[["lead_id", "created_at"]], on="lead_id")
           .eval("occurred_at - created_at").dt.total_seconds() / 86400)
    if len(gap):
        result.notes.append(
            f"Days from first contact to won: median {gap.median():.1f}, 90th percentile "
            f"{gap.quantile(0.9):.1f}, max {gap.max():.1f}; {(gap <= 90).mean():.0%} of the "
            f"deals closed within 90 days (calib's default window) and {(gap <= 180).mean():.0%}"
            " within 180. Leads near the end of the data are right-censored.")
