"""The hazard-ratio report as one self-contained HTML file: inline style, figures as
base64 PNG ``data:`` URIs, no scripts, no external links."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import pandas as pd
from matplotlib.figure import Figure

from pexsurv._version import __version__
from pexsurv.workflows import _figures as F

if TYPE_CHECKING:
    from pexsurv.workflows.report import HazardRatioReport

__all__ = ["render"]

_STYLE = """
body { font-family: sans-serif; margin: 1.5em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.5em; text-align: left; }
th { background: #eee; }
.banner { background: #b00020; color: #fff; font-size: 1.3em; font-weight: bold;
          padding: 0.8em 1em; border: 4px solid #600; margin-bottom: 1em; }
.ok { background: #e8f5e9; padding: 0.5em 1em; border: 1px solid #2e7d32; }
.failed { color: #b00020; font-weight: bold; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.85em; color: #555; }
.notes li { font-size: 0.85em; margin-bottom: 0.3em; }
"""


def _e(x: object) -> str:
    return html.escape(str(x))


def _table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in ["analysis", *frame.columns])
    body = []
    for idx, row in frame.iterrows():
        cells = "".join(
            f'<td class="failed">{_e(v)}</td>' if str(v) in ("FAILED", "NOT CONVERGED")
            else f"<td>{_e(v)}</td>" for v in row)
        body.append(f"<tr><th>{_e(idx)}</th>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _figure(fig: Figure, caption: str) -> str:
    title = fig.axes[0].get_title() if fig.axes else caption
    return (f'<figure><img src="data:image/png;base64,{F.png_base64(fig)}" alt="{_e(title)}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def render(report: HazardRatioReport) -> str:
    """The HTML text of ``report`` (see :meth:`HazardRatioReport.to_html`)."""
    unit, prob = report.time_unit, report.prob
    parts = [f"<h1>Posterior hazard-ratio report</h1>"
             f"<p>pexsurv {_e(__version__)}; {len(report.table)} analysis(es); time unit: "
             f"{_e(unit)}; {prob:.0%} credible intervals.</p>"]
    if report.banner:
        parts.insert(0, f'<div class="banner" role="alert">{_e(report.banner)}</div>')
    else:
        parts.append('<p class="ok">Every fit passed its convergence check.</p>')
    for title, frame in report.sections():
        parts.append(f"<h2>{_e(title)}</h2>{_table(frame)}")
    parts.append("<h2>Forest plot</h2>")
    parts.append(_figure(report.plot_forest(),
                         "Posterior median HR with its equal-tailed interval (circles) and the "
                         "Cox HR with its Wald interval (squares), per analysis (per period for "
                         "piecewise effects)."))
    for a in report.analyses:
        parts.append(f"<h2>{_e(a.label)}</h2><p>{_e(a.values['model'])}; population "
                     f"{_e(a.values['population'])}, clock from {_e(a.values['origin'])}; "
                     f"{_e(a.values['hr_definition'])}.</p>")
        parts.append(_figure(report.plot_survival(a.label),
                             "Kaplan-Meier per arm (steps), posterior median survival (dashed) "
                             f"with its {prob:.0%} credible band; numbers at risk below."))
        parts.append(_figure(report.plot_hr_posterior(a.label),
                             "Posterior draws of the hazard ratio with the threshold lines."))
        parts.append(_figure(report.plot_hazards(a.label),
                             "Posterior hazard per interval and arm (median and interval)."))
        ppc = a.checks["ppc"]
        if ppc.check is not None:
            parts.append(_figure(ppc.check.plot(time_unit=unit), ppc.text))
        items = "".join(
            f'<li><b>{_e(name)}</b>: <span class="{"failed" if o.failed else ""}">'
            f"{_e(o.status)}</span>. {_e(o.text)}</li>" for name, o in a.checks.items())
        parts.append(f"<h3>Diagnostics</h3><ul>{items}</ul>")
    notes = "".join(f"<li>{_e(n)}</li>" for n in report.footnotes)
    parts.append(f'<h2>Notes</h2><ul class="notes">{notes}</ul>')
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            "<title>pexsurv hazard-ratio report</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>\n")
