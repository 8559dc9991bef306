"""eval.html from `synthloom evaluate`: the confusion-matrix plot, and the learning curve on the fixture reviews."""

import csv
import json
import re
import subprocess
from pathlib import Path

import pytest

from synthloom.cli import main
from synthloom.train.data import load_examples
from synthloom.train.evaluate import learning_curve

REVIEWS = Path(__file__).with_name("reviews.csv")
CHROMIUM = Path("/usr/bin/chromium")
TO_MODEL = "great=positive,other=negative"


def write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["text", "label"])
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def files(tmp_path):
    """train.csv (30 reviews, 15 per class) and test.csv (the other 10, 5 per class)."""
    with open(REVIEWS, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return (write_csv(tmp_path / "train.csv", [r for i, r in enumerate(rows) if i % 4]),
            write_csv(tmp_path / "test.csv", [r for i, r in enumerate(rows) if i % 4 == 0]))


def train(data: Path, out: Path) -> Path:
    assert main(["train", str(data), "--text-field", "text", "--label-field", "label", "--label-map", TO_MODEL,
                 "--out", str(out)]) == 0
    return out


def evaluate(model: Path, data: Path, *extra: str, label_map: str = TO_MODEL) -> int:
    return main(["evaluate", str(model), "--data", str(data), "--text-field", "text", "--label-field", "label",
                 "--label-map", label_map, *extra])


def figure(html: str, key: str) -> str:
    found = re.search(rf'<figure class="plot" id="plot-{key}">.*?</figure>', html, re.S)
    assert found, f"no {key} plot in eval.html"
    assert "<svg" in found.group(0)
    return found.group(0)


def svg_cells(svg: str) -> dict[tuple[int, int], int]:
    """The count drawn in each confusion cell, by (row, column)."""
    cells = re.findall(r'<g id="confusion-cell-(\d+)-(\d+)">\s*<text[^>]*>(\d+)</text>', svg)
    return {(int(i), int(j)): int(count) for i, j, count in cells}


def test_confusion_plot_draws_the_counts_of_eval_json(files, tmp_path, capsys):
    train_csv, _ = files
    model = train(train_csv, tmp_path / "m")
    with open(train_csv, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    # 15 "great" and 5 "other", named the wrong way round: every prediction is wrong and the matrix is
    # asymmetric, so a plot with rows and columns swapped would not match
    test_csv = write_csv(tmp_path / "skewed.csv", [r for r in rows if r["label"] == "great"]
                         + [r for r in rows if r["label"] == "other"][:5])
    assert evaluate(model, test_csv, label_map="great=negative,other=positive") == 0
    assert "eval.html" in capsys.readouterr().out
    scores = json.loads((model / "eval.json").read_text())
    assert scores["labels"] == ["negative", "positive"] and scores["confusion"] == [[0, 15], [5, 0]]
    html = (model / "eval.html").read_text()
    cells = svg_cells(figure(html, "confusion"))
    assert cells == {(i, j): count for i, row in enumerate(scores["confusion"]) for j, count in enumerate(row)}
    assert "learning_curve" not in scores and 'id="plot-learning-curve"' in html and "--learning-curve" in html
    # headline and per-class table carry eval.json's figures
    assert re.search(r"<th>accuracy</th><td[^>]*>0\.000</td>", html) and re.search(r"<th>examples \(n\)</th><td[^>]*>20</td>", html)
    for label, s in scores["per_class"].items():
        assert re.search(rf"<td>{label}</td><td[^>]*>{s['precision']:.3f}</td>\s*<td[^>]*>{s['recall']:.3f}</td>", html)
    # self-contained under the report's CSP: one script, allowed by its hash, nothing fetched
    assert html.count("<script") == 1 and "script-src 'sha256-" in html and "default-src 'none'" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)|@import|url\((?!#)|<link\b""", html)


def test_learning_curve_retrains_on_the_models_own_data(files, tmp_path, capsys, monkeypatch):
    train_csv, test_csv = files
    monkeypatch.chdir(tmp_path)
    model = train(Path("train.csv"), tmp_path / "m")  # a relative path, reloaded below from another directory
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert evaluate(model, test_csv, "--learning-curve") == 0
    out = capsys.readouterr().out
    scores = json.loads((model / "eval.json").read_text())
    points = scores["learning_curve"]
    assert [p["train_size"] for p in points] == [25, 30]  # 25, 50, ... up to all 30 training examples
    assert all(0 <= p["accuracy"] <= 1 and 0 <= p["macro_f1"] <= 1 for p in points)
    assert points[-1]["train_size"] == scores["model"]["trained_on"]["rows"] == 30
    assert points[-1]["accuracy"] == scores["accuracy"]  # all the data again, labels mapped as when trained
    assert len(re.findall(r"^  learning curve: +\d+ training examples → accuracy", out, re.M)) == len(points)
    svg = figure((model / "eval.html").read_text(), "learning-curve")
    assert re.findall(r'<g id="curve-point-(\d+)">', svg) == ["25", "30"]


def test_sizes_override_and_imply_the_curve(files, tmp_path, capsys):
    train_csv, test_csv = files
    model = train(train_csv, tmp_path / "m")
    assert evaluate(model, test_csv, "--sizes", "10,4,all,100", "--out", str(tmp_path / "scores.json")) == 0
    assert "capped at 30" in capsys.readouterr().err
    points = json.loads((tmp_path / "scores.json").read_text())["learning_curve"]
    assert [p["train_size"] for p in points] == [4, 10, 30]
    svg = figure((tmp_path / "scores.html").read_text(), "learning-curve")
    assert re.findall(r'<g id="curve-point-(\d+)">', svg) == ["4", "10", "30"]


def test_every_size_holds_both_classes():
    """A prefix of the shuffle has every class once it is as long as the number of classes."""
    examples = load_examples(REVIEWS, "text", "label")
    for seed in range(8):
        points = learning_curve(examples, examples, "tfidf-logreg", [2, 3], seed)
        assert [p["train_size"] for p in points] == [2, 3]


@pytest.mark.parametrize("sizes", ["abc", "0", "1", "10,,20", "-5", "2.5"])
def test_bad_sizes_is_one_line(sizes, files, tmp_path, capsys):
    train_csv, test_csv = files
    model = train(train_csv, tmp_path / "m")
    capsys.readouterr()
    assert evaluate(model, test_csv, f"--sizes={sizes}") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("synthloom: error: --sizes:") and "\n" not in err
    assert not (model / "eval.json").exists()  # refused before any work


def test_learning_curve_without_the_training_data_is_one_line(files, tmp_path, capsys):
    train_csv, test_csv = files
    model = train(train_csv, tmp_path / "m")
    train_csv.unlink()
    capsys.readouterr()
    assert evaluate(model, test_csv, "--learning-curve") == 2
    err = capsys.readouterr().err.strip()
    assert "cannot reload the model's training data" in err and "train.csv: file not found" in err and "\n" not in err


def test_the_page_lays_out_both_plots_in_chromium(files, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (CI installs Debian's chromium)")
    train_csv, test_csv = files
    model = train(train_csv, tmp_path / "m")
    assert evaluate(model, test_csv, "--sizes", "4,all") == 0
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
               "--virtual-time-budget=5000", "--dump-dom", (model / "eval.html").as_uri()]
    result = subprocess.run(command, capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr[-2000:]
    body = re.search(r"<body[^>]*>", result.stdout).group(0)
    assert 'data-plots-rendered="2"' in body, body  # the hashed script ran under the CSP, and both SVGs have a size
