"""report.html loaded in headless Chromium: the plots lay out, planted scripts do not run."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from synthloom.report import ReportOptions, write_report

CHROMIUM = Path("/usr/bin/chromium")


def dump_dom(page: Path, profile: Path) -> str:
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
               "--virtual-time-budget=5000", "--dump-dom", page.as_uri()]
    result = subprocess.run(command, capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_plots_render_and_record_scripts_do_not_run(run_dir: Path, tmp_path: Path, embedder):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (CI installs Debian's chromium)")
    files = write_report(run_dir, ReportOptions(), embedder=embedder)
    html = files.html.read_text()
    plots = html.count('<figure class="plot"')
    assert plots >= 4
    # self-contained: nothing is fetched (SVG namespace URIs are names, not requests)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)|@import|url\((?!#)|<link\b""", html)
    assert html.count("<script") == 1  # ours; every planted one is escaped text

    dom = dump_dom(files.html, tmp_path / "profile")
    body = re.search(r"<body[^>]*>", dom).group(0)
    rendered = re.search(r'data-plots-rendered="(\d+)"', body)
    assert rendered, f"the load script did not run: {body}"
    assert int(rendered.group(1)) == plots
    assert "data-pwned" not in body
    assert "document.body.dataset.pwned = 'script'" in dom  # shown as text, not run
    assert dom.count("<details") >= 6 + 4


def test_a_planted_script_would_have_been_caught(tmp_path: Path):
    """The marker check can fail: an unescaped page with the same script sets it."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (CI installs Debian's chromium)")
    page = tmp_path / "raw.html"
    page.write_text("<!DOCTYPE html><html><body><p><script>document.body.dataset.pwned = 'script'</script></p></body></html>")
    body = re.search(r"<body[^>]*>", dump_dom(page, tmp_path / "profile")).group(0)
    assert 'data-pwned="script"' in body
