"""``vcbench models``, ``metrics`` and ``scenarios``: every registered entry, as a table and JSON."""

from __future__ import annotations

import importlib.util
import json

from typer.testing import CliRunner

from vcbench.cli import app
from vcbench.metrics.registry import METRICS, PROFILES
from vcbench.models.registry import LAZY_MODELS, model_names
from vcbench.scenarios.registry import SCENARIOS

runner = CliRunner()


def _json(command: str) -> list[dict]:
    result = runner.invoke(app, [command, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_models_lists_every_model_with_its_extra() -> None:
    rows = {row["name"]: row for row in _json("models")}
    assert set(rows) == set(model_names())
    assert all(row["description"] and row["family"] for row in rows.values())
    assert rows["no_change"]["extra"] is None and rows["no_change"]["installed"] is True
    for name, (_, extra) in LAZY_MODELS.items():
        assert rows[name]["extra"] == extra
    # the installed flag follows the environment
    assert rows["cpa"]["installed"] is (importlib.util.find_spec("torch") is not None)


def test_metrics_and_scenarios_list_everything() -> None:
    rows = {row["name"]: row for row in _json("metrics")}
    assert set(rows) == set(METRICS)
    assert all(row["description"] for row in rows.values())
    assert "paper" in rows["sinkhorn"]["profiles"] and "fast" not in rows["sinkhorn"]["profiles"]
    assert sum("paper" in r["profiles"] for r in rows.values()) == len(PROFILES["paper"])
    scenarios = _json("scenarios")
    assert {(r["name"], r["variant"]) for r in scenarios} == {
        (s, v) for s, variants in SCENARIOS.items() for v in variants
    }
    assert all(r["description"] for r in scenarios)
    combo = next(r for r in scenarios if r["variant"] == "combo")
    assert "unseen_fraction" in combo["options"]


def test_tables_print() -> None:
    for command, text in (
        ("models", "gears_official"),
        ("metrics", "pdcorr"),
        ("scenarios", "few_shot"),
    ):
        result = runner.invoke(app, [command], terminal_width=200)
        assert result.exit_code == 0 and text in result.output
