"""A guiding report: one self-contained HTML file that says what the guide star did.

``write_report(session, "report.html")`` (also ``Session.report`` and
``fgs-widgets report``) gathers the numbers (`content`), states the findings by
written rules (`rules`, `findings`), draws the figures (`figures`, matplotlib) and
renders one offline HTML page (`render`, Jinja2).  With a survey dataset as
``reference``, each visit's statistics are also percentiles of that population
(`reference`).
"""

from __future__ import annotations

from .render import write_report
from .rules import RULES

__all__ = ["RULES", "write_report"]
