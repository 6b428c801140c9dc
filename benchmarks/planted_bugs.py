"""Replay issue 18's eight planted bugs on the current code: each must fail the suite.

Issue 18 planted eleven plausible one-line bugs, one at a time, in a copy of the code
(commit e8bc467); the suite caught three. The tests written for the other eight each record
a planting at the commit they were written against (tests/test_verdicts.py,
tests/test_rpsft_stage2.py, tests/test_sbc_alignment.py). The code has moved since; this
script plants each bug again, one at a time, in a ``git archive`` copy of HEAD (the package laid out
as installed, imported through ``PYTHONPATH`` ahead of the editable install), runs the test
modules that target it, and records which tests fail. A plant whose text is not found
exactly once stops the script: the bug must be re-located by hand, never skipped.

Run from the project root (not in CI: 2.9 min at a load average of 1, 9.4 min at 6, on 2 cores)::

    .venv/bin/python benchmarks/planted_bugs.py            # all eight + the unplanted baseline
    .venv/bin/python benchmarks/planted_bugs.py --only 4   # one bug (1-based)

It writes ``benchmarks/planted_bugs.md`` (with ``--only``, prints the rows instead).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv/bin/python")
SUBPACKAGES = ("models", "priors", "fitting", "diagnostics")


@dataclass(frozen=True)
class Plant:
    bug: str          # as issue 18's table names it
    path: str         # file, relative to the project root
    old: str          # text that must occur exactly once in the file
    new: str
    tests: tuple[str, ...]


PLANTS = (
    Plant("P(HR < 1) computed as P(HR > 1)", "diagnostics/hr_table.py",
          '"p_hr_lt_1": float(np.mean(hr < 1.0))', '"p_hr_lt_1": float(np.mean(hr > 1.0))',
          ("tests/test_verdicts.py",)),
    Plant('ESS rule "bulk AND tail" changed to "bulk OR tail"', "fitting/convergence.py",
          'table["ess_ok"] = (table["ess_bulk"] >= THRESHOLDS["ess_bulk"]) & (',
          'table["ess_ok"] = (table["ess_bulk"] >= THRESHOLDS["ess_bulk"]) | (',
          ("tests/test_verdicts.py",)),
    Plant("ESS threshold 400 lowered to 100", "fitting/convergence.py",
          '"ess_bulk": 400.0, "ess_tail": 400.0', '"ess_bulk": 100.0, "ess_tail": 100.0',
          ("tests/test_verdicts.py",)),
    Plant("every RPSFT stage-2 fit given the same seed", "fitting/rpsft.py",
          "idata, _ = compiled.sample(dataclasses.replace(stage2, seed=int(seeds[i])))",
          "idata, _ = compiled.sample(dataclasses.replace(stage2, seed=int(seeds[0])))",
          ("tests/test_rpsft_stage2.py",)),
    Plant("RPSFT stage 2 fitted at psi = 0 (plain ITT)", "fitting/rpsft.py",
          "cf = counterfactual_data(data, float(psi), **opts)",
          "cf = counterfactual_data(data, 0.0, **opts)",
          ("tests/test_rpsft_stage2.py",)),
    Plant("SBC replicates all simulated from prior draw 0 while ranks use draw j",
          "pexsurv/workflows/sbc.py",
          "trial = simulate(data, hazards, j, rng)", "trial = simulate(data, hazards, 0, rng)",
          ("tests/test_sbc_alignment.py",)),
    Plant("prior-sensitivity verdict inverted", "diagnostics/sensitivity.py",
          'passed=bool((table["prior"] < threshold).all())',
          'passed=not bool((table["prior"] < threshold).all())',
          ("tests/test_verdicts.py",)),
    Plant("experimental-arm switch-off ignored", "pexsurv/data.py",
          "off[switched_away] = self.switch_time[switched_away]", "pass",
          ("tests/test_intervals.py", "tests/test_data.py")),
)


def head_copy(dest: Path) -> None:
    """``git archive HEAD`` into ``dest``; the package laid out as installed in ``dest/pkg``."""
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    pkg = dest / "pkg"
    pkg.mkdir()
    # Moved, not copied: pytest runs in ``dest``, which is first on sys.path, and a
    # top-level ``pexsurv/`` left there would shadow the planted one.
    shutil.move(dest / "pexsurv", pkg / "pexsurv")
    for sub in SUBPACKAGES:
        shutil.move(dest / sub, pkg / "pexsurv" / sub)


def installed(p: Plant) -> Path:
    """``p.path`` in the installed layout (``fitting/x.py`` -> ``pexsurv/fitting/x.py``)."""
    rel = Path(p.path)
    return rel if rel.parts[0] == "pexsurv" else Path("pexsurv") / rel


@contextlib.contextmanager
def planted(copy: Path, p: Plant) -> Iterator[int]:
    """``p`` applied in the copy's installed layout while the block runs (the file restored
    after it); yields the 1-based line it changed."""
    target = copy / "pkg" / installed(p)
    text = target.read_text()
    if text.count(p.old) != 1:
        sys.exit(f"{p.path}: the text of '{p.bug}' occurs {text.count(p.old)} times "
                 f"(must be once): re-locate it\n  {p.old}")
    target.write_text(text.replace(p.old, p.new))
    try:
        yield text[:text.index(p.old)].count("\n") + 1
    finally:
        target.write_text(text)


def _env(copy: Path) -> dict[str, str]:
    # No bytecode files: a plant and its restore may leave a file of one size within one
    # second, which a cached .pyc (keyed by mtime and size) would not notice.
    return {**os.environ, "PYTHONPATH": f"{copy / 'pkg'}{os.pathsep}{copy / 'tests'}",
            "PYTHONDONTWRITEBYTECODE": "1"}


def check_imported(copy: Path, p: Plant) -> None:
    """Stop unless the tests' Python imports the planted file (not the editable install's,
    which would test the unplanted code)."""
    dotted = ".".join(installed(p).with_suffix("").parts)
    code = f"import importlib; print(importlib.import_module({dotted!r}).__file__)"
    where = subprocess.run([PYTHON, "-c", code], cwd=copy, env=_env(copy), capture_output=True,
                           text=True, check=True).stdout
    if Path(where.strip()) != copy / "pkg" / installed(p):
        sys.exit(f"{dotted} is imported from {where.strip()}, not the planted copy")


def run_tests(copy: Path, tests: tuple[str, ...]) -> tuple[int, list[str], float]:
    """pytest on ``tests`` of the copy: exit status, failing test ids, seconds."""
    t0 = time.perf_counter()
    proc = subprocess.run([PYTHON, "-m", "pytest", "-q", "-rf", "--tb=no", "-p",
                           "no:cacheprovider", *tests],
                          cwd=copy, env=_env(copy), capture_output=True, text=True)
    failed = [line.split()[1] for line in proc.stdout.splitlines()
              if line.startswith("FAILED ")]
    return proc.returncode, failed, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", type=int, choices=range(1, len(PLANTS) + 1), metavar="N",
                        help=f"one bug, 1 to {len(PLANTS)}")
    args = parser.parse_args()
    chosen = list(enumerate(PLANTS, 1))
    if args.only:
        chosen = [chosen[args.only - 1]]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()
    rows = []
    with tempfile.TemporaryDirectory(prefix="pexsurv-planted-") as tmp:
        base = Path(tmp) / "base"
        base.mkdir()
        head_copy(base)
        if not args.only:
            files = tuple(dict.fromkeys(t for p in PLANTS for t in p.tests))
            status, failed, seconds = run_tests(base, files)
            if status != 0:
                sys.exit(f"the unplanted tests fail ({failed}): fix them first")
            rows.append(f"| none (baseline) | | {', '.join(files)} | passed | {seconds:.0f} |")
        for i, p in chosen:
            with planted(base, p) as line:
                check_imported(base, p)
                status, failed, seconds = run_tests(base, p.tests)
            verdict = (f"**fails**: {', '.join(f.split('::')[-1] for f in failed)}" if failed
                       else f"**NOT CAUGHT** (pytest exit {status})")
            rows.append(f"| {i}. {p.bug} | `{p.path}:{line}` | {', '.join(p.tests)} | "
                        f"{verdict} | {seconds:.0f} |")
            print(rows[-1], flush=True)
    load = os.getloadavg()[0]
    table = "\n".join(["| planted bug | where (now) | tests run | result | seconds |",
                       "|---|---|---|---|---|", *rows])
    if args.only:
        print(table)
        return
    (ROOT / "benchmarks/planted_bugs.md").write_text(
        "# Issue 18's eight planted bugs, replayed on the current code\n\n"
        f"Commit {commit}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
        f"at the end {load:.1f} (times are upper bounds: the machine is shared).\n"
        "Command: `.venv/bin/python benchmarks/planted_bugs.py` (each bug planted alone in a "
        "`git archive` copy of HEAD; the unplanted copy's tests pass first).\n\n"
        f"{table}\n")
    print(table)


if __name__ == "__main__":
    main()
