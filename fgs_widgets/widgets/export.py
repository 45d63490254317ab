"""Export tables (CSV, ECSV, Parquet) to files on the server, with download links."""

from __future__ import annotations

import html
import os
from pathlib import Path

import pandas as pd

__all__ = ["export_table", "session_tables"]

FORMATS = ("csv", "ecsv", "parquet")


def session_tables(session) -> dict[str, pd.DataFrame]:
    """The session's tables that exist now (products, fits, events, periodogram peaks)."""
    tables: dict[str, pd.DataFrame] = {}
    if session.data is not None:
        tables["products"] = session.data.products
        tables["series"] = pd.DataFrame({"time": session.data.time, "flux": session.data.flux,
                                         "quality": session.data.quality})
    for name in ("fit", "quick_fit", "events"):
        table = getattr(session, name)
        if table is not None:
            tables[name] = table
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
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.{fmt}"
    temp = folder / f".{name}.{fmt}.partial"
    if fmt == "csv":
        table.to_csv(temp, index=False)
    elif fmt == "parquet":
        table.to_parquet(temp, index=False)
    else:
        from astropy.table import Table

        plain = table.copy()
        for column in plain.columns:  # ECSV wants plain types
            if isinstance(plain[column].dtype, pd.CategoricalDtype):
                plain[column] = plain[column].astype(str)
        Table.from_pandas(plain).write(temp, format="ascii.ecsv", overwrite=True)
    os.replace(temp, path)
    return path


def link(path: Path) -> str:
    """An HTML link JupyterLab serves (relative to the notebook's folder)."""
    target = html.escape(os.path.relpath(path))
    return f"<a href='files/{target}' download target='_blank'>{html.escape(path.name)}</a>"
