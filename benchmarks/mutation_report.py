"""Markdown totals and survivor rows of a cosmic-ray session, for benchmarks/mutation.md.

Usage: .venv/bin/python benchmarks/mutation_report.py SESSION.sqlite

Prints the counts by outcome (skipped = left out by SKIP_DEFS) and one table row per surviving
mutant (line, function, the changed source line before -> after); the verdict column is left
for the person recording the run.
"""

from __future__ import annotations

import sqlite3
import sys
from collections import Counter


def main(session: str) -> None:
    db = sqlite3.connect(session)
    rows = db.execute(
        "SELECT s.start_pos_row, s.definition_name, r.test_outcome, r.worker_outcome, r.diff "
        "FROM mutation_specs s LEFT JOIN work_results r ON r.job_id = s.job_id "
        "ORDER BY s.start_pos_row, s.operator_name, s.occurrence").fetchall()
    outcome = Counter((test or worker or "pending").lower() for _, _, test, worker, _ in rows)
    print("| | mutants |\n|---|---|")
    print(f"| total | {len(rows)} |")
    for name in ("skipped", "killed", "survived", "incompetent", "pending"):
        if outcome[name]:
            print(f"| {name} | {outcome[name]} |")
    print("\n| line | in | mutant | verdict |\n|---|---|---|---|")
    for line, where, test, _, diff in rows:
        if test != "SURVIVED":
            continue
        changed = [d[1:].strip() for d in diff.splitlines()
                   if d[:1] in "+-" and not d.startswith(("+++", "---"))]
        before, after = (c.replace("|", "\\|") for c in changed[:2])
        print(f"| {line} | {where or 'module'} | `{before}` -> `{after}` | |")


if __name__ == "__main__":
    main(sys.argv[1])
