"""The report's Jinja2 HTML template. It lives in a module rather than a .html file because the wheel carries only
the package data setup.py names (views and readers SQL), and a module travels with the package as it is."""

REPORT_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ title }}</title>
<style>
  body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1100px;
         color: #222; line-height: 1.4; padding: 0 1em; }
  h1 { margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #d62728; padding-bottom: 0.2em; margin-top: 2em; }
  .meta { color: #666; font-size: 0.9em; }
  .stats { display: grid; grid-template-columns: repeat(auto-fill, minmax(240px, 1fr)); gap: 0.6em; margin: 1em 0; }
  .stat { background: #f6f6f6; border-radius: 6px; padding: 0.6em 0.8em; }
  .stat .label { color: #666; font-size: 0.8em; } .stat .value { font-size: 1.2em; font-weight: 600; }
  table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.85em; }
  th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
  th { background: #f0f0f0; }
  img.chart { max-width: 100%; display: block; margin: 0.6em 0; }
  .note { background: #fff8e1; border-left: 4px solid #ff7f0e; padding: 0.5em 0.8em; margin: 0.8em 0; }
  .anomaly { border: 1px solid #ddd; border-radius: 6px; padding: 0.4em 1em 0.8em; margin: 1em 0; }
  .facts td:first-child { color: #666; }
</style>
</head>
<body>
<h1>{{ title }}</h1>
<p class="meta">{{ period }} &middot; generated {{ generated_at }} &middot; lakehouse {{ table_root }}</p>

{% macro note(key) %}{% if notes.get(key) %}
<p class="note" data-empty="{{ key }}">{{ notes[key] }}</p>{% endif %}{% endmacro %}
{% macro table(t) %}{% if t.rows %}
<table><thead><tr>{% for h in t.headings %}<th>{{ h }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in t.rows %}<tr>{% for c in row %}<td>{{ c }}</td>{% endfor %}</tr>{% endfor %}</tbody>
</table>{% if t.total > t.rows|length %}
<p class="meta">first {{ t.rows|length }} of {{ t.total }} rows</p>{% endif %}{% endif %}{% endmacro %}
{% macro chart(png, alt) %}{% if png %}
<img class="chart" alt="{{ alt }}" src="data:image/png;base64,{{ png }}">{% endif %}{% endmacro %}

<section id="summary">
<h2>Summary</h2>
<div class="stats">{% for label, value in stats %}<div class="stat"><div class="label">{{ label }}</div>
<div class="value">{{ value }}</div></div>{% endfor %}</div>
{{ note("readings") }}
{{ note("anomalies") }}
{{ chart(charts.by_day, "Anomaly events per day") }}
{{ chart(charts.by_series, "Anomaly events per series") }}
{{ table(by_series) }}
<h3>Precision from feedback so far</h3>
{{ note("feedback") }}
{{ table(feedback) }}
</section>

<section id="top-anomalies">
<h2>Top anomalies</h2>
{{ note("top") }}
{% for a in top %}<div class="anomaly">
<h3>{{ loop.index }}. {{ a.title }}</h3>
<table class="facts">{% for label, value in a.facts %}
<tr><td>{{ label }}</td><td>{{ value }}</td></tr>{% endfor %}
</table>
{{ chart(a.chart, "values, score, threshold and event span") }}
{% if a.shap %}{{ chart(a.shap, "SHAP contributions") }}{% else %}
<p class="note">no SHAP explanation recorded for this event</p>{% endif %}
</div>{% endfor %}
</section>

<section id="data-quality">
<h2>Data quality</h2>
<h3>Validation runs</h3>
{{ note("validations") }}
{{ table(validations) }}
<h3>Quarantine by reason</h3>
{{ note("quarantine") }}
{{ chart(charts.quarantine, "Rows quarantined by reason") }}
{{ table(quarantine) }}
</section>

<section id="drift">
<h2>Drift and retraining</h2>
<h3>Series drifted</h3>
{{ note("drift") }}
{{ chart(charts.drift, "Drift windows per series") }}
{{ table(drift) }}
<h3>Retrains and their outcome</h3>
{{ note("retrains") }}
{{ table(retrains) }}
</section>
</body>
</html>
"""
