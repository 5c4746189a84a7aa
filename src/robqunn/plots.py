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

from robqunn.vocabulary import (  # noqa: E402
    ANSATZ_COLOURS,
    EXACT,
    LAYOUT_STYLES,
    METHOD_MARKERS,
    WORST_CASE,
    ModelSpec,
    TrainMethod,
)

FORMATS = ("png", "svg")


def _parts(model: str) -> tuple[str | None, str | None]:
    """(ansatz, layout) of a model name, (None, None) for the CNN."""
    spec = ModelSpec.from_name(model)
    return (None, None) if spec.ansatz is None else (spec.ansatz.value, spec.layout.value)


def _is_cnn(model: str) -> bool:
    return ModelSpec.from_name(model).is_cnn


def _order(model: str) -> tuple[int, int]:
    """Where a model comes in a group: the CNN first, then the QuNNs in the order of ANSATZ_COLOURS; standard
    training before the robust methods."""
    ansatz = _parts(model)[0]
    method = list(TrainMethod).index(ModelSpec.from_name(model).method)
    return (-1 if ansatz is None else list(ANSATZ_COLOURS).index(ansatz), method)


def _line_style(model: str) -> dict:
    """CNN thick black; a QuNN in its ansatz's colour, solid for rot_ent and dashed for ent_rot; a robustly
    trained head marked by its method's marker (METHOD_MARKERS)."""
    spec = ModelSpec.from_name(model)
    marker = {"marker": METHOD_MARKERS[spec.method.value]} if spec.method.label else {}
    if spec.is_cnn:
        return {"color": "black", "linewidth": 2.5} | marker
    ansatz, layout = _parts(model)
    return {"color": ANSATZ_COLOURS[ansatz], "linestyle": LAYOUT_STYLES[layout], "marker": "o"} | marker


def _short(model: str) -> str:
    """A model's name in a legend of one layout: its ansatz, with its training method when robust."""
    spec = ModelSpec.from_name(model)
    if spec.is_cnn:
        return model
    return "-".join([spec.ansatz.value, *spec.method_labels])


def group_label(models: list[str]) -> str:
    """How a legend names models whose curves coincide: ``cnn``, ``full (ent_rot)`` or, for an invariant
    group, ``none = full = linear = star (rot_ent)``."""
    ordered = sorted(models, key=_order)
    layouts = {_parts(m)[1] for m in ordered if not _is_cnn(m)}
    if len(layouts) == 1:
        return f"{' = '.join(_short(m) for m in ordered)} ({layouts.pop()})"
    return " = ".join(ordered)


def _lead(names: list[str]) -> str:
    """The member of a group whose style the group's line takes (so "none = full = ..." is drawn in none's
    colour)."""
    return min(names, key=_order)


def coinciding(curves: dict[str, np.ndarray]) -> list[list[str]]:
    """The names of ``curves`` grouped by equal values (to 1e-12), each group in the order given: curves
    that coincide are drawn once, so that none hides another's colour."""
    groups: list[tuple[np.ndarray, list[str]]] = []
    for name, values in curves.items():
        match = next((g for g in groups if g[0].shape == values.shape and np.allclose(g[0], values, atol=1e-12)), None)
        if match is None:
            groups.append((values, [name]))
        else:
            match[1].append(name)
    return [names for _, names in groups]


def _legend_below(ax, **kwargs) -> None:
    """The legend under the axes, two columns, where it covers no curve."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, borderaxespad=0.0, **kwargs)


def _legend_outside(ax, **kwargs) -> None:
    """The legend right of the axes, where it covers no curve (the figure is saved tight around it)."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kwargs)


# An SVG records the time it was drawn (metadata "Date") and salts its element ids with a random uuid
# unless svg.hashsalt is set: both fixed, so that a figure redrawn from the same tables has the same bytes.
UNDATED = {"Date": None}
SVG_HASHSALT = "robqunn"


def _save(fig, stem: str | Path) -> list[Path]:
    """Write ``fig`` in every format, each atomically (a killed job leaves no half-written figure)."""
    from robqunn.io import atomic_path

    paths = [Path(f"{stem}.{fmt}") for fmt in FORMATS]
    for path in paths:
        with atomic_path(path) as tmp, matplotlib.rc_context({"svg.hashsalt": SVG_HASHSALT}):
            fig.savefig(tmp, bbox_inches="tight", format=path.suffix[1:], metadata=UNDATED)
    plt.close(fig)
    return paths


def _curves(ax, rows: pd.DataFrame, label_column: str, title: str) -> None:
    """One accuracy-vs-eps curve per value of ``label_column``, averaged over seeds; curves that coincide
    drawn once, under one label (:func:`group_label`)."""
    means = {label: curve.groupby("eps")["accuracy"].mean() for label, curve in rows.groupby(label_column)}
    for names in coinciding({label: mean.to_numpy() for label, mean in means.items()}):
        mean = means[names[0]]
        ax.plot(mean.index, mean.to_numpy(), label=group_label(names), **_line_style(_lead(names)))
    ax.set(title=title, xlabel="eps (L-inf)", ylabel="accuracy", ylim=(-0.02, 1.02))
    ax.grid(alpha=0.3)


def whitebox_figure(table: pd.DataFrame, attack: str, stem: str | Path) -> list[Path]:
    """Fig. 3a-c: white-box accuracy of every model under one attack (dashed) beside its exact robust
    accuracy (solid, same colour) where the table has it: the attack's curve can only lie on or above it.
    One panel per layout, the CNN in each. Models with the same exact curve at every eps (clean accuracy
    included) are one model, the invariance property's group: drawn once, their attack curves averaged
    (they differ only by the attack's random start)."""
    white = table[table["kind"] == "white-box"]
    rows, exact = white[white["attack"] == attack], white[white["attack"] == EXACT]
    models = sorted(rows["target"].unique())
    layouts = [layout for layout in LAYOUT_STYLES if any(_parts(m)[1] == layout for m in models)] or [None]
    fig, axes = plt.subplots(1, len(layouts), figsize=(5.2 * len(layouts) + 2.2, 4.6), squeeze=False, sharey=True)
    for ax, layout in zip(axes[0], layouts, strict=True):
        shown = [m for m in models if _is_cnn(m) or _parts(m)[1] == layout]
        curves = {m: _both_curves(rows, exact, m) for m in shown}
        for names in coinciding({m: c[2] if len(c[2]) else c[1] for m, c in curves.items()}):
            eps, _, ground_truth = curves[names[0]]
            attacked = np.mean([curves[m][1] for m in names], axis=0)
            style = {k: v for k, v in _line_style(_lead(names)).items() if k != "linestyle"}
            if len(ground_truth):
                ax.plot(eps, ground_truth, linestyle="-", label=group_label(names), **style)
            ax.plot(eps, attacked, linestyle="--", label=None if len(ground_truth) else group_label(names), **style)
        ax.set(title=f"layout {layout}" if layout else "", xlabel="eps (L-inf)", ylim=(-0.02, 1.02))
        ax.grid(alpha=0.3)
        _legend_below(ax, fontsize=7)
    axes[0][0].set_ylabel("accuracy")
    fig.suptitle(f"white-box {attack.upper()} (dashed) and exact robust accuracy (solid)")
    return _save(fig, stem)


def _both_curves(rows: pd.DataFrame, exact: pd.DataFrame, model: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(eps, the attack's mean accuracy, the exact robust accuracy on the same eps or empty)."""
    eps, attacked = _mean_curve(rows[rows["target"] == model])
    truth = exact[exact["target"] == model]
    if truth.empty:
        return eps, attacked, np.array([])
    mean = truth.groupby("eps")["accuracy"].mean()
    return eps, attacked, mean.reindex(eps).to_numpy()


def model_curves_figure(rows: pd.DataFrame, model: str, seed: int):
    """One model's white-box accuracy against eps under each attack (dashed), the worst case over them
    (dotted) and its exact robust accuracy (solid black): the figure of its MLflow training run. Returns
    the figure, unsaved (MLflow writes it)."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for index, (attack, curve) in enumerate(rows.groupby("attack")):
        style = {"color": "black", "linewidth": 2.2} if attack == EXACT else {"color": f"C{index}", "marker": "o"}
        style["linestyle"] = "-" if attack == EXACT else ":" if attack == WORST_CASE else "--"
        ax.plot(*_mean_curve(curve), label=attack, **style)
    ax.set(title=f"{model}, seed {seed}: white-box accuracy", xlabel="eps (L-inf)", ylabel="accuracy")
    return _finished(fig, ax, "attack (exact: the ground truth)", 8)


def _finished(fig, ax, legend_title: str, fontsize: int):
    """An accuracy-vs-eps figure's shared finish: the [0, 1] axis, a grid and the legend with its title."""
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=fontsize, title=legend_title, title_fontsize=fontsize)
    fig.tight_layout()
    return fig


def attack_gap_figure(table: pd.DataFrame, stem: str | Path) -> list[Path]:
    """The attack gap (attack accuracy - exact robust accuracy) against eps, one panel per attack, one line
    per model (models whose gaps coincide drawn once): how far each attack overstates the robustness."""
    rows = table.dropna(subset=["attack_gap"])
    attacks = sorted(rows["attack"].unique()) or ["none"]
    fig, axes = plt.subplots(1, len(attacks), figsize=(4.5 * len(attacks) + 2.5, 4), squeeze=False, sharey=True)
    for ax, attack in zip(axes[0], attacks, strict=True):
        gaps = {m: c.groupby("eps")["attack_gap"].mean() for m, c in rows[rows["attack"] == attack].groupby("target")}
        for names in coinciding({m: gap.to_numpy() for m, gap in gaps.items()}):
            gap = gaps[names[0]]
            ax.plot(gap.index, gap.to_numpy(), label=group_label(names), **_line_style(_lead(names)))
        ax.set(title=f"{attack.upper()} - exact", xlabel="eps (L-inf)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("accuracy gap to the exact robust accuracy")
    if len(rows):
        _legend_outside(axes[0][-1], fontsize=7, title="solid rot_ent, dashed ent_rot", title_fontsize=7)
    return _save(fig, stem)


def _mean_curve(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    mean = rows.groupby("eps")["accuracy"].mean()
    return mean.index.to_numpy(), mean.to_numpy()


def transfer_figure(table: pd.DataFrame, direction: str, stem: str | Path) -> list[Path]:
    """Fig. 3d (direction 'cnn_to_qunn') or 3e ('qunn_to_cnn'), one panel per attack."""
    transfer = table[table["kind"] == "transfer"]
    if direction == "cnn_to_qunn":
        rows, label, title = transfer[transfer["source"].map(_is_cnn)], "target", "crafted on CNN, evaluated on"
    elif direction == "qunn_to_cnn":
        rows, label, title = transfer[transfer["target"].map(_is_cnn)], "source", "crafted on QuNN, evaluated on CNN"
    else:
        raise ValueError(f"direction must be 'cnn_to_qunn' or 'qunn_to_cnn'; got {direction!r}")
    attacks = sorted(rows["attack"].unique())
    fig, axes = plt.subplots(1, max(len(attacks), 1), figsize=(5 * max(len(attacks), 1), 4.2), squeeze=False)
    for ax, attack in zip(axes[0], attacks, strict=False):
        _curves(ax, rows[rows["attack"] == attack], label, f"{attack.upper()}: {title}")
    if attacks:
        _legend_outside(axes[0][-1], fontsize=7, title="solid rot_ent, dashed ent_rot", title_fontsize=7)
    else:
        axes[0][0].text(0.5, 0.5, "no transfer pairs in this study", ha="center", transform=axes[0][0].transAxes)
    return _save(fig, stem)


def examples_figure(
    labels: np.ndarray, rows: dict[float, tuple[np.ndarray, np.ndarray]], title: str, stem: str | Path
) -> list[Path]:
    """A grid of digits: one row per eps (eps 0: the clean digits), one column per digit; above each digit
    the class the model predicts (red where it is wrong), the true label on top of each column.

    ``rows``: eps -> (digits (n, 28, 28), predicted classes (n,)), e.g. from the adversarial sets.
    Drawn as one image (the digits tiled with white gaps) on one axes: a figure of an axes per digit
    took 1.3 s to save, 15 s of the figures job.
    """
    ordered = sorted(rows.items())
    mosaic = _tiled([images for _, (images, _) in ordered], gap=(LABEL_GAP, 2))
    mosaic = np.vstack([np.ones((LABEL_GAP, mosaic.shape[1]), np.float32), mosaic])  # room for the first row's classes
    n_rows, n_columns = len(ordered), len(labels)
    fig, ax = plt.subplots(figsize=(0.9 * n_columns + 1.2, 1.15 * n_rows + 0.6))
    ax.imshow(mosaic, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    height, width = ordered[0][1][0].shape[1:]
    for i, (_, (_, predicted)) in enumerate(ordered):
        for j, (truth, guess) in enumerate(zip(labels, predicted, strict=True)):
            if guess < 0:  # not known: the clean row without an eps-0 set
                continue
            colour = "black" if guess == truth else "red"
            ax.text(
                j * (width + 2) + width / 2,
                (i + 1) * LABEL_GAP + i * height - 1,
                str(guess),
                ha="center",
                va="bottom",
                fontsize=8,
                color=colour,
                fontweight="normal" if guess == truth else "bold",
            )
    ax.set_yticks([(i + 1) * LABEL_GAP + i * height + height / 2 for i in range(n_rows)])
    ax.set_yticklabels(["clean" if eps == 0 else f"eps {eps:g}" for eps, _ in ordered], fontsize=8)
    ax.set_xticks([j * (width + 2) + width / 2 for j in range(n_columns)])
    ax.set_xticklabels([f"label {y}" for y in labels], fontsize=7)
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title + "\nnumber above a digit: the class the model predicts (red: wrong)", fontsize=9)
    return _save(fig, stem)


LABEL_GAP = 12  # pixels between the rows of the example grids, where the predicted classes go


def _tiled(rows: list[np.ndarray], gap: tuple[int, int] = (2, 2)) -> np.ndarray:
    """Digit rows (each (n, h, w)) as one image, white gaps of ``gap`` (between rows, between digits) pixels."""
    n, height, width = rows[0].shape
    row_gap, column_gap = gap
    mosaic = np.ones(
        (len(rows) * (height + row_gap) - row_gap, n * (width + column_gap) - column_gap), dtype=np.float32
    )
    for i, images in enumerate(rows):
        for j, image in enumerate(images):
            top, left = i * (height + row_gap), j * (width + column_gap)
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
        (transfer[transfer["source"].map(_is_cnn)], "target", "crafted on CNN, evaluated on"),
        (transfer[transfer["target"].map(_is_cnn)], "source", "crafted on QuNN, evaluated on CNN"),
    ]
    return _ci_panels(transfer, None, "transfer", stem, rows)


def _ci_panels(frame: pd.DataFrame, label: str | None, title: str, stem: str | Path, rows=None) -> list[Path]:
    rows = rows or [(frame, label, title)]
    attacks = sorted(frame["attack"].unique()) or ["-"]
    fig, axes = plt.subplots(len(rows), len(attacks), figsize=(5 * len(attacks), 4.2 * len(rows)), squeeze=False)
    for ax_row, (points, column, what) in zip(axes, rows, strict=True):
        for ax, attack in zip(ax_row, attacks, strict=True):
            curves = {name: c.sort_values("eps") for name, c in points[points["attack"] == attack].groupby(column)}
            values = {name: c[["accuracy", "ci_low", "ci_high"]].to_numpy().ravel() for name, c in curves.items()}
            for names in coinciding(values):
                curve = curves[names[0]]
                line = ax.plot(curve["eps"], curve["accuracy"], label=group_label(names), **_line_style(_lead(names)))[
                    0
                ]
                ax.fill_between(curve["eps"], curve["ci_low"], curve["ci_high"], color=line.get_color(), alpha=0.15)
            method = points["ci_method"].iloc[0] if len(points) else "no data"
            ax.set(title=f"{attack.upper()}: {what}\n(95% CI: {method})", xlabel="eps (L-inf)", ylabel="accuracy")
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
        _legend_outside(ax_row[-1], fontsize=7, title="solid rot_ent, dashed ent_rot", title_fontsize=7)
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
        for k, (_, row) in enumerate(group.sort_values("entangling_capability").iterrows()):
            ax.annotate(  # staggered, so that neighbours' labels do not overlap; rot_ent above, ent_rot below
                row["ansatz"],
                (row["entangling_capability"], row["auc"]),
                fontsize=7,
                xytext=(4, (6 + 9 * (k % 3)) * (1 if layout == "rot_ent" else -1.6)),
                textcoords="offset points",
                arrowprops={"arrowstyle": "-", "color": "0.6", "linewidth": 0.5},
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


def radii_figure(records: list, seed: int):
    """The certified radii of each model (robqunn.artifacts.CertifiedRadii) as the fraction of digits certified
    robust at each eps (the exact robust accuracy curve, solid) and the fraction not broken (the upper bounds,
    dotted; the two meet where every digit is bracketed to the resolution), with each model's median radius in
    the legend. Returns the figure, unsaved."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for record in sorted(records, key=lambda r: _order(r.model)):
        upper = np.asarray(record.upper)
        style = _line_style(record.model) | {"marker": None}
        grid = np.linspace(0.0, max(float(upper.max()), 1e-3), 400)
        certified = [record.certified(eps).mean() for eps in grid]
        unbroken = (upper[None, :] > grid[:, None]).mean(axis=1)
        label = f"{record.model} (median {np.median(record.lower):.3f})"
        line = ax.plot(grid, certified, label=label, **style)[0]
        ax.plot(grid, unbroken, **(style | {"linestyle": ":", "color": line.get_color()}))
    ax.set(title=f"certified radii, seed {seed}", xlabel="eps (L-inf)", ylabel="fraction of digits robust at eps")
    return _finished(fig, ax, "certified (solid), not broken (dotted)", 7)


def study_models_only(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``frame`` between the study's own models: noisy and finite-shot versions of a circuit
    (params ``noise``) have a figure of their own (:func:`noise_figure`)."""
    versions = {m for m in set(frame["source"]) | set(frame["target"]) if ModelSpec.from_name(m).hardware_labels}
    return frame[~frame["source"].isin(versions) & ~frame["target"].isin(versions)]


def noise_figure(summary: pd.DataFrame, eps: float, stem: str | Path) -> list[Path]:
    """White-box robust accuracy at ``eps`` (95% interval as error bars) of each noisy and finite-shot model
    beside its noiseless circuit: one panel per noise channel (against the strength, 0 the noiseless circuit:
    exact robust accuracy solid, worst case over the attacks dashed), and one against the shots (the exact
    expectation at the right, "inf"; the worst case only: a model that samples has no exact robust accuracy).
    ``summary``: robqunn.stats.summarize of the study's table."""
    points = summary[(summary["kind"] == "white-box") & np.isclose(summary["eps"], eps)]
    specs = {m: spec for m in points["target"].unique() if (spec := ModelSpec.from_name(m)).ansatz is not None}
    versions = [s for s in specs.values() if s.hardware_labels]
    channels = sorted({s.noise.channel.value for s in versions if s.noise})
    panels = channels + (["shots"] if any(s.shots for s in versions) else [])
    if not panels:  # no figure rather than an empty one (params noise: NoiseMethods.has_versions)
        return []
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels) + 2.2, 4.4), squeeze=False)
    circuits = sorted({s.circuit_name for s in versions})
    for ax, panel in zip(axes[0], panels, strict=True):
        for circuit in circuits:
            if panel == "shots":
                _shots_lines(ax, points, specs, circuit)
            else:
                _channel_lines(ax, points, specs, circuit, panel)
        ax.set(title=f"{panel}", ylabel=f"robust accuracy at eps {eps:g}", ylim=(-0.02, 1.02))
        ax.grid(alpha=0.3)
    handles = {label: handle for ax in axes[0] for handle, label in zip(*ax.get_legend_handles_labels(), strict=True)}
    axes[0][-1].legend(handles.values(), handles.keys(), loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7)
    fig.suptitle(f"robustness under noise and finite shots (eps {eps:g}; bars: 95% CI)")
    return _save(fig, stem)


def _errorbar(ax, frame: pd.DataFrame, x: list[float], **style) -> None:
    ax.errorbar(
        x,
        frame["accuracy"],
        yerr=[frame["accuracy"] - frame["ci_low"], frame["ci_high"] - frame["accuracy"]],
        capsize=3,
        **style,
    )


def _point_of(points: pd.DataFrame, model: str, attack: str) -> pd.DataFrame:
    return points[(points["target"] == model) & (points["attack"] == attack)]


def _channel_lines(ax, points: pd.DataFrame, specs: dict, circuit: str, channel: str) -> None:
    """Exact (solid) and worst-case (dashed) robust accuracy against the channel's strength, from 0."""
    models = [circuit] + sorted(
        (
            m
            for m, s in specs.items()
            if s.circuit_name == circuit and s.noise and s.noise.channel.value == channel and s.shots is None
        ),
        key=lambda m: specs[m].noise.strength,
    )
    strengths = [0.0] + [specs[m].noise.strength for m in models[1:]]
    colour = ANSATZ_COLOURS[ModelSpec.from_name(circuit).ansatz.value]
    for attack, style in ((EXACT, "-"), (WORST_CASE, "--")):
        rows = pd.concat([_point_of(points, m, attack) for m in models])
        if len(rows) == len(models):
            label = f"{circuit} {'exact' if attack == EXACT else 'worst case'}"
            _errorbar(ax, rows, strengths, color=colour, linestyle=style, marker="o", label=label)
    ax.set_xlabel(f"{channel} strength")


def _shots_lines(ax, points: pd.DataFrame, specs: dict, circuit: str) -> None:
    """Worst-case robust accuracy against the shots, per noise setting of ``circuit``; "inf" is the exact readout."""
    expectations = sorted({s.expectation.name for s in specs.values() if s.circuit_name == circuit and s.shots})
    for number, expectation in enumerate(expectations):
        sampled = sorted(
            (m for m, s in specs.items() if s.shots and s.expectation.name == expectation), key=lambda m: specs[m].shots
        )
        models = sampled + [expectation]
        rows = pd.concat([_point_of(points, m, WORST_CASE) for m in models])
        if len(rows) == len(models):
            x = [float(specs[m].shots) for m in sampled] + [float(specs[sampled[-1]].shots) * 10]
            style = {"color": f"C{number + len(ANSATZ_COLOURS)}", "linestyle": "--", "marker": "s"}  # not an ansatz's
            _errorbar(ax, rows, x, label=f"{expectation} worst case", **style)
            ax.annotate(
                "inf", (x[-1], rows["accuracy"].iloc[-1]), textcoords="offset points", xytext=(4, 4), fontsize=7
            )
    ax.set_xscale("log")
    ax.set_xlabel("shots per patch (rightmost: exact readout)")
