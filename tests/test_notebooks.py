"""The notebooks run top to bottom, at the reduced budget CI uses, and their figures are
labelled.

Each ``notebooks/NN_*.py`` (jupytext percent format, the reviewed source) is converted to
a notebook in memory and executed by a Jupyter kernel (nbclient) in the notebooks folder
with ``PEXSURV_FAST=1``. A cell that raises fails the test. Two cells are wrapped around
the notebook: the first records every matplotlib figure made while it runs (the notebook's
own and the package's), the last audits them: a title, labelled axes (panels sharing an
axis may label it once), where an axes holds two or more labelled artists a legend, and a
legend title where the legend's entries are bare numbers. Warnings printed by a cell fail the test unless the cell is tagged ``warning-expected`` (the
notebook then explains them).

Tables are rounded to what the Monte Carlo error supports (issue 16): every ``value (MCSE)``
a notebook prints shows no digit beyond its MCSE's last one, and a fixed ``round(...)`` in
a notebook must say on its line (``# precision: ...``) why its numbers are data or have a
bounded error, rather than Monte Carlo summaries for the helpers of
``pexsurv.workflows.rounding``.
"""

from __future__ import annotations

import doctest
import importlib.util
import re
import sys
import time
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
CELL_TIMEOUT = 600  # seconds; the whole set runs in a few minutes at the reduced budget
WARNING_TAG = "warning-expected"
# Printed by tqdm (imported by the sampling stack) in any Jupyter kernel without
# ipywidgets: a notice about the environment, not about the analysis.
ENVIRONMENT_NOTICES = ("TqdmWarning: IProgress not found",)

RECORD_FIGURES = """\
import matplotlib.figure as _mf
_RECORDED_FIGURES = []
_figure_init = _mf.Figure.__init__
def _recording_init(self, *args, **kwargs):
    _figure_init(self, *args, **kwargs)
    _RECORDED_FIGURES.append(self)
_mf.Figure.__init__ = _recording_init
"""

AUDIT_FIGURES = """\
def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True

def _audit(fig):
    problems = []
    axes = [ax for ax in fig.axes if ax.has_data()]
    if not axes:
        return problems
    suptitle = fig._suptitle.get_text() if fig._suptitle is not None else ""
    name = suptitle or next((ax.get_title() for ax in axes if ax.get_title()), "untitled")
    if not suptitle and not all(ax.get_title() for ax in axes):
        problems.append("an axes without a title")
    for ax in axes:
        # Panels sharing an axis (sharex / sharey) may label it once.
        if not any(a.get_xlabel() for a in ax.get_shared_x_axes().get_siblings(ax)):
            problems.append(f"axes '{ax.get_title()}': no x-axis label")
        if not any(a.get_ylabel() for a in ax.get_shared_y_axes().get_siblings(ax)):
            problems.append(f"axes '{ax.get_title()}': no y-axis label")
    needs_legend = any(len(ax.get_legend_handles_labels()[1]) >= 2 for ax in axes)
    has_legend = bool(fig.legends) or any(ax.get_legend() is not None for ax in fig.axes)
    if needs_legend and not has_legend:
        problems.append("two or more labelled artists but no legend")
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    for legend in legends:
        labels = [t.get_text() for t in legend.get_texts()]
        if labels and all(_is_number(x) for x in labels) and not legend.get_title().get_text():
            problems.append(f"legend entries {labels} are bare numbers without a legend title")
    return [f"figure '{name}': {p}" for p in problems]

_problems = [p for fig in _RECORDED_FIGURES for p in _audit(fig)]
assert _RECORDED_FIGURES, "the notebook made no figure"
assert not _problems, "unlabelled figures:\\n" + "\\n".join(_problems)
print(f"{len(_RECORDED_FIGURES)} figures audited")
"""


# "value (MCSE)" as printed by pexsurv.workflows.rounding.with_mcse: two plain numbers.
VALUE_AND_MCSE = re.compile(r"(?<![\w.(])(-?\d+(?:\.\d+)?) \((\d+(?:\.\d+)?)\)(?![\w.])")
FIXED_ROUNDING = re.compile(r"\bround\(")
PRECISION_NOTE = "# precision:"


def _decimals(number: str) -> int:
    return len(number.split(".")[1]) if "." in number else 0


def _finer_than_mcse(text: str) -> list[str]:
    """Every "value (MCSE)" in ``text`` whose value shows a digit beyond the MCSE's last."""
    return [m[0] for m in VALUE_AND_MCSE.finditer(text)
            if float(m[2]) > 0 and _decimals(m[1]) > _decimals(m[2])]


def _output_text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                parts.append(out.text)
            elif out.output_type in ("execute_result", "display_data"):
                parts.append(out.data.get("text/plain", ""))
    return "\n".join(parts)


def _printed_warnings(nb: nbformat.NotebookNode) -> list[str]:
    """Warning lines a cell printed on stderr, from cells not tagged ``warning-expected``."""
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or WARNING_TAG in cell.metadata.get("tags", []):
            continue
        for out in cell.get("outputs", []):
            if out.output_type == "stream" and out.name == "stderr":
                found += [f"cell {i}: {line}" for line in out.text.splitlines()
                          if "Warning" in line
                          and not any(n in line for n in ENVIRONMENT_NOTICES)]
    return found


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_runs(path, monkeypatch):
    monkeypatch.setenv("PEXSURV_FAST", "1")
    nb = jupytext.read(path)
    nb.cells.insert(0, nbformat.v4.new_code_cell(RECORD_FIGURES))
    nb.cells.append(nbformat.v4.new_code_cell(AUDIT_FIGURES))
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    start = time.perf_counter()
    client.execute()  # a cell that raises fails here, with its traceback
    seconds = time.perf_counter() - start
    assert not _printed_warnings(nb), "\n".join(_printed_warnings(nb))
    finer = _finer_than_mcse(_output_text(nb))
    assert not finer, f"values shown finer than their Monte Carlo SE: {finer}"
    print(f"{path.name}: {seconds:.0f} s")


def test_mcse_check_catches_false_digits():
    """The output check flags a value with a digit its MCSE does not support, and nothing
    else (counts in brackets, intervals, an MCSE of 0)."""
    assert _finer_than_mcse("power 0.812 (0.04), bias -0.13 (0.1)") == ["0.812 (0.04)",
                                                                        "-0.13 (0.1)"]
    assert _finer_than_mcse("0.81 (0.04)  0 (0)  0.8 (0.2)  120 (10)  0.34 (0.24 to 0.50) "
                            "P(HR < 1) 0.97 (n = 108) f(0.12 (0.1))") == []


def test_notebooks_round_only_data_to_fixed_decimals():
    """A fixed round(...) in a notebook code cell says why (``# precision: ...``): data, a
    count, or a bound on its Monte Carlo error. Posterior and simulation summaries go
    through pexsurv.workflows.rounding instead."""
    unexplained = []
    for path in PATHS:
        for cell in jupytext.read(path).cells:
            if cell.cell_type != "code":
                continue
            unexplained += [f"{path.name}: {line.strip()}" for line in cell.source.splitlines()
                            if FIXED_ROUNDING.search(line.split("#")[0])
                            and PRECISION_NOTE not in line]
    assert not unexplained, "fixed rounding without a '# precision:' reason:\n" + \
        "\n".join(unexplained)


def test_there_are_notebooks():
    assert [p.stem[:2] for p in PATHS] == ["01", "02", "03", "04", "05", "06"]


def test_notebook_sources_are_percent_scripts_paired_with_ipynb():
    """The .py files are the reviewed source: jupytext percent format, paired with an
    .ipynb that Jupyter writes beside them and git ignores (outputs are never committed)."""
    for path in PATHS:
        header = path.read_text().split("# ---", 2)[1]
        assert "format_name: percent" in header and "formats: ipynb,py:percent" in header
    assert "*.ipynb" in (NOTEBOOKS / ".gitignore").read_text().split()


def _budget_module(monkeypatch):
    """A fresh import of notebooks/budget.py (it reads the environment when imported)."""
    spec = importlib.util.spec_from_file_location("budget", NOTEBOOKS / "budget.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "budget", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_budget_reads_one_variable(monkeypatch):
    monkeypatch.setenv("PEXSURV_FAST", "1")
    fast = _budget_module(monkeypatch)
    monkeypatch.delenv("PEXSURV_FAST")
    full = _budget_module(monkeypatch)
    assert fast.FAST and not full.FAST
    for field in ("psi_draws", "boot", "trials", "truth_n", "ppc_draws"):
        assert getattr(fast.BUDGET, field) < getattr(full.BUDGET, field), field
    monkeypatch.setenv("PEXSURV_FAST", "yes")
    with pytest.raises(ValueError, match="PEXSURV_FAST='yes'"):
        _budget_module(monkeypatch)


def test_budget_docstrings(monkeypatch):
    monkeypatch.syspath_prepend(str(NOTEBOOKS))
    failures, _ = doctest.testmod(_budget_module(monkeypatch))
    assert failures == 0
