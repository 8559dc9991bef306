"""eval.html: a model's scores on real data as one self-contained page, drawn like the run report
(inline SVG from matplotlib, the same CSS, CSP and single hashed script)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import Environment

from ..errors import ConfigError
from ..files import write_text_atomic
from ..report.html import script_hash
from ..report.plots import KEPT, MUTED, Plot, legend_above, new_figure, plain, render_plots, to_svg
from ..report.template import HEAD, PLOTS, SCRIPT
from ..version import package_version

__all__ = ["EVAL_PLOTS", "confusion_plot", "learning_curve_plot", "render_eval_html", "eval_paths", "write_eval"]

PAGE = HEAD + """<p class="sub">model {{ model.model }} · labels {{ scores.labels | join(", ") }} · trained on {{ model.trained_on.rows }}
examples from <code>{{ model.trained_on.path }}</code> · evaluated on <code>{{ scores.data }}</code></p>

<h2 id="headline">Headline</h2>
<table class="headline">
<tr><th>accuracy</th><td class="num">{{ "%.3f" | format(scores.accuracy) }}</td></tr>
<tr><th>macro-F1</th><td class="num">{{ "%.3f" | format(scores.macro_f1) }}</td></tr>
<tr><th>examples (n)</th><td class="num">{{ scores.n }}</td></tr>
</table>
{% if scores.unknown_labels %}<p class="note">Labels in the data the model does not know (always wrong, not in the
confusion matrix): {{ scores.unknown_labels | join(", ") }}. Map them with --label-map.</p>{% endif %}

<h2 id="per-class">Per class</h2>
<table class="per-class">
<tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>
{% for label, s in scores.per_class.items() %}<tr><td>{{ label }}</td><td class="num">{{ "%.3f" | format(s.precision) }}</td>
<td class="num">{{ "%.3f" | format(s.recall) }}</td><td class="num">{{ "%.3f" | format(s["f1-score"]) }}</td>
<td class="num">{{ s.support | int }}</td></tr>
{% endfor %}</table>

""" + PLOTS + """{% if curve %}<table class="learning-curve">
<tr><th>training examples</th><th>accuracy</th><th>macro-F1</th></tr>
{% for p in curve %}<tr><td class="num">{{ p.train_size }}</td><td class="num">{{ "%.3f" | format(p.accuracy) }}</td>
<td class="num">{{ "%.3f" | format(p.macro_f1) }}</td></tr>
{% endfor %}</table>{% endif %}
<script>{{ script | safe }}</script>
</body>
</html>
"""


def confusion_plot(scores: dict) -> str | None:
    """A heatmap of the confusion matrix: counts in the cells, coloured by their share of the true class."""
    matrix, labels = scores.get("confusion"), scores.get("labels")
    if not matrix or not labels:
        return None
    size = len(labels)
    side = 1.8 + 0.55 * size
    fig = new_figure(side + 1.0, side)
    fig.set_layout_engine("compressed")  # "constrained" pushes the y label off a fixed-aspect axes
    ax = fig.subplots()
    shares = [[count / (sum(row) or 1) for count in row] for row in matrix]
    mesh = ax.pcolormesh(shares, cmap="Blues", vmin=0, vmax=1, edgecolors="white", linewidth=1)
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            # the id lets a reader (and the tests) find each cell's count in the SVG
            ax.text(j + 0.5, i + 0.5, str(count), ha="center", va="center", fontsize=9 if size <= 8 else 7,
                    color="white" if shares[i][j] > 0.6 else "#1d2430", gid=f"cell-{i}-{j}")
    ticks = [k + 0.5 for k in range(size)]
    long_names = size > 4 or any(len(str(label)) > 10 for label in labels)
    ax.set_xticks(ticks, [plain(label, 18) for label in labels], rotation=35 if long_names else 0,
                  ha="right" if long_names else "center", rotation_mode="anchor")
    ax.set_yticks(ticks, [plain(label, 18) for label in labels])
    ax.set_xlim(0, size)
    ax.set_ylim(size, 0)  # true class 0 on the top row
    ax.set_aspect("equal")
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(mesh, ax=ax, shrink=0.8, label="share of the true class")
    return to_svg(fig, "confusion")


def learning_curve_plot(scores: dict) -> str | None:
    """Accuracy and macro-F1 against the number of training examples (log scale)."""
    points = scores.get("learning_curve")
    if not points:
        return None
    fig = new_figure(6.4, 3.0)
    ax = fig.subplots()
    sizes = [p["train_size"] for p in points]
    ax.plot(sizes, [p["macro_f1"] for p in points], marker="s", markersize=4, color=MUTED, label="macro-F1")
    ax.plot(sizes, [p["accuracy"] for p in points], marker="o", color=KEPT, label="accuracy")
    for p in points:
        ax.annotate(f"{p['accuracy']:.2f}", (p["train_size"], p["accuracy"]), xytext=(0, 5), textcoords="offset points",
                    ha="center", fontsize=8, gid=f"point-{p['train_size']}")
    ax.set_xscale("log")
    ax.set_xticks(sizes, [f"{s:,}" for s in sizes])
    ax.minorticks_off()
    ax.margins(x=0.08)
    ax.set_ylim(0, 1.08)
    ax.set_xlabel("training examples (first k of a seeded shuffle of the model's training data)")
    ax.set_ylabel(f"score on the {scores.get('n', '?')} test examples")
    legend_above(ax)
    return to_svg(fig, "curve")


EVAL_PLOTS: dict[str, Plot] = {
    "confusion": ("Confusion matrix (rows: true, columns: predicted)", confusion_plot, "no classes to draw"),
    "learning-curve": ("Learning curve", learning_curve_plot,
                       "run `synthloom evaluate` with --learning-curve to retrain on growing subsets of the training data"),
}


def render_eval_html(scores: dict, model_dir: str | Path) -> str:
    """The evaluation page for the scores `synthloom evaluate` writes to eval.json."""
    env = Environment(autoescape=True, keep_trailing_newline=True)
    model = scores.get("model") or {}
    return env.from_string(PAGE).render(
        title=f"synthloom evaluation: {Path(model_dir).name}", version=package_version(), scores=scores,
        model={"model": model.get("model", "?"), "trained_on": model.get("trained_on") or {}},
        plots=render_plots(scores, EVAL_PLOTS), curve=scores.get("learning_curve") or [],
        script=SCRIPT, script_hash=script_hash(SCRIPT),
    )


def eval_paths(json_path: Path) -> tuple[Path, Path]:
    """Where the scores and the page go, checked before any work: eval.json and eval.html next to it."""
    html_path = json_path.with_suffix(".html")
    if html_path == json_path:
        raise ConfigError(f"--out {json_path}: the scores go to a .json file, the page next to it as .html")
    if not json_path.parent.is_dir():
        raise ConfigError(f"--out {json_path}: the folder {json_path.parent} does not exist")
    return json_path, html_path


def write_eval(scores: dict[str, Any], json_path: Path, model_dir: str | Path) -> Path:
    """The scores as JSON at `json_path` and the page next to it (same name, .html); returns the page's path."""
    json_path, html_path = eval_paths(json_path)
    write_text_atomic(json_path, json.dumps(scores, indent=2) + "\n")
    write_text_atomic(html_path, render_eval_html(scores, model_dir))
    return html_path
