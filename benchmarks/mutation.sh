#!/usr/bin/env bash
# Mutation testing of the core modules (config: [tool.mutmut] in pyproject.toml; not run by CI).
# Mutates metrics/, scenarios/, runner/store.py and runner/grid.py, runs the tests that cover each
# mutant, and prints the score per module. About 20 min on 2 idle cores with -j 2; a pattern limits
# the run to some modules, e.g.  benchmarks/mutation.sh 'vcbench.runner.store*'
#     benchmarks/mutation.sh [-j N] [mutant-name-pattern ...]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=2
if [[ "${1:-}" == "-j" ]]; then jobs="$2"; shift 2; fi
python=${PYTHON:-python}
mutmut=$(dirname "$(command -v "$python")")/mutmut
# one BLAS/OpenMP thread per worker: the workers already use the cores
OMP_NUM_THREADS=1 "$mutmut" run --max-children "$jobs" "$@" || true
"$python" - <<'PY'
"""Score per module from mutmut's results: killed / (killed + survived), timeouts as killed."""
import collections
import subprocess

out = subprocess.run(["mutmut", "results", "--all", "true"], capture_output=True, text=True).stdout
counts = collections.defaultdict(collections.Counter)
for line in out.splitlines():
    if ":" not in line:
        continue
    name, status = (s.strip() for s in line.rsplit(":", 1))
    module = name.split("__mutmut_")[0].rsplit(".", 1)[0]
    counts[module][status] += 1
print(f"{'module':45s} {'killed':>6s} {'survived':>8s} {'other':>5s} {'score':>6s}")
for module, c in sorted(counts.items()):
    killed = c["killed"] + c["timeout"]
    other = sum(c.values()) - killed - c["survived"]
    judged = killed + c["survived"]
    score = f"{killed / judged:.0%}" if judged else "-"
    print(f"{module:45s} {killed:6d} {c['survived']:8d} {other:5d} {score:>6s}")
PY
