"""The HTML report in a real browser (headless Debian chromium): no console or page errors,
every figure decoded and laid out with a visible size, and a screenshot for the record.

Skips, with the reason shown by ``pytest -ra``, where chromium is not installed (``.ci/run``
installs it)."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from pexsurv import datasets
from pexsurv.fitting import FitResult, SamplerConfig
from pexsurv.models import PiecewiseExponential
from pexsurv.testing import fake_posterior
from pexsurv.workflows import hazard_ratio_report

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium not installed (apt-get install chromium; .ci/run installs it): the HTML "
           "report was NOT checked in a browser")

CUTS = (4.0, 8.0)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=10000"]

# Runs first in <head>: records page errors (scripts and resources that fail to load) and
# console.error calls; on load, writes every figure's decoded size and laid-out box into
# <pre id="probe"> for --dump-dom to print.
PROBE = """<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  var t = e.target || {};
  window.__errors.push(e.message || ('failed to load ' + String(t.src || t.href || t.tagName).slice(0, 60)));
}, true);
var __consoleError = console.error;
console.error = function () {
  window.__errors.push('console.error: ' + Array.prototype.join.call(arguments, ' '));
  __consoleError.apply(console, arguments);
};
window.addEventListener('load', function () {
  var figures = Array.prototype.map.call(document.querySelectorAll('img, svg'), function (el) {
    var box = el.getBoundingClientRect();
    return {tag: el.tagName, alt: el.getAttribute('alt'), naturalWidth: el.naturalWidth || 0,
            naturalHeight: el.naturalHeight || 0, complete: el.complete === undefined ? true : el.complete,
            width: box.width, height: box.height,
            visible: getComputedStyle(el).visibility !== 'hidden' && getComputedStyle(el).display !== 'none'};
  });
  var out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify({errors: window.__errors, figures: figures});
  document.body.appendChild(out);
});
</script>"""


def _fake(data, hr, draws: int) -> FitResult:
    tree = fake_posterior(cuts=CUTS, hazards=(0.12, 0.09, 0.07), hr=hr, chains=4, draws=draws,
                          jitter=0.1, seed=7, arms=data.arms)
    spec = PiecewiseExponential(cuts=CUTS, effect="ph" if np.ndim(hr) == 0 else "piecewise")
    return FitResult(idata=tree, spec=spec, priors={}, data=data, sampler=SamplerConfig())


@pytest.fixture(scope="module")
def report_html(tmp_path_factory):
    data = datasets.ct041_like("os")
    report = hazard_ratio_report({"OS PH": _fake(data, 0.7, 1000),
                                  "OS piecewise": _fake(data, [0.5, 0.8, 1.1], 1000),
                                  "OS starved": _fake(data, 0.7, 20)},
                                 endpoint="OS", checks=False)
    path = report.to_html(tmp_path_factory.mktemp("html") / "report.html")
    return path, len(re.findall(r"<img ", path.read_text()))


def _chromium(*args: str, profile) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=180, check=True)


def test_report_renders_without_errors_and_every_figure_visible(report_html, tmp_path):
    path, n_img = report_html
    text = path.read_text()
    probed = tmp_path / "probed.html"
    probed.write_text(text.replace("<head>", "<head>" + PROBE, 1))
    out = _chromium("--dump-dom", probed.as_uri(), profile=tmp_path / "profile").stdout
    match = re.search(r'<pre id="probe">(.*?)</pre>', out, re.S)
    assert match, f"the probe did not run (page not loaded?); chromium printed: {out[:500]}"
    probe = json.loads(html.unescape(match.group(1)))
    assert probe["errors"] == []
    figures = probe["figures"]
    assert len(figures) == n_img == 1 + 3 * 3  # forest + (survival, HR, hazard) per analysis
    for fig in figures:
        assert fig["complete"] and fig["visible"], fig
        assert fig["naturalWidth"] > 300 and fig["naturalHeight"] > 200, fig  # PNG decoded
        assert fig["width"] > 300 and fig["height"] > 150, fig  # laid out at a visible size


def test_report_screenshot(report_html, tmp_path):
    path, _ = report_html
    shot = tmp_path / "report.png"
    _chromium(f"--screenshot={shot}", "--window-size=1280,3000", path.as_uri(),
              profile=tmp_path / "profile")
    from matplotlib.image import imread

    pixels = imread(shot)
    assert pixels.shape[:2] == (3000, 1280)
    # Not a blank page: the red banner (a starved fit) and figures give many distinct colours.
    assert np.unique(pixels.reshape(-1, pixels.shape[-1]).round(2), axis=0).shape[0] > 50
    red = (pixels[..., 0] > 0.6) & (pixels[..., 1] < 0.1) & (pixels[..., 2] < 0.2)
    assert red[:200].mean() > 0.05, "the convergence banner is not at the top"
    print(f"screenshot: {shot}")
