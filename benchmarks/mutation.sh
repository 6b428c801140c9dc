#!/usr/bin/env bash
# Mutation testing with cosmic-ray (mutates files in place, so it works with the
# package-dir layout, where mutmut's copied tree would be bypassed by the editable install).
#
# Usage:   bash benchmarks/mutation.sh MODULE TEST_ARGS...
# Example: bash benchmarks/mutation.sh diagnostics/hr_table.py tests/test_verdicts.py -k hr_table
#
# Needs:   .venv/bin/python -m pip install cosmic-ray   (not a dev dependency: not run in CI)
# Output:  ${TMPDIR:-/tmp}/pexsurv-mutation-<module>.sqlite (session) and a report on stdout; record the
#          result in benchmarks/mutation.md. Run on a clean work tree: cosmic-ray edits the
#          module in place and restores it after each mutant (check `git status` afterwards).
# Cost:    one pytest run per mutant (~10 s each here, most of it importing PyMC); run one
#          module at a time, never the whole code base on the shared 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
module="$1"; shift
name="$(basename "$module" .py)"
config="$(mktemp --suffix=.toml)"
session="${TMPDIR:-/tmp}/pexsurv-mutation-${name}.sqlite"
trap 'rm -f "$config"' EXIT
cat > "$config" <<TOML
[cosmic-ray]
module-path = "$module"
timeout = 120.0
excluded-modules = []
test-command = ".venv/bin/python -m pytest -x -q -p no:cacheprovider $*"

[cosmic-ray.distributor]
name = "local"
TOML
rm -f "$session"
.venv/bin/cosmic-ray init "$config" "$session"
.venv/bin/cosmic-ray baseline "$config"
.venv/bin/cosmic-ray exec "$config" "$session"
.venv/bin/cr-report --show-pending "$session"
git diff --exit-code -- "$module"  # the module must be restored
