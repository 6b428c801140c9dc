#!/usr/bin/env bash
# Create the project virtual environment with a Python >= 3.12 and install pexsurv[dev].
# Usage: bash .ci/setup.sh [VENV_DIR]
set -euo pipefail
venv="${1:-.venv}"

find_python() {
    local c
    for c in python3.14 python3.13 python3.12; do
        if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; assert sys.version_info >= (3, 12)' >/dev/null 2>&1; then
            command -v "$c"; return 0
        fi
    done
    if command -v pyenv >/dev/null 2>&1; then
        for c in "$(pyenv root)"/versions/3.1[2-9]*/bin/python3; do
            if [ -x "$c" ] && "$c" -c 'import sys; assert sys.version_info >= (3, 12)' >/dev/null 2>&1; then
                echo "$c"; return 0
            fi
        done
    fi
    if command -v python3 >/dev/null 2>&1 && python3 -c 'import sys; assert sys.version_info >= (3, 12)' >/dev/null 2>&1; then
        command -v python3; return 0
    fi
    return 1
}

if ! py=$(find_python); then
    echo "pexsurv needs Python >= 3.12 (PyMC 6 requires it), and none was found." >&2
    echo "Looked for python3.12+ on PATH, \$(pyenv root)/versions/3.12*/bin/python3 and python3." >&2
    echo "Install one (e.g. 'pyenv install 3.12') and run this again." >&2
    exit 1
fi
echo "Using $py ($("$py" --version))"
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
# Strict editable mode installs a tree of links to the sources (build/__editable__.*), a plain
# folder that type checkers and editors follow (go-to-definition on pexsurv.models.X); the
# default mode maps models/ etc. into pexsurv with an import hook that static tools cannot
# read. Trade-off: a new module file appears in the installed package only after re-running
# this install (edits to existing files show at once).
"$venv/bin/python" -m pip install --quiet -e ".[dev]" --config-settings editable_mode=strict
echo "pexsurv installed in $venv"
