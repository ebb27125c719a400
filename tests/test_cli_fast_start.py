"""The command line starts without importing the heavy libraries or the models (a structural check,
not a timing: benchmarks/bench_cli_start.py measures the time)."""

from __future__ import annotations

import json
import subprocess
import sys

import vcbench

HEAVY = (
    "torch",
    "scanpy",
    "anndata",
    "sklearn",
    "vcbench.models",
    "vcbench.metrics",
    "vcbench.runner",
)


def _imported_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_cli_imports_no_heavy_module() -> None:
    loaded = _imported_after("import vcbench.cli")
    assert "vcbench.cli.run" in loaded  # the commands are defined...
    heavy = [m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert heavy == []  # ...without their dependencies


def test_import_vcbench_imports_no_torch_and_stays_lazy() -> None:
    loaded = _imported_after("import vcbench")
    assert not [m for m in loaded if m.split(".")[0] in {"torch", "scanpy", "anndata"}]
    loaded = _imported_after("import vcbench; vcbench.evaluate")
    assert "vcbench.api" in loaded and "torch" not in loaded


def test_help_and_version_run_without_heavy_imports() -> None:
    probe = (
        "import sys\nfrom vcbench.cli import app\n"
        "for args in (['--help'], ['--version'], ['run', '--help']):\n"
        "    try:\n        app(args)\n    except SystemExit:\n        pass\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'scanpy', 'anndata')]\n"
        "print('HEAVY', bad)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert vcbench.__version__ in done.stdout
    assert "HEAVY []" in done.stdout, done.stdout[-500:]
