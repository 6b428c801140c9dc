"""Carry a cosmic-ray session's results over to a fresh session of an edited module.

cosmic-ray names a mutant by (operator, occurrence): the n-th place the operator applies in
the file. After the module is edited, the n-th place can be another one, so an old session
cannot simply be resumed. This script applies every mutant of both sessions to its own
source (the old session's to the old file, the new one's to the current file), identifies a
mutant by its change (the changed lines with three lines of context, without line numbers)
and copies the old result of each mutant whose change is identical; the others stay pending.
Old results marked "not run" (``output`` starting with ``skipped: not run``) are not copied.
Each copied result is checked: its stored diff must be the change recomputed from OLD_SOURCE.

Usage: .venv/bin/python benchmarks/mutation_carry_over.py OLD.sqlite OLD_SOURCE NEW.sqlite MODULE.py
(NEW.sqlite: ``cosmic-ray init`` of MODULE.py; run SKIP_DEFS and the annotation skips first.)
"""

from __future__ import annotations

import difflib
import json
import sqlite3
import sys
from collections import Counter, defaultdict

from cosmic_ray.mutating import mutate_code
from cosmic_ray.plugins import get_operator

NOT_RUN = "skipped: not run"


def change(source: str, operator: str, occurrence: int, args: str) -> str:
    """The mutant's changed lines with context, without the hunk headers (line numbers)."""
    kwargs = json.loads(args or "{}")
    if isinstance(kwargs, str):  # the session stores the arguments as JSON text in JSON
        kwargs = json.loads(kwargs)
    mutated = mutate_code(source, get_operator(operator)(**kwargs), occurrence)
    if mutated is None:
        return ""
    return "\n".join(line for line in difflib.unified_diff(
        source.split("\n"), mutated.split("\n"), lineterm="")
        if not line.startswith(("---", "+++", "@@")))


def stored(diff: str) -> str:
    return "\n".join(line for line in diff.splitlines()
                     if not line.startswith(("---", "+++", "@@")))


def main(old: str, old_source: str, new: str, module: str) -> None:
    with open(old_source) as f:
        old_text = f.read()
    with open(module) as f:
        new_text = f.read()
    results = defaultdict(list)
    checked = Counter()
    with sqlite3.connect(old) as db:
        for op, occ, args, wo, out, to, diff in db.execute(
                "SELECT s.operator_name, s.occurrence, s.operator_args, r.worker_outcome, r.output, "
                "r.test_outcome, "
                "r.diff FROM mutation_specs s JOIN work_results r ON r.job_id = s.job_id "
                "WHERE r.worker_outcome != 'SKIPPED'"):
            key = change(old_text, op, occ, args)
            checked[stored(diff) == key] += 1
            results[key].append((wo, out, to))
    if checked[False]:
        raise SystemExit(f"{checked[False]} stored diffs differ from OLD_SOURCE's: wrong old source")
    copied = Counter()
    with sqlite3.connect(new) as db:
        pending = db.execute(
            "SELECT s.job_id, s.operator_name, s.occurrence, s.operator_args FROM mutation_specs s "
            "LEFT JOIN work_results r ON r.job_id = s.job_id WHERE r.job_id IS NULL").fetchall()
        rows = []
        for job, op, occ, args in pending:
            key = change(new_text, op, occ, args)
            if results.get(key):
                wo, out, to = results[key].pop()
                # The change (without hunk headers) as the diff: a session carried over
                # can itself be carried over again (a NULL diff broke the check above).
                rows.append((wo, f"carried over from {old}: {out or ''}"[:2000], to, key, job))
                copied[to] += 1
        db.executemany("INSERT INTO work_results (worker_outcome, output, test_outcome, diff, "
                       "job_id) VALUES (?, ?, ?, ?, ?)", rows)
    left = sum(map(len, results.values()))
    print(f"old results checked against OLD_SOURCE: {checked[True]}; copied: {dict(copied)}; "
          f"pending now: {len(pending) - len(rows)}; old results without a match (dropped): {left}")


if __name__ == "__main__":
    main(*sys.argv[1:])
