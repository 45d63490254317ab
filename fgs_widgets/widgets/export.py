"""Export tables (CSV, ECSV, Parquet) to files on the server, with download links."""

from __future__ import annotations

import html
import os
from pathlib import Path

import pandas as pd

from ..atomic import atomic_write

__all__ = ["export_table", "session_tables"]

FORMATS = ("csv", "ecsv", "parquet")


def session_tables(session) -> dict[str, pd.DataFrame]:
    """The session's tables that exist now (products, fits, events, periodogram peaks, the
    science series, binned, and its decorrelation)."""
    tables: dict[str, pd.DataFrame] = {}
    if session.data is not None:
        tables["products"] = session.data.products
        tables["series"] = pd.DataFrame({"time": session.data.time, "flux": session.data.flux,
                                         "quality": session.data.quality})
    for name in ("fit", "quick_fit", "events"):
        table = getattr(session, name)
        if table is not None:
            tables[name] = table
    science, result = session.science, session.decorrelation
    if science is not None:
        tables["science"] = science.table()
    if session.science_binned is not None:
        tables["science_binned"] = session.science_binned
    if result is not None and science is not None:
        tables["decorrelation"] = result.table(science.time)
        tables["decorrelation_coefficients"] = result.coefficients
    if session.periodograms:
        tables["peaks"] = pd.concat(
            [p.peaks.assign(column=c) for c, p in session.periodograms.items()
             if hasattr(p, "peaks")], ignore_index=True)
    return tables


def export_table(table: pd.DataFrame, name: str, fmt: str,
                 directory: str | os.PathLike = "fgs_exports") -> Path:
    """Write ``table`` as ``<directory>/<name>.<fmt>`` (atomically); returns the path."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    path = Path(directory) / f"{name}.{fmt}"
    with atomic_write(path) as temp:
        if fmt == "csv":
            table.to_csv(temp, index=False)
        elif fmt == "parquet":
            _typed(table, categories=False).to_parquet(temp, index=False)
        else:
            from astropy.table import Table

            Table.from_pandas(_typed(table, categories=True)).write(
                temp, format="ascii.ecsv", overwrite=True)
    return path


def _typed(table: pd.DataFrame, *, categories: bool) -> pd.DataFrame:
    """One type per column, as typed formats need: a column mixing text and numbers (the
    event table's ``value``) becomes text; categories too when the format has none."""
    from ..session_io import mixed_type_columns

    changed = {c: table[c].map(lambda v: v if v is None else str(v))
               for c in mixed_type_columns(table)}
    if categories:
        changed.update({c: table[c].astype(str) for c in table.columns
                        if isinstance(table[c].dtype, pd.CategoricalDtype)})
    return table.assign(**changed) if changed else table


def link(path: Path) -> str:
    """An HTML link JupyterLab serves (relative to the notebook's folder)."""
    target = html.escape(os.path.relpath(path))
    return f"<a href='files/{target}' download target='_blank'>{html.escape(path.name)}</a>"
