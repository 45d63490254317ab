"""Export tables (CSV, ECSV, Parquet) to files on the server, with download links.

Which tables a session holds is `fgs_widgets.Session.tables` (the traits tagged
``exported``).  The guiding report (`fgs_widgets.Session.report`) goes to the same
folder, named by `report_path`.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import pandas as pd

from ..atomic import atomic_write

__all__ = ["export_table", "report_path"]

FORMATS = ("csv", "ecsv", "parquet")

#: the folder exports and reports are written to (relative to the kernel's folder)
EXPORT_DIR = "fgs_exports"


def export_table(table: pd.DataFrame, name: str, fmt: str,
                 directory: str | os.PathLike = EXPORT_DIR) -> Path:
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


def report_path(program: str, products: pd.DataFrame | None,
                directory: str | os.PathLike = EXPORT_DIR) -> Path:
    """Where the App writes a session's report: ``<directory>/fgs_report_<program>.html``.

    The program is the session's (``Session.program``) when it is an id, else the one
    program the files name (``data.products["program"]``); ``fgs_report.html`` when there
    is none or several.
    """
    name = program if program.isdigit() else ""
    if not name and products is not None and "program" in products:
        programs = products["program"].dropna().unique()
        if len(programs) == 1:
            name = str(programs[0])
    return Path(directory) / (f"fgs_report_{name}.html" if name else "fgs_report.html")


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
