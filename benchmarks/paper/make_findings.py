"""Write docs/findings.md: vcbench's three findings on run outputs, side by side with the seed
paper's numbers (benchmarks/paper/paper_numbers.csv) for the same protocol.

    python benchmarks/paper/make_findings.py RESULTS_DIR... --out docs/findings.md

Each RESULTS_DIR is the output folder of `vcbench run` (results.parquet; records.parquet and
splits/ give the splits' measured shift). Also writes findings.csv (default: beside --out).
The page is generated: edit this script or the paper-numbers file, not the page.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from vcbench import __version__
from vcbench.analysis.findings import (
    FINDING_COLUMNS,
    HEADLINE,
    analyse,
    is_control,
    split_shifts,
    write_findings,
)

PAPER_NUMBERS = Path(__file__).with_name("paper_numbers.csv")
SPECS = Path(__file__).parent


def reproduce_commands(folders: list[Path], out: Path) -> str:
    """The commands that rebuild the page: the spec under benchmarks/paper whose ``output`` is each
    folder, then this script with the same folders."""
    import yaml

    outputs = {}
    for spec in sorted(SPECS.rglob("*.yaml")):
        output = yaml.safe_load(spec.read_text()).get("output")
        if output:
            outputs[Path(output)] = spec.relative_to(SPECS.parents[1]).as_posix()
    runs = [f"vcbench run {outputs.get(f, f'SPEC  # the spec that wrote {f}')}" for f in folders]
    script = "python benchmarks/paper/make_findings.py " + " ".join(str(f) for f in folders)
    return "\n".join([*runs, f"{script} --out {out}"])


# vcbench split category -> the paper's name. Before the rename (issue #15) vcbench counted the
# genes *seen* alone (combo_seenK); the paper counts the *unseen* ones (Combo Unseen K).
CATEGORY_CROSSWALK = {
    "single_unseen": "single",
    "combo_seen2": "combo_unseen0",
    "combo_seen1": "combo_unseen1",
    "combo_seen0": "combo_unseen2",
    "combo_unseen0": "combo_unseen0",
    "combo_unseen1": "combo_unseen1",
    "combo_unseen2": "combo_unseen2",
}
PAPER_CATEGORY_LABEL = {
    "single": "Single (Unseen 1)",
    "combo_unseen0": "Combo Unseen 0",
    "combo_unseen1": "Combo Unseen 1",
    "combo_unseen2": "Combo Unseen 2",
    "all": "all test conditions",
}
# The paper's model names -> vcbench's (docs/models.md). The paper's "Linear" (Fig. 2) and
# "Linear Additive" (Fig. 3) are PerturBench's LinearAdditive, a trained model: vcbench's
# `linear_additive` (torch extra), not the numpy `additive` baseline (the sum of the targets'
# measured single effects).
MODEL_CROSSWALK = {
    "Linear": "linear_additive",
    "Linear Additive": "linear_additive",
    "Latent Additive": "latent_additive",
    "DecoderOnly": "decoder_only",
    "CPA": "cpa",
    "BioLORD": "biolord",
    "Biolord": "biolord",
    "SAMS-VAE": "sams_vae",
    "scLAMBDA": "sclambda",
    "PRnet": "prnet",
    "GEARS": "gears",
    "STATE": "state",
    "GenePert": "genepert",
    "(all runs)": "(all models)",
}
METRIC_CROSSWALK = {
    "PCC": "pcc",
    "PDCorr": "pdcorr",
    "LFCSpear": "lfc_spearman",
    "LogFC": "lfc_cosine",
    "DEOverlap": "de_overlap",
    "RMSE": "rmse",
    "ED": "energy_distance",
    "SD": "sinkhorn",
}
BOUNDED = {"pcc", "pdcorr", "lfc_spearman", "lfc_cosine", "de_overlap", "pds"}
LARGE = 0.1  # absolute, for bounded metrics, relative changes and correlations
LARGE_RELATIVE = 0.25  # |gap| / |paper| for unbounded metrics (rmse, energy distance)


def load_runs(folders: list[Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The concatenated results of the run folders and their splits' shifts."""
    results, shifts = [], []
    for folder in folders:
        path = folder / "results.parquet"
        if not path.exists():
            raise SystemExit(f"{path} does not exist: pass output folders of `vcbench run`.")
        results.append(pd.read_parquet(path))
        shifts.append(split_shifts(folder))
    shifts = [s for s in shifts if not s.empty] or [pd.DataFrame(columns=["dataset", "shift"])]
    return pd.concat(results, ignore_index=True), pd.concat(shifts, ignore_index=True)


def read_paper_numbers(path: Path = PAPER_NUMBERS) -> pd.DataFrame:
    """The paper's numbers (comment lines start with '#')."""
    table = pd.read_csv(path, comment="#", dtype={"scenario": str, "variant": str})
    return table.fillna({"scenario": "", "variant": ""})


def paper_category(category: str) -> str:
    """The paper's name of a vcbench split category (unchanged when it has none)."""
    return CATEGORY_CROSSWALK.get(category, category)


def _category_mean(results: pd.DataFrame, row: pd.Series, model: str) -> pd.DataFrame:
    rows = results[
        (results["scenario"] == row["scenario"])
        & (results["variant"] == row["variant"])
        & (results["model"] == model)
        & (results["metric"] == row["metric"])
    ]
    if row["split_category"] != "all":
        rows = rows[rows["split_category"].map(paper_category) == row["split_category"]]
    per_seed = rows.groupby(["dataset", "seed"], observed=True)["value"].mean()
    return per_seed.groupby(level="dataset", observed=True).agg(["mean", "count"]).reset_index()


def _pearson(results: pd.DataFrame, pair: str) -> tuple[float, int]:
    a, b = pair.split("|")
    frame = results[~results["model"].map(is_control) & results["metric"].isin([a, b])]
    keys = ["dataset", "scenario", "variant", "seed", "model", "context", "perturbation"]
    wide = frame.pivot_table(
        index=[*keys, "split_category"], columns="metric", values="value", observed=True
    )
    if a not in wide or b not in wide:
        return (np.nan, 0)
    both = wide[[a, b]].dropna()
    if len(both) < 3 or both[a].nunique() < 2 or both[b].nunique() < 2:
        return (np.nan, len(both))
    return (float(stats.pearsonr(both[a], both[b]).statistic), len(both))


def compare(results: pd.DataFrame, strict: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """One row per paper number and matching vcbench value (NaN where nothing was run)."""
    rows = []
    for _, row in paper.iterrows():
        model = MODEL_CROSSWALK.get(row["paper_model"], row["paper_model"])
        base = {**row.to_dict(), "vcbench_model": model}
        if row["statistic"] == "pearson":  # within each dataset, pooled over its runs
            for dataset, by_dataset in results.groupby("dataset", sort=True):
                value, n = _pearson(by_dataset, row["metric"])
                rows.append({**base, "dataset": dataset, "vcbench": value, "n": n})
            continue
        if row["statistic"] == "relative_change":
            found = strict[
                (strict["scenario"] == row["scenario"])
                & (strict["variant"] == row["variant"])
                & (strict["model"] == model)
                & (strict["metric"] == row["metric"])
            ]
            matches = [(r["dataset"], r["relative"], r["n"]) for _, r in found.iterrows()]
        else:
            means = _category_mean(results, row, model)
            matches = [(r["dataset"], r["mean"], r["count"]) for _, r in means.iterrows()]
        ran = (
            (results["scenario"] == row["scenario"]) & (results["variant"] == row["variant"])
        ).any()
        for dataset, value, n in matches or [("undefined" if ran else "not run", np.nan, 0)]:
            rows.append({**base, "dataset": dataset, "vcbench": value, "n": n})
    table = pd.DataFrame(rows)
    table["gap"] = table["vcbench"] - table["value"]
    unbounded = (table["statistic"] == "mean") & ~table["metric"].isin(BOUNDED)
    scale = np.where(unbounded, table["value"].abs().replace(0, np.nan), 1.0)
    table["size"] = table["gap"].abs() / scale
    table["large"] = table["size"] >= np.where(unbounded, LARGE_RELATIVE, LARGE)
    return table


def _num(x: float) -> str:
    if not np.isfinite(x):
        return "–"
    return f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"


def _value(row: pd.Series, column: str) -> str:
    x = row[column]
    if row["statistic"] == "relative_change" and np.isfinite(x):
        return f"{100 * x:+.0f} %"
    return _num(x)


def _side_by_side(table: pd.DataFrame) -> list[str]:
    lines = []
    for protocol, rows in table.groupby("protocol", sort=False):
        lines += [f"### {protocol}", ""]
        lines.append(
            "| paper figure | category (paper) | metric | statistic | paper model → vcbench | "
            "dataset here | paper | vcbench | gap |"
        )
        lines.append("|---|---|---|---|---|---|---|---|---|")
        for _, r in rows.iterrows():
            gap = _value(r, "gap") + (" **large**" if r["large"] else "")
            variant = f"{r['scenario']}/{r['variant']}" if r["scenario"] else ""
            lines.append(
                f"| {r['figure']} [{r['kind']}] | "
                f"{PAPER_CATEGORY_LABEL.get(r['split_category'], r['split_category'])} "
                f"{variant} | {r['metric']} | {r['statistic']} | {r['paper_model']} → "
                f"{r['vcbench_model']} | {r['dataset']} | {_value(r, 'value')} | "
                f"{_value(r, 'vcbench')} | {gap} |"
            )
        lines.append("")
    return lines


def render(
    folders: list[Path],
    out: Path,
    results: pd.DataFrame,
    sentences: dict[str, list[str]],
    comparison: pd.DataFrame,
    csv_path: Path,
) -> str:
    """The findings page as Markdown."""
    tasks = results[["dataset", "scenario", "variant"]].drop_duplicates()
    models = sorted(m for m in results["model"].unique() if not is_control(m))
    lines = [
        "# vcbench's findings next to the seed paper's",
        "",
        "<!-- Generated by benchmarks/paper/make_findings.py; do not edit by hand. -->",
        "",
        "Reproduce this page (from the repository root):",
        "",
        "```",
        reproduce_commands(folders, out),
        "```",
        "",
        "Pass several run folders to pool them (e.g. every `results/paper_small/*`). "
        f"Generated with vcbench {__version__} from "
        + ", ".join(f"`{f}`" for f in folders)
        + f": {len(tasks)} task(s) ("
        + "; ".join(f"{d} {s}/{v}" for d, s, v in tasks.itertuples(index=False))
        + f"), models {', '.join(models)}, seeds "
        + ", ".join(str(s) for s in sorted(results["seed"].unique()))
        + ". Controls (technical replicate, perturbed mean, collapse) are left out of the "
        "findings. Definitions: `vcbench.analysis.findings`. All numbers of the findings are in "
        f"`{csv_path.name}` (columns {', '.join(FINDING_COLUMNS)}).",
        "",
        "## The paper's three findings, as vcbench states them here",
        "",
        "The paper (Mao et al., VCBench) finds that (1) performance varies across biological "
        "contexts, (2) it drops under strict evaluation and (3) different metrics rank models "
        f"differently. Headline metrics: {', '.join(HEADLINE)}.",
        "",
    ]
    titles = {
        "context_variation": "1. Context variation",
        "strict_drop": "2. Strict drop",
        "metric_disagreement": "3. Metric disagreement",
    }
    for key, title in titles.items():
        lines += [f"**{title}.**", ""]
        lines += [f"- {s}" for s in sentences[key]]
        lines.append("")
    lines += [
        "## Side by side with the paper",
        "",
        "Paper numbers: `benchmarks/paper/paper_numbers.csv` (Mao et al., VCBench, arXiv "
        "2604.27646; [D] printed in a figure, [E] estimated from a bar height). vcbench: the mean "
        "over seeds of the per-seed mean over test conditions; relative changes are (strict − "
        "random) / |random| of those means. A gap is **large** when it is at least "
        f"{LARGE} (correlations, overlaps, relative changes) or {int(100 * LARGE_RELATIVE)} % of "
        "the paper's value (RMSE, energy distance).",
        "",
        *_side_by_side(comparison),
        "## The largest gaps and their reasons",
        "",
    ]
    measured = comparison[np.isfinite(comparison["size"])]
    largest = measured.sort_values("size", ascending=False).drop_duplicates(
        ["protocol", "figure", "split_category", "metric", "statistic", "paper_model"]
    )
    large = largest[largest["large"]]
    if large.empty:
        lines += ["No large gap on the runs given.", ""]
    for _, r in large.iterrows():
        lines.append(
            f"- **{r['protocol']}, {r['figure']}, {r['metric']} "
            f"({PAPER_CATEGORY_LABEL.get(r['split_category'], r['split_category'])}, "
            f"{r['paper_model']} → {r['vcbench_model']})**: paper {_value(r, 'value')}, vcbench "
            f"{_value(r, 'vcbench')} on {r['dataset']}. Reason: {r['reason']}."
        )
    not_run = comparison[~np.isfinite(comparison["vcbench"])]
    lines += [
        "",
        f"{len(not_run)} of the paper's {len(comparison)} numbers have no vcbench counterpart in "
        'these runs: their protocol was not run ("not run"), or the metric is undefined for '
        'the model there ("undefined"; e.g. an LFC metric of a prediction with negative '
        "log-expression). Correlations between metrics (Fig. 5c) are computed within each "
        "dataset, pooled over its tasks, non-control models and test conditions.",
        "",
        "## Crosswalk",
        "",
        'Split categories (the paper\'s "Combo Unseen K" counts the *unseen* genes of a '
        "combination; vcbench named its categories by the *seen* genes, `combo_seenK`, before "
        "renaming them to the paper's `combo_unseenK`; the script accepts both):",
        "",
        "| vcbench | paper |",
        "|---|---|",
        *(f"| `{k}` | {PAPER_CATEGORY_LABEL[v]} (`{v}`) |" for k, v in CATEGORY_CROSSWALK.items()),
        "",
        "Models (paper → vcbench; the paper's Linear / Linear Additive is PerturBench's trained "
        "LinearAdditive, compared here with vcbench's trained `linear_additive`):",
        "",
        "| paper | vcbench |",
        "|---|---|",
        *(f"| {k} | `{v}` |" for k, v in MODEL_CROSSWALK.items() if k != "(all runs)"),
        "",
        "Metrics (paper → vcbench):",
        "",
        "| paper | vcbench |",
        "|---|---|",
        *(f"| {k} | `{v}` |" for k, v in METRIC_CROSSWALK.items()),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="output folders of `vcbench run`")
    parser.add_argument("--out", type=Path, default=Path("docs/findings.md"))
    parser.add_argument("--csv", type=Path, default=None, help="default: beside --out")
    parser.add_argument("--paper", type=Path, default=PAPER_NUMBERS)
    parser.add_argument("--n-boot", type=int, default=1000)
    args = parser.parse_args(argv)
    results, shifts = load_runs(args.folders)
    table, sentences = analyse(results, shifts, n_boot=args.n_boot)
    csv_path = args.csv or args.out.with_suffix(".csv")
    write_findings(table, csv_path)
    from vcbench.analysis.findings import strict_drop_test

    strict = strict_drop_test(results, metrics=sorted(set(results["metric"])), shifts=shifts)
    comparison = compare(results, strict, read_paper_numbers(args.paper))
    page = render(args.folders, args.out, results, sentences, comparison, csv_path)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    temporary = args.out.with_name(f".{args.out.name}.tmp")
    temporary.write_text(page)
    temporary.replace(args.out)
    print(f"wrote {args.out} and {csv_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
