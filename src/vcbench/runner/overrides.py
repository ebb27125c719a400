"""Change a benchmark spec without editing it: narrow its models, scenarios, datasets and seeds, and
set any key by its dotted path (``--set jobs=4``, ``--set models.linear.params.ridge=0.5``).

``apply_overrides`` returns the new (validated) spec and a record of what was overridden, which the
runner writes to ``run.json`` so the output says exactly what ran.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from vcbench.errors import SpecError
from vcbench.runner.spec import BenchmarkSpec
from vcbench.suggest import did_you_mean


def _pick_models(data: dict[str, Any], names: Sequence[str]) -> list[dict[str, Any]]:
    """The spec's entries of these model names or labels; a name the spec lacks is a new entry."""
    by_name = {(m.get("label") or m["name"]): m for m in data["models"]}
    by_name |= {m["name"]: m for m in data["models"] if m["name"] not in by_name}
    return [by_name.get(name, {"name": name}) for name in names]


def _pick_scenarios(data: dict[str, Any], names: Sequence[str]) -> list[dict[str, Any]]:
    """The spec's scenario entries named ``NAME`` or ``NAME/VARIANT``; one the spec lacks is a new
    entry with the default options."""
    chosen = []
    for wanted in names:
        name, _, variant = wanted.partition("/")
        matching = [
            s
            for s in data["scenarios"]
            if s["name"] == name and (not variant or (s.get("variant") or "") == variant)
        ]
        chosen += matching or [{"name": name, **({"variant": variant} if variant else {})}]
    return chosen


def _pick_datasets(data: dict[str, Any], names: Sequence[str]) -> list[dict[str, Any]]:
    known = {d["name"]: d for d in data["datasets"]}
    unknown = [n for n in names if n not in known]
    if unknown:
        hints = "".join(did_you_mean(n, known) for n in unknown)
        raise SpecError(
            f"datasets={unknown}: the spec defines no such dataset{hints}; its datasets: "
            f"{list(known)}."
        )
    return [known[n] for n in names]


def _set_dotted(data: Any, key: str, value: Any) -> None:
    """Set ``key`` (dots between parts; a list part is an index or an entry's name/label)."""
    parts = key.split(".")
    node = data
    for position, part in enumerate(parts):
        last = position == len(parts) - 1
        where = ".".join(parts[: position + 1])
        if isinstance(node, list):
            if part.lstrip("-").isdigit():
                index = int(part)
                if not -len(node) <= index < len(node):
                    raise SpecError(f"set={key!r}: {where} is out of range ({len(node)} entries).")
            else:
                names = [e.get("label") or e.get("name") for e in node if isinstance(e, dict)]
                names_plain = [e.get("name") for e in node if isinstance(e, dict)]
                matches = [
                    i
                    for i, (a, b) in enumerate(zip(names, names_plain, strict=True))
                    if part in (a, b)
                ]
                if len(matches) != 1:
                    problem = "matches several entries" if matches else "matches no entry"
                    raise SpecError(
                        f"set={key!r}: {where} {problem}{did_you_mean(part, names)}; "
                        f"entries: {names} (or use an index)."
                    )
                index = matches[0]
            if last:
                node[index] = value
            else:
                node = node[index]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
        else:
            raise SpecError(f"set={key!r}: {'.'.join(parts[:position])} is not a mapping or list.")


def parse_assignment(text: str) -> tuple[str, Any]:
    """``key=value`` with the value read as YAML (``4`` is a number, ``[0, 1]`` a list)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise SpecError(f"set={text!r} is not KEY=VALUE; e.g. jobs=4.")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise SpecError(f"set={text!r}: the value is not valid YAML ({exc}).") from exc
    return key.strip(), value


def apply_overrides(
    spec: BenchmarkSpec,
    *,
    models: Sequence[str] | None = None,
    scenarios: Sequence[str] | None = None,
    datasets: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    assignments: Sequence[str] = (),
    settings: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
) -> tuple[BenchmarkSpec, dict[str, Any]]:
    """The spec with the overrides applied, and the record of them (only those given).

    ``assignments`` are ``KEY=VALUE`` texts (values read as YAML), ``settings`` the same as a
    mapping of dotted keys to values; ``options`` sets top-level keys (``output``, ``executor``,
    ``jobs``, ...), None values ignored.
    """
    data = spec.model_dump(mode="json")
    record: dict[str, Any] = {}
    for key, value in (options or {}).items():
        if value is not None:
            data[key] = str(value) if isinstance(value, Path) else value
            record[key] = data[key]
    if models:
        data["models"] = _pick_models(data, models)
        record["models"] = list(models)
    if scenarios:
        data["scenarios"] = _pick_scenarios(data, scenarios)
        record["scenarios"] = list(scenarios)
    if datasets:
        data["datasets"] = _pick_datasets(data, datasets)
        kept = set(datasets)
        narrowed = []
        for scenario in data["scenarios"]:
            if scenario.get("datasets") is not None:
                scenario["datasets"] = [d for d in scenario["datasets"] if d in kept]
                if not scenario["datasets"]:  # the scenario ran on none of the kept datasets
                    continue
            narrowed.append(scenario)
        if not narrowed:
            raise SpecError(f"datasets={list(datasets)}: no scenario of the spec runs on them.")
        data["scenarios"] = narrowed
        record["datasets"] = list(datasets)
    if seeds:
        if any(seed < 0 for seed in seeds):
            raise SpecError(f"seeds={list(seeds)}: seeds must be >= 0.")
        for scenario in data["scenarios"]:
            scenario["seeds"] = list(seeds)
        record["seeds"] = list(seeds)
    pairs = [parse_assignment(a) for a in assignments] + list((settings or {}).items())
    for key, value in pairs:
        _set_dotted(data, key, value)
        record.setdefault("set", {})[key] = value
    try:
        return BenchmarkSpec.model_validate(data), record
    except ValidationError as exc:
        problems = [
            f"  {'.'.join(map(str, e['loc'])) or '(top level)'}: "
            + ("unknown key (check its spelling)" if e["type"] == "extra_forbidden" else e["msg"])
            for e in exc.errors()
        ]
        raise SpecError(
            "The spec after the overrides is invalid:\n" + "\n".join(problems)
        ) from None
