"""The page templates (Jinja2, autoescaped) and stylesheet, kept in Python so they ship with
the package without package-data configuration."""

from __future__ import annotations

STYLE = """
body { background: #16181d; color: #e4e6eb; font: 15px/1.45 system-ui, sans-serif;
       margin: 0 auto; max-width: 1100px; padding: 16px 24px; }
a { color: #4fc3f7; } h1 { margin: 0.2em 0; } h2 { margin-top: 1.4em; font-size: 1.15em; }
.muted { color: #8b90a0; } table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #2b2f38; }
th { color: #8b90a0; font-weight: 600; }
.clips { display: grid; grid-template-columns: repeat(auto-fill, minmax(380px, 1fr)); gap: 14px; }
.clip { background: #1e2128; border-radius: 6px; padding: 10px; }
.clip img { width: 360px; height: 64px; image-rendering: pixelated; display: block; }
.clip audio { width: 360px; margin-top: 6px; }
svg text { fill: #8b90a0; font-size: 11px; } .stats td { border: 0; padding: 2px 12px 2px 0; }
"""

BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}{% endblock %}</title><link rel="stylesheet" href="style.css"></head>
<body>{% block body %}{% endblock %}
<p class="muted">Made with musae {{ version }} from {{ db_name }}.</p></body></html>
"""

INDEX = """{% extends "base.html" %}
{% block title %}Features of {{ title }}{% endblock %}
{% block body %}
<h1>Features of {{ title }}</h1>
<p class="muted">{{ features|length }} feature pages. {{ description }}</p>
<table><thead><tr><th>Feature</th><th>Label</th><th>Score</th><th>Frequency</th>
<th>Steering</th></tr></thead><tbody>
{% for f in features %}<tr><td><a href="{{ f.page }}">#{{ f.id }}</a></td>
<td>{{ f.label or "unlabelled" }}</td><td>{{ f.score }}</td><td>{{ f.frequency }}</td>
<td>{{ f.steering }}</td></tr>
{% endfor %}</tbody></table>
{% endblock %}
"""

FEATURE = """{% extends "base.html" %}
{% block title %}Feature {{ f.id }}{% if f.label %}: {{ f.label }}{% endif %}{% endblock %}
{% block body %}
<p><a href="index.html">All features</a></p>
<h1>Feature {{ f.id }}{% if f.label %}: {{ f.label }}{% endif %}</h1>
{% if f.description %}<p>{{ f.description }}</p>{% endif %}
<table class="stats"><tr><td>Active on</td><td>{{ f.frequency }} of frames</td>
<td>Clip rate</td><td>{{ f.clip_rate }}</td><td>Max activation</td><td>{{ f.max }}</td>
</tr></table>
<h2>Labels</h2>
{% if f.labels %}<ul>{% for sentence in f.labels %}<li>{{ sentence }}</li>{% endfor %}</ul>
{% else %}<p class="muted">No labels yet.</p>{% endif %}
<h2>Activation histogram</h2>
{{ f.histogram|safe }}
<p class="muted">Activations on the frames where the feature is active.</p>
<h2>Top clips</h2>
<div class="clips">
{% for c in f.clips %}<div class="clip"><div>#{{ c.rank }} {{ c.source }}
<span class="muted">at {{ c.start }} s, mean {{ c.mean }}, peak {{ c.peak }}</span></div>
{{ c.timeline|safe }}
{% if c.audio %}<img src="{{ c.spectrogram }}" alt="spectrogram of clip {{ c.rank }}">
<audio controls preload="metadata" src="{{ c.audio }}"></audio>
{% else %}<p class="muted">No cached audio for this clip.</p>{% endif %}
</div>
{% endfor %}</div>
<h2>Similar features</h2>
{% if f.neighbours %}<ul>{% for n in f.neighbours %}<li>
{% if n.page %}<a href="{{ n.page }}">#{{ n.id }}</a>{% else %}#{{ n.id }}{% endif %}
{{ n.label }} <span class="muted">(decoder cosine {{ n.cosine }})</span></li>{% endfor %}</ul>
{% else %}<p class="muted">No neighbours recorded.</p>{% endif %}
<h2>Steering</h2>
<p>{{ f.steering }}</p>
<p class="muted">No before/after audio: the database records the steering verdict, not its
takes.</p>
{% endblock %}
"""
