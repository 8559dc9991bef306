"""The run report: metrics.json and a self-contained report.html with plots, samples and the recipe."""

from __future__ import annotations

from .build import ReportOptions, RunData, build_metrics, load_run
from .html import render_html
from .summary import headline, headline_lines
from .write import write_report

__all__ = ["ReportOptions", "RunData", "build_metrics", "load_run", "render_html", "headline", "headline_lines",
           "write_report"]
