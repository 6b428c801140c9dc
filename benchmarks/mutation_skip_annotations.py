"""Mark a cosmic-ray session's pending mutants inside type annotations as skipped.

In a module with ``from __future__ import annotations`` an annotation is a string that is
never evaluated, so a mutant inside one (``float | None`` -> ``float - None``, ...) is
equivalent by construction, and each such survivor costs a full test run (up to a minute
on the shared machine). The mutants are recorded as skipped with the reason, not run; the
record in benchmarks/mutation.md counts them apart.

Usage: .venv/bin/python benchmarks/mutation_skip_annotations.py SESSION.sqlite MODULE.py
(with the run stopped: cosmic-ray reads the pending mutants when it starts.)
"""

from __future__ import annotations

import ast
import sqlite3
import sys

REASON = "skipped: inside an annotation, never evaluated (from __future__ import annotations)"


def annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    tree = ast.parse(source)
    if not any(isinstance(n, ast.ImportFrom) and n.module == "__future__"
               and any(a.name == "annotations" for a in n.names) for n in tree.body):
        raise SystemExit("the module does not have `from __future__ import annotations`")
    nodes = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            nodes.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns:
            nodes.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            nodes.append(node.annotation)
    return [((n.lineno, n.col_offset), (n.end_lineno, n.end_col_offset)) for n in nodes]


def main(session: str, module: str) -> None:
    with open(module) as f:
        spans = annotation_spans(f.read())
    with sqlite3.connect(session) as db:
        rows = db.execute(
            "SELECT s.job_id, s.start_pos_row, s.start_pos_col, s.end_pos_row, s.end_pos_col "
            "FROM mutation_specs s LEFT JOIN work_results r ON r.job_id = s.job_id "
            "WHERE r.job_id IS NULL").fetchall()
        skip = [job for job, r0, c0, r1, c1 in rows
                if any(a <= (r0, c0) and (r1, c1) <= b for a, b in spans)]
        db.executemany("INSERT INTO work_results (worker_outcome, output, test_outcome, diff, "
                       "job_id) VALUES ('SKIPPED', ?, NULL, NULL, ?)",
                       [(REASON, job) for job in skip])
    print(f"skipped {len(skip)} pending mutants inside annotations")


if __name__ == "__main__":
    main(*sys.argv[1:])
