# Sourced by the other scripts: create or reuse .venv inside the repo and install ppkpt into it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
STAMP=.venv/.ppkpt-installed
if [ ! -f "$STAMP" ] || [ setup.py -nt "$STAMP" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[test]"
  touch "$STAMP"
fi
export PYTHONWARNINGS="ignore:No ccache found"
export GLOG_minloglevel=2
PY="$ROOT/.venv/bin/python"
