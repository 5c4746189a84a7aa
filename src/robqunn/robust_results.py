"""Robust training's results across seeds (the robust profile): exact robust accuracy per feature layer, training
method and eps, from the exact tables (results/exact/seed<seed>/<model>.csv), as a table and as the Markdown that
docs/results.md holds (`robqunn robust-table`, so no number there is copied by hand)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from robqunn import stats
from robqunn.vocabulary import ModelSpec, TrainMethod


def robust_summary(tables: Mapping[tuple[int, str], pd.DataFrame]) -> pd.DataFrame:
    """One row per (layer, method, eps) of the exact tables ``{(seed, model): table}``: the certified fraction
    (robust_accuracy_lower) over the seeds, its mean with a 95% t-interval (one seed: its Wilson interval over
    the digits), the seeds' minimum and maximum, the seeds, and the largest gap to the upper bound (digits left
    undecided)."""
    rows = []
    for (seed, model), table in tables.items():
        spec = ModelSpec.from_name(model)
        layer = dataclasses.replace(spec, method=TrainMethod.STANDARD).name
        for row in table.itertuples():
            rows.append(
                {"layer": layer, "method": spec.method.value, "seed": seed, "eps": float(row.eps)}
                | {"lower": row.robust_accuracy_lower, "upper": row.robust_accuracy_upper, "n": row.n_evaluated}
            )
    frame = pd.DataFrame(rows)
    summary = []
    for (layer, method, eps), group in frame.groupby(["layer", "method", "eps"], sort=False):
        interval = _interval(group)
        summary.append(
            {"layer": layer, "method": method, "eps": eps, "mean": interval.mean, "ci_low": interval.low}
            | {"ci_high": interval.high, "min": group["lower"].min(), "max": group["lower"].max()}
            | {"seeds": len(group), "undecided_gap": float((group["upper"] - group["lower"]).max())}
        )
    order = {method.value: i for i, method in enumerate(TrainMethod)}
    result = pd.DataFrame(summary)
    return result.sort_values(["layer", "method", "eps"], key=lambda c: c.map(order) if c.name == "method" else c)


def _interval(group: pd.DataFrame) -> stats.Interval:
    return stats.accuracy_interval(group["lower"] * group["n"], group["n"])


def robust_markdown(summary: pd.DataFrame, eps: tuple[float, ...]) -> str:
    """The summary as a Markdown table: per (layer, method), the clean accuracy and the exact robust accuracy at
    each of ``eps`` (mean [95% interval]), and the seeds' range at the largest of them."""
    header = ["layer", "method", "seeds", "clean"] + [f"ε = {e:g}" for e in eps] + [f"seeds' range at ε = {eps[-1]:g}"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (layer, method), group in summary.groupby(["layer", "method"], sort=False):
        at = group.set_index("eps")
        cells = [layer, method, str(int(at["seeds"].max())), _cell(at.loc[0.0])]
        cells += [_cell(at.loc[e]) if e in at.index else "–" for e in eps]
        last = at.loc[eps[-1]] if eps[-1] in at.index else None
        cells.append("–" if last is None else f"{last['min']:.3f}–{last['max']:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(row: pd.Series) -> str:
    return f"{row['mean']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"


def read_exact_tables(folder: Path, seeds: list[int], models: list[str]) -> dict[tuple[int, str], pd.DataFrame]:
    """The exact tables of ``seeds`` x ``models`` under a study ``folder`` (robqunn.paths.EXACT_TABLE); a missing
    one is an error naming it (run the robust profile first)."""
    from robqunn import paths
    from robqunn.errors import DataError

    tables = {}
    for seed in seeds:
        for model in models:
            path = folder / paths.EXACT_TABLE.format(seed=seed, model=model)
            if not path.is_file():
                raise DataError(f"exact table {path} is missing: run the study (the robust profile) first")
            tables[(seed, model)] = pd.read_csv(path)
    return tables


def claims_markdown(tables: Mapping[tuple[int, str], pd.DataFrame], eps: float) -> str:
    """The robust-training claims (robqunn.claims.robust_claims) decided on the certified fractions of the exact
    tables at ``eps`` (train.robust.eps), as a Markdown list: verdict, then the evidence."""
    from robqunn.claims import robust_claims
    from robqunn.vocabulary import EXACT

    rows = [
        {"seed": seed, "source": model, "target": model, "kind": "white-box", "attack": EXACT, "eps": float(r.eps)}
        | {"n_correct": round(r.robust_accuracy_lower * r.n_evaluated), "n_evaluated": int(r.n_evaluated)}
        for (seed, model), table in tables.items()
        for r in table.itertuples()
    ]
    claims = robust_claims(pd.DataFrame(rows), eps)
    return "\n".join(f"- `{c['claim']}` ({c['basis']}): **{c['verdict']}**. {c['evidence']}" for c in claims)
