"""Figures of the study (matplotlib, PNG and SVG), after the paper's Fig. 3.

(a-c) white-box accuracy vs eps, one panel per attack, every model on one axis; (d) CNN-crafted
examples evaluated on each QuNN; (e) each QuNN's examples evaluated on the CNN; and a grid of clean
vs adversarial digits.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from robqunn.config import CNN, EXACT  # noqa: E402

FORMATS = ("png", "svg")


def _line_style(model: str) -> dict:
    """CNN thick black; rot_ent solid, ent_rot dashed, so both layouts share one axis."""
    if model == CNN:
        return {"color": "black", "linewidth": 2.5}
    return {"linestyle": "--" if model.endswith("ent_rot") else "-", "marker": "o"}


def _save(fig, stem: str | Path) -> list[Path]:
    """Write ``fig`` in every format, each atomically (a killed job leaves no half-written figure)."""
    from robqunn.io import atomic_path

    paths = [Path(f"{stem}.{fmt}") for fmt in FORMATS]
    for path in paths:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, bbox_inches="tight", format=path.suffix[1:])
    plt.close(fig)
    return paths


def _curves(ax, rows: pd.DataFrame, label_column: str, title: str) -> None:
    """One accuracy-vs-eps curve per value of ``label_column``, averaged over seeds."""
    for label, curve in rows.groupby(label_column):
        mean = curve.groupby("eps")["accuracy"].mean()
        ax.plot(mean.index, mean.to_numpy(), label=label, **_line_style(label))
    ax.set(title=title, xlabel="eps (L-inf)", ylabel="accuracy", ylim=(-0.02, 1.02))
    ax.grid(alpha=0.3)


def whitebox_figure(table: pd.DataFrame, attack: str, stem: str | Path) -> list[Path]:
    """Fig. 3a-c: white-box accuracy of every model under one attack (dashed), beside its exact robust
    accuracy (solid, same colour) where the table has it: the attack's curve can only lie on or above it."""
    white = table[table["kind"] == "white-box"]
    rows, exact = white[white["attack"] == attack], white[white["attack"] == EXACT]
    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    for index, (model, curve) in enumerate(rows.groupby("target")):
        style = _model_colour(model, index)
        ground_truth = exact[exact["target"] == model]
        if not ground_truth.empty:
            ax.plot(*_mean_curve(ground_truth), label=model, **style)
        ax.plot(*_mean_curve(curve), linestyle="--", label=None if not ground_truth.empty else model, **style)
    ax.set(title=f"white-box {attack.upper()} (dashed); exact robust accuracy (solid)", xlabel="eps (L-inf)")
    ax.set(ylabel="accuracy", ylim=(-0.02, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, stem)


def attack_gap_figure(table: pd.DataFrame, stem: str | Path) -> list[Path]:
    """The attack gap (attack accuracy - exact robust accuracy) against eps, one panel per attack, one line
    per model: how far each attack's accuracy overstates the model's robustness."""
    rows = table.dropna(subset=["attack_gap"])
    attacks = sorted(rows["attack"].unique()) or ["none"]
    fig, axes = plt.subplots(1, len(attacks), figsize=(4.5 * len(attacks), 4), squeeze=False, sharey=True)
    for ax, attack in zip(axes[0], attacks, strict=True):
        for index, (model, curve) in enumerate(rows[rows["attack"] == attack].groupby("target")):
            gap = curve.groupby("eps")["attack_gap"].mean()
            ax.plot(gap.index, gap.to_numpy(), label=model, **_model_colour(model, index))
        ax.set(title=f"{attack.upper()} - exact", xlabel="eps (L-inf)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("accuracy gap to the exact robust accuracy")
    axes[0][0].legend(fontsize=7)
    return _save(fig, stem)


def _model_colour(model: str, index: int) -> dict:
    """The CNN thick black, each QuNN its own colour."""
    if model == CNN:
        return {"color": "black", "linewidth": 2.5}
    return {"color": plt.get_cmap("tab20")(index % 20), "marker": "o", "markersize": 3}


def _mean_curve(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    mean = rows.groupby("eps")["accuracy"].mean()
    return mean.index.to_numpy(), mean.to_numpy()


def transfer_figure(table: pd.DataFrame, direction: str, stem: str | Path) -> list[Path]:
    """Fig. 3d (direction 'cnn_to_qunn') or 3e ('qunn_to_cnn'), one panel per attack."""
    transfer = table[table["kind"] == "transfer"]
    if direction == "cnn_to_qunn":
        rows, label, title = transfer[transfer["source"] == CNN], "target", "crafted on CNN, evaluated on"
    elif direction == "qunn_to_cnn":
        rows, label, title = transfer[transfer["target"] == CNN], "source", "crafted on QuNN, evaluated on CNN"
    else:
        raise ValueError(f"direction must be 'cnn_to_qunn' or 'qunn_to_cnn'; got {direction!r}")
    attacks = sorted(rows["attack"].unique())
    fig, axes = plt.subplots(1, max(len(attacks), 1), figsize=(5 * max(len(attacks), 1), 4.2), squeeze=False)
    for ax, attack in zip(axes[0], attacks, strict=False):
        _curves(ax, rows[rows["attack"] == attack], label, f"{attack.upper()}: {title}")
    if attacks:
        axes[0][0].legend(fontsize=7)
    else:
        axes[0][0].text(0.5, 0.5, "no transfer pairs in this study", ha="center", transform=axes[0][0].transAxes)
    return _save(fig, stem)


def examples_figure(
    clean: np.ndarray, adversarial: dict[float, np.ndarray], title: str, stem: str | Path
) -> list[Path]:
    """A grid: one row per eps (the first the clean digits), one column per digit.

    Drawn as one image (the digits tiled with a white gap) on one axes: a figure of an axes per digit
    took 1.3 s to save, 15 s of the figures job.
    """
    rows = [(0.0, clean)] + sorted((e, x) for e, x in adversarial.items() if e > 0)
    mosaic = _tiled([images for _, images in rows])
    n_rows, n_columns = len(rows), len(clean)
    fig, ax = plt.subplots(figsize=(1.2 * n_columns, 1.3 * n_rows))
    ax.imshow(mosaic, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    side = mosaic.shape[0] / n_rows
    ax.set_yticks([side * (i + 0.5) for i in range(n_rows)])
    ax.set_yticklabels(["clean" if eps == 0 else f"eps {eps:g}" for eps, _ in rows], fontsize=8)
    ax.set_xticks([])
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title)
    return _save(fig, stem)


def _tiled(rows: list[np.ndarray], gap: int = 2) -> np.ndarray:
    """Digit rows (each (n, h, w)) as one image, a white gap of ``gap`` pixels between digits."""
    n, height, width = rows[0].shape
    mosaic = np.ones((len(rows) * (height + gap) - gap, n * (width + gap) - gap), dtype=np.float32)
    for i, images in enumerate(rows):
        for j, image in enumerate(images):
            top, left = i * (height + gap), j * (width + gap)
            mosaic[top : top + height, left : left + width] = image
    return mosaic


def whitebox_ci_figure(summary: pd.DataFrame, stem: str | Path) -> list[Path]:
    """White-box accuracy against eps with its 95% interval as a band, one panel per attack
    (``summary``: robqunn.stats.summarize of the study's table)."""
    white = summary[summary["kind"] == "white-box"]
    return _ci_panels(white, "target", "white-box", stem)


def transfer_ci_figure(summary: pd.DataFrame, stem: str | Path) -> list[Path]:
    """Transfer accuracy against eps with 95% bands: CNN-crafted examples on each QuNN (top row),
    each QuNN's examples on the CNN (bottom row), one column per attack."""
    transfer = summary[summary["kind"] == "transfer"]
    rows = [
        (transfer[transfer["source"] == CNN], "target", "crafted on CNN, evaluated on"),
        (transfer[transfer["target"] == CNN], "source", "crafted on QuNN, evaluated on CNN"),
    ]
    return _ci_panels(transfer, None, "transfer", stem, rows)


def _ci_panels(frame: pd.DataFrame, label: str | None, title: str, stem: str | Path, rows=None) -> list[Path]:
    rows = rows or [(frame, label, title)]
    attacks = sorted(frame["attack"].unique()) or ["-"]
    fig, axes = plt.subplots(len(rows), len(attacks), figsize=(5 * len(attacks), 4.2 * len(rows)), squeeze=False)
    for ax_row, (points, column, what) in zip(axes, rows, strict=True):
        for ax, attack in zip(ax_row, attacks, strict=True):
            for name, curve in points[points["attack"] == attack].groupby(column):
                curve = curve.sort_values("eps")
                line = ax.plot(curve["eps"], curve["accuracy"], label=name, **_line_style(name))[0]
                ax.fill_between(curve["eps"], curve["ci_low"], curve["ci_high"], color=line.get_color(), alpha=0.15)
            method = points["ci_method"].iloc[0] if len(points) else "no data"
            ax.set(title=f"{attack.upper()}: {what}\n(95% CI: {method})", xlabel="eps (L-inf)", ylabel="accuracy")
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
        ax_row[0].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return _save(fig, stem)


def robustness_vs_entanglement_figure(frame: pd.DataFrame, attack: str, stem: str | Path) -> list[Path]:
    """Robustness (area under the white-box accuracy-eps curve, with its interval across seeds when
    there are several) against entangling capability, one point per QuNN circuit."""
    rows = frame[frame["attack"] == attack]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for layout, group in rows.groupby("layout"):
        yerr = np.abs(group[["auc_ci_low", "auc_ci_high"]].to_numpy().T - group["auc"].to_numpy())
        ax.errorbar(
            group["entangling_capability"],
            group["auc"],
            xerr=group["entangling_capability_ci"],
            yerr=None if np.isnan(yerr).all() else yerr,
            fmt="o" if layout == "rot_ent" else "s",
            capsize=3,
            label=f"layout {layout}",
        )
        for _, row in group.iterrows():
            ax.annotate(
                row["ansatz"],
                (row["entangling_capability"], row["auc"]),
                fontsize=7,
                xytext=(4, 4),
                textcoords="offset points",
            )
    ax.set(xlabel="entangling capability (mean Meyer-Wallach Q)", ylabel=f"robustness: mean accuracy, {attack.upper()}")
    ax.set_title("robustness against entangling capability")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, stem)


def robustness_vs_readout_figure(table: pd.DataFrame, eps: float, stem: str | Path) -> list[Path]:
    """The sweep (robqunn.sweep) at one eps: exact robust accuracy of every (draw, circuit) against the two
    readout statistics, one panel each; colour = ansatz, marker = layout."""
    rows = table[table["eps"] == eps]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    labels = {
        "cos_weight": "share of readout weight on cos-only terms (flat at pixels 0 and 1)",
        "black_slope": "readout slope at a black patch",
    }
    for ax, (statistic, label) in zip(axes, labels.items(), strict=True):
        for index, ((layout, ansatz), group) in enumerate(rows.groupby(["layout", "ansatz"])):
            ax.scatter(
                group[statistic],
                group["robust_accuracy_upper"],
                s=14,
                alpha=0.7,
                marker="o" if layout == "rot_ent" else "s",
                color=f"C{index}",
                label=f"{ansatz}, {layout}",
            )
        ax.set(xlabel=label)
        ax.grid(alpha=0.3)
    axes[0].set(ylabel=f"exact robust accuracy, eps {eps:g}")
    axes[1].legend(fontsize=7, title="circuit (ansatz, layout)", title_fontsize=7)
    fig.suptitle(f"where robustness comes from: {rows['draw'].nunique()} draws of the rotation angles")
    return _save(fig, stem)
