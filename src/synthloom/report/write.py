"""Write a run's report.html and metrics.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..files import write_text_atomic
from .build import ReportOptions, build_metrics, load_run
from .html import render_html

__all__ = ["ReportFiles", "write_report"]


@dataclass
class ReportFiles:
    """What `write_report` wrote, and the metrics it computed."""

    html: Path
    metrics_json: Path
    metrics: dict


def write_report(run_dir: Path, options: ReportOptions = ReportOptions(), out: Path | None = None,
                 embedder: Any = None) -> ReportFiles:
    """RUN_DIR/report.html and RUN_DIR/metrics.json (or OUT and OUT with a .json suffix)."""
    run = load_run(run_dir)
    metrics = build_metrics(run, options, embedder=embedder)
    html_path = Path(out) if out else run.path / "report.html"
    json_path = html_path.with_suffix(".json") if out else run.path / "metrics.json"
    if not html_path.parent.is_dir():
        raise ConfigError(f"--out {html_path}: the folder {html_path.parent} does not exist")
    hint = None if out else "write the report elsewhere with --out FILE"
    write_text_atomic(html_path, render_html(run, metrics, show=options.show), hint)
    write_text_atomic(json_path, json.dumps(metrics, indent=2, ensure_ascii=False, default=str) + "\n", hint)
    return ReportFiles(html_path, json_path, metrics)
