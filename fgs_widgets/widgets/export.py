"""Export tables (CSV, ECSV, FITS, Parquet) to files on the server, with download links.

Which tables a session holds is `fgs_widgets.Session.tables` (the traits tagged
``exported``).  ECSV and FITS carry each column's unit (``TUNITn`` in FITS) and MJD columns
as times on the UTC clock (`fgs_widgets.astropy_tables`); CSV and Parquet are the plain
numbers.  The guiding report (`fgs_widgets.Session.report`) goes to the same folder,
named by `report_path`.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..astropy_tables import mixed_type_columns, program_of, to_qtable, write_table
from ..atomic import atomic_write

__all__ = ["export_table", "report_path"]

FORMATS = ("csv", "ecsv", "fits", "parquet")

#: the folder exports and reports are written to (relative to the kernel's folder)
EXPORT_DIR = "fgs_exports"


def export_table(table: pd.DataFrame, name: str, fmt: str,
                 directory: str | os.PathLike = EXPORT_DIR, *,
                 meta: Mapping[str, Any] | None = None) -> Path:
    """Write ``table`` as ``<directory>/<name>.<fmt>`` (atomically); returns the path.

    Parameters
    ----------
    table : pandas.DataFrame
    name : str
        The file's name without its suffix.
    fmt : {"csv", "ecsv", "fits", "parquet"}
        ECSV and FITS are astropy tables with units (`fgs_widgets.astropy_tables.to_qtable`;
        ``meta`` goes in their header).
    directory : path
    meta : mapping, optional

    Raises
    ------
    ValueError
        An unknown format.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    path = Path(directory) / f"{name}.{fmt}"
    if fmt in ("ecsv", "fits"):
        return write_table(to_qtable(table, meta=meta), path)
    with atomic_write(path) as temp:
        if fmt == "csv":
            table.to_csv(temp, index=False)
        else:
            _typed(table).to_parquet(temp, index=False)
    return path


def report_path(program: str, products: pd.DataFrame | None,
                directory: str | os.PathLike = EXPORT_DIR) -> Path:
    """Where the App writes a session's report: ``<directory>/fgs_report_<program>.html``.

    The program is the session's (``Session.program``) when it is an id, else the one
    program the files name (``data.products["program"]``); ``fgs_report.html`` when there
    is none or several.
    """
    name = program_of(products, program)
    return Path(directory) / (f"fgs_report_{name}.html" if name else "fgs_report.html")


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    """One type per column, as Parquet needs: a column mixing text and numbers (the event
    table's ``value``) becomes text."""
    changed = {c: table[c].map(lambda v: v if v is None else str(v))
               for c in mixed_type_columns(table)}
    return table.assign(**changed) if changed else table


def link(path: Path) -> str:
    """An HTML link JupyterLab serves (relative to the notebook's folder)."""
    target = html.escape(os.path.relpath(path))
    return f"<a href='files/{target}' download target='_blank'>{html.escape(path.name)}</a>"
