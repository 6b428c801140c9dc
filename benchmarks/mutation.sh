#!/usr/bin/env bash
# Mutation testing with cosmic-ray (mutates files in place, so it works with the
# package-dir layout, where mutmut's copied tree would be bypassed by the editable install).
#
# Usage:   [SKIP_DEFS="name ..."] [PRELOAD="module ..."] [RESUME=1|RETEST=1] bash benchmarks/mutation.sh MODULE TEST_ARGS...
# Example: bash benchmarks/mutation.sh diagnostics/hr_table.py tests/test_verdicts.py -k hr_table
#          SKIP_DEFS="plot" bash benchmarks/mutation.sh diagnostics/sbc.py tests/test_mutation_sbc.py
#
# SKIP_DEFS: functions/methods (by name) whose mutants are not run (marked skipped in the
#          session), e.g. plotting code outside the verdict being tested; say so in the record.
# PRELOAD: libraries to import once in a fork server (benchmarks/mutation_forkserver.py) that
#          runs each mutant's pytest in a forked child: 1-3 s per mutant instead of 5-25 s.
#          Never list the module under test or anything that imports it.
# RESUME=1: keep the session and run only its pending mutants (after an interrupted run).
# TIMEOUT: whole seconds before a mutant's test run counts as a timeout (default 120; raise it
#          when the machine is loaded: baselines at nice 19 under load 10+ took over 120 s).
# RETEST=1: keep the session, mark its survivors pending again and run them (after adding
#          tests that target them; the killed ones stay killed).
# Needs:   .venv/bin/python -m pip install cosmic-ray   (not a dev dependency: not run in CI)
# Output:  ${TMPDIR:-/tmp}/pexsurv-mutation-<module path, / as ->.sqlite (session) and a report on stdout; record the
#          result in benchmarks/mutation.md. Run on a clean work tree: cosmic-ray edits the
#          module in place and restores it after each mutant (check `git status` afterwards).
# Cost:    one pytest run per mutant: ~10-20 s when the tests import PyMC, ~4 s with the
#          tests/isolated.py loader; pytest's plugin autoloading (hypothesis, ...) is switched
#          off, which saves ~5 s per run. Never run the whole code base at once on the shared
#          2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
module="$1"; shift
# The session is named by the module's path (fitting/result.py -> fitting-result), not its
# base name: two result.py modules would otherwise share (and wipe) one session.
name="$(echo "${module%.py}" | tr '/' '-')"
config="$(mktemp --suffix=.toml)"
session="${TMPDIR:-/tmp}/pexsurv-mutation-${name}.sqlite"
runner=".venv/bin/python -m pytest"
# --tb=no: a killed mutant's traceback of a failing pandas/xarray assertion cost ~9 s
# (25 s vs 16 s per killed mutant, measured on fitting/convergence.py); only the outcome counts.
export PYTEST_DISABLE_PLUGIN_AUTOLOAD=1
# One BLAS/OpenMP thread: the fork server forks after numpy's import, and threads do not
# survive a fork (nor are they needed for these small tests).
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
if [ -n "${PRELOAD:-}" ]; then
    socket="${TMPDIR:-/tmp}/pexsurv-mutation-${name}.sock"
    rm -f "$socket"
    .venv/bin/python benchmarks/mutation_forkserver.py serve "$socket" --preload $PRELOAD &
    server=$!
    trap 'rm -f "$config"; kill $server' EXIT
    until [ -S "$socket" ]; do sleep 1; done
    runner=".venv/bin/python benchmarks/mutation_forkserver.py run $socket"
else
    trap 'rm -f "$config"' EXIT
fi
cat > "$config" <<TOML
[cosmic-ray]
module-path = "$module"
timeout = ${TIMEOUT:-120}.0
excluded-modules = []
test-command = "$runner -x -q --tb=no -p no:cacheprovider $*"

[cosmic-ray.distributor]
name = "local"
TOML
if [ -n "${RETEST:-}" ]; then
    RESUME=1
    .venv/bin/python - "$session" <<'PY'
import sqlite3, sys
with sqlite3.connect(sys.argv[1]) as db:
    n = db.execute("DELETE FROM work_results WHERE test_outcome = 'SURVIVED'").rowcount
print(f"retesting {n} survivors")
PY
fi
if [ -z "${RESUME:-}" ]; then
rm -f "$session"
.venv/bin/cosmic-ray init "$config" "$session"
fi
if [ -n "${SKIP_DEFS:-}" ] && [ -z "${RESUME:-}" ]; then
    .venv/bin/python - "$session" $SKIP_DEFS <<'PY'
import sys
from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import WorkerOutcome, WorkResult
session, names = sys.argv[1], set(sys.argv[2:])
with use_db(session, WorkDB.Mode.open) as db:
    skip = [item.job_id for item in db.pending_work_items
            if any(m.definition_name in names for m in item.mutations)]
    if skip:
        db.set_multiple_results(skip, WorkResult(output=f"skipped: in {sorted(names)}",
                                                 worker_outcome=WorkerOutcome.SKIPPED))
print(f"skipped {len(skip)} mutants in {sorted(names)}")
PY
fi
.venv/bin/cosmic-ray baseline "$config"
.venv/bin/cosmic-ray exec "$config" "$session"
.venv/bin/cr-report --show-pending "$session"
# The module must be restored. Outside a git work tree (a bare `git archive` copy) there is
# nothing to compare with: say so instead of failing with git's exit status 129.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git diff --exit-code -- "$module"
else
    echo "not a git work tree: check by hand that $module is unchanged" >&2
fi
