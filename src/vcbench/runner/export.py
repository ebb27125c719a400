"""Export a benchmark's splits for models that run outside vcbench.

``export_splits(spec, out)`` prepares every split of the spec (as ``vcbench run`` does: made, checked
for leakage, genes selected on the training cells) and writes, per split, under
``OUT/DATASET/SCENARIO-VARIANT/seedSEED/``:

- ``train.h5ad``: the training cells (standard form: ``X`` log1p-normalised, ``obs`` columns
  ``vcb_context``, ``vcb_perturbation``, ``vcb_is_control``, ``vcb_targets`` ...);
- ``queries.h5ad``: the real control cells of the contexts to predict (the model's input);
- ``conditions.csv``: the conditions to predict (``vcb_context``, ``vcb_perturbation``, and
  ``vcb_dose`` for dose scenarios), one per line;

plus ``OUT/README.md`` describing the format and the prediction files vcbench expects back.
No test perturbed cell is written anywhere.
"""

from __future__ import annotations

from pathlib import Path

import anndata as ad

from vcbench.data import contract as c
from vcbench.errors import VcbenchError
from vcbench.files import (
    make_folder,
    write_h5ad_atomic,
    write_json_atomic,
    write_table_atomic,
    write_text_atomic,
)
from vcbench.runner.benchmark import DATA_FILE, SPLIT_FILE, prepare_splits
from vcbench.runner.grid import SplitJob
from vcbench.runner.spec import BenchmarkSpec
from vcbench.runner.store import OutputLock, ResultStore
from vcbench.runner.task import queries_for
from vcbench.scenarios.io import load_split

PREDICTION_FILE = "prediction.h5ad"

README = f"""\
# vcbench export

One folder per split: `DATASET/SCENARIO-VARIANT/seedSEED/`, holding

- `train.h5ad`: the training cells. `X` is log1p of library-size-normalised expression (target sum
  1e4); `obs` has `{c.CONTEXT}` (cell context), `{c.PERTURBATION}` (the condition; combinations
  `A+B`; controls carry the control label), `{c.IS_CONTROL}` and `{c.TARGETS}` (perturbed genes or
  compounds, `+`-joined). Fit your model on these cells only.
- `queries.h5ad`: the real control cells of every context you are asked to predict (your model's
  input: shift, transform or sample from them).
- `conditions.csv`: the conditions to predict, columns `{c.CONTEXT}` and `{c.PERTURBATION}`.
- `split.json`: the split's scenario, variant, seed and data fingerprint.

## What to write back

For each split, an h5ad file (for example `{PREDICTION_FILE}` in the split's folder) with

- the genes of `train.h5ad` as `var_names` (any order);
- one row per predicted cell (a few hundred per condition) or one mean row per condition (then the
  distribution metrics are reported as not computable), log1p-normalised like `X`;
- `obs` columns `{c.CONTEXT}` and `{c.PERTURBATION}` naming each row's condition; every line of
  `conditions.csv` answered, nothing else; no NaN or infinite values.

Then name the files in the benchmark spec and run it; vcbench checks and scores them like any model:

```yaml
models:
  - name: my_model
    predictions: "EXPORT_DIR/{{split}}/{PREDICTION_FILE}"
```

The pattern's placeholders: `{{split}}` (the folder above), `{{dataset}}`, `{{scenario}}`,
`{{variant}}` and `{{seed}}`. A changed file is scored again on the next run.
"""


def export_split(data: ad.AnnData, job: SplitJob, split_file: Path, folder: Path) -> Path:
    """Write one prepared split's training cells, queries and conditions to ``folder``."""
    split = load_split(split_file)
    write_h5ad_atomic(data[split.mask(data, "train")].copy(), folder / "train.h5ad")
    queries = queries_for(data, split)
    write_h5ad_atomic(queries.controls, folder / "queries.h5ad")
    columns = c.condition_columns(split.test_conditions.columns)
    write_table_atomic(split.test_conditions[columns], folder / "conditions.csv")
    write_json_atomic(
        {
            "scenario": split.scenario,
            "variant": split.variant,
            "seed": split.seed,
            "params": split.params,
            "fingerprint": split.fingerprint,
            "split_id": job.split_id,
        },
        folder / "split.json",
    )
    return folder


def export_splits(spec: BenchmarkSpec, out: str | Path | None = None) -> list[Path]:
    """Prepare every split of ``spec`` (reusing those already in its output directory) and export
    them under ``out`` (default ``OUTPUT/export``); returns the split folders."""
    with OutputLock(spec.output):  # it prepares splits in the output folder, as a run does
        return _export_splits(spec, out)


def _export_splits(spec: BenchmarkSpec, out: str | Path | None) -> list[Path]:
    store = ResultStore(spec.output)
    out = Path(out) if out is not None else store.root / "export"
    make_folder(out)
    folders = []
    for job in prepare_splits(spec, store, force=False):
        source = store.split_dir(job.split_id)
        data = ad.read_h5ad(source / DATA_FILE)
        folder = out / job.folder
        if not folder.resolve().is_relative_to(
            out.resolve()
        ):  # pragma: no cover - labels are checked
            raise VcbenchError(f"Split folder {job.folder!r} would lie outside {out}.")
        folders.append(export_split(data, job, source / SPLIT_FILE, folder))
    write_text_atomic(README, out / "README.md")
    return folders
