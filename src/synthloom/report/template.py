"""The report page: one Jinja2 template (autoescaped), its CSS, and its one inline script."""

from __future__ import annotations

__all__ = ["PAGE", "HEAD", "PLOTS", "SCRIPT", "CSS", "CSP"]

# Counts the plots that laid out with a real size (tests read it), and filters rejected records by reason.
SCRIPT = """
(function () {
  var select = document.getElementById("reason-filter");
  if (select) {
    select.addEventListener("change", function () {
      document.querySelectorAll("details.rejected").forEach(function (d) {
        d.hidden = select.value !== "" && d.dataset.reason !== select.value;
      });
    });
  }
  window.addEventListener("load", function () {
    var rendered = 0;
    document.querySelectorAll("figure.plot svg").forEach(function (svg) {
      var box = svg.getBoundingClientRect(), inner = svg.getBBox();
      if (box.width > 0 && box.height > 0 && inner.width > 0 && inner.height > 0) { rendered += 1; }
    });
    document.body.dataset.plotsRendered = String(rendered);
  });
})();
"""

# Nothing is fetched: styles and SVG plots are inline, and only the script whose hash fills the template runs.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src '{{ script_hash }}'"

CSS = """body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1000px; padding: 1em 1.5em 4em; color: #1d2430; }
h1 { font-size: 1.5em; margin-bottom: .2em; } h2 { margin-top: 2em; border-bottom: 1px solid #dde3ea; padding-bottom: .2em; }
.sub { color: #5b6673; margin-top: 0; }
table { border-collapse: collapse; } td, th { text-align: left; padding: .25em .8em .25em 0; vertical-align: top; border-bottom: 1px solid #eef1f4; }
th { font-weight: 600; white-space: nowrap; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure.plot { margin: 1.2em 0; } figure.plot figcaption { font-weight: 600; margin-bottom: .3em; }
figure.plot svg { max-width: 100%; height: auto; display: block; }
p.note { color: #5b6673; font-style: italic; margin: .3em 0; }
details { border: 1px solid #dde3ea; border-radius: 4px; margin: .3em 0; padding: .3em .6em; }
details summary { cursor: pointer; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
details .why { color: #a33d3a; }
pre { white-space: pre-wrap; word-break: break-word; background: #f6f8fa; padding: .6em; border-radius: 4px; font-size: 12.5px; }
code { background: #f6f8fa; padding: 0 .2em; }
"""

# Every page's plots, inline SVG, or a note saying why one is not drawn.
PLOTS = """<h2 id="plots">Plots</h2>
{% for plot in plots %}{% if plot.svg %}<figure class="plot" id="plot-{{ plot.key }}"><figcaption>{{ plot.title }}</figcaption>
{{ plot.svg | safe }}
</figure>
{% else %}<p class="note" id="plot-{{ plot.key }}">{{ plot.title }}: not drawn — {{ plot.note }}.</p>
{% endif %}{% endfor %}
"""

# The top of every synthloom page (run report, eval.html): CSP, styles, title, and the count of
# plots the script checks.
HEAD = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content=\"""" + CSP + """\">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="synthloom {{ version }}">
<title>{{ title }}</title>
<style>
""" + CSS + """</style>
</head>
<body data-plots="{{ plots | selectattr('svg') | list | length }}">
<h1>{{ title }}</h1>
"""

REVIEW = """{% if metrics.review %}{% set rv = metrics.review %}
<h2 id="review">Human review</h2>
<p>{{ rv.reviewed }} records decided in <code>synthloom review</code>: {{ rv.accepted }} accepted ({{ rv.restored }} of them
brought back from curation), {{ rv.rejected }} rejected, {{ rv.relabelled_or_edited }} relabelled or edited{% if rv.reviewers %}
· by {{ rv.reviewers | join(", ") }}{% endif %}{% if rv.stale %} · {{ rv.stale }} decisions on records a later run regenerated
differently are kept but not applied{% endif %}. The counts and records on this page include them.</p>
{% for name, a in rv.agreement.items() %}<table class="agreement" id="agreement-{{ name }}">
<tr><th>judge <code>{{ name }}</code> ≥ {{ a.threshold }} ({{ a.threshold_from }})</th><th>person accepted</th><th>person rejected</th></tr>
{% for label in a.confusion.rows %}<tr><td>{{ label }}</td>{% for n in a.confusion.table[loop.index0] %}<td class="num">{{ n }}</td>{% endfor %}</tr>
{% endfor %}</table>
<p>Judge–human agreement on <code>{{ name }}</code>: {{ a.decided }} records, raw agreement {{ a.agreement }},
Cohen's kappa <strong>{{ a.kappa if a.kappa is not none else "undefined (one rater gave one answer only)" }}</strong>.</p>
{% endfor %}{% endif %}"""

PAGE = HEAD + """<p class="sub">{{ metrics.run_dir }} · backend {{ backend }} · text field {% if metrics.text_field %}<code>{{ metrics.text_field }}</code>{% else %}none{% endif %}</p>

<h2 id="headline">Headline</h2>
<table class="headline">
{% for name, value in headline %}<tr><th>{{ name }}</th><td>{{ value }}</td></tr>
{% endfor %}</table>

""" + PLOTS + """
<h2 id="drops">Drop reasons</h2>
{% if drops.by_step_reason or drops.dropped %}<table>
<tr><th>step: reason</th><th>records</th></tr>
{% for name, count in drops.by_step_reason.items() %}<tr><td>{{ name }}</td><td class="num">{{ count }}</td></tr>
{% endfor %}{% for name, count in drops.dropped.items() %}<tr><td>{{ name }} (curation stats)</td><td class="num">{{ count }}</td></tr>
{% endfor %}</table>
{% if drops.transient %}<p class="note">{{ drops.transient }} more failed for transient reasons (timeouts, rate limits) and are retried by a re-run.</p>{% endif %}
{% else %}<p class="note">Nothing was rejected.</p>{% endif %}
""" + REVIEW + """
<h2 id="kept">Kept records <small>({{ kept | length }} of {{ metrics.kept }})</small></h2>
{% for r in kept %}<details class="kept"><summary><code>{{ r.id }}</code> {{ r.preview }}</summary><pre>{{ r.json }}</pre></details>
{% else %}<p class="note">No kept records.</p>{% endfor %}

<h2 id="rejected">Rejected records <small>({{ rejected | length }} of {{ metrics.rejected }})</small></h2>
{% if rejected %}<p><label>Show <select id="reason-filter"><option value="">every reason</option>
{% for reason in reasons %}<option value="{{ reason }}">{{ reason }}</option>{% endfor %}</select></label></p>
{% for r in rejected %}<details class="rejected" data-reason="{{ r.reason }}"><summary><code>{{ r.id }}</code> <span class="why">{{ r.reason }}</span> {{ r.detail }}</summary>
<p>step <code>{{ r.stage }}</code>, reason <code>{{ r.why }}</code>: {{ r.detail }}</p><pre>{{ r.json }}</pre></details>
{% endfor %}{% else %}<p class="note">No rejected records.</p>{% endif %}

<h2 id="recipe">Recipe</h2>
{% if recipe_text %}<p class="sub">from {{ recipe_source }}</p><pre>{{ recipe_text }}</pre>{% else %}<p class="note">No recipe.yaml and no recipe in store.sqlite.</p>{% endif %}
<script>{{ script | safe }}</script>
</body>
</html>
"""
