"""Figures that say what they show: coinciding curves drawn once under one label, layouts told apart,
legends off the curves, example grids labelled with true and predicted classes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import REPO, TINY_CHANGES, write_params
from robqunn import plots

ROT_ENT_GROUP = ["qunn-none-rot_ent", "qunn-full-rot_ent", "qunn-linear-rot_ent", "qunn-star-rot_ent"]


@pytest.fixture
def drawn(monkeypatch):
    """The figures the plot functions draw, kept open instead of saved."""
    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, stem: figures.append(fig) or [])
    yield figures
    for fig in figures:
        plots.plt.close(fig)


def study_table() -> pd.DataFrame:
    """White-box PGD and exact rows: the four rot_ent circuits one model (the same exact curve; PGD differs a
    little by its random start), the others not."""
    rows = []
    curves = {"cnn": [0.9, 0.6, 0.2], "qunn-random-rot_ent": [0.9, 0.5, 0.1], "qunn-full-ent_rot": [0.8, 0.4, 0.0]}
    curves |= {model: [0.85, 0.45, 0.05] for model in ROT_ENT_GROUP}
    for index, (model, accuracies) in enumerate(curves.items()):
        for attack, shift in (("pgd", 0.05 + 0.001 * index), ("exact", 0.0)):  # PGD's random starts differ
            for eps, accuracy in zip([0.0, 0.1, 0.2], accuracies, strict=True):
                rows.append(
                    {"seed": 42, "source": model, "target": model, "kind": "white-box", "attack": attack, "eps": eps}
                    | {"accuracy": accuracy + shift * (eps > 0)}
                )
    return pd.DataFrame(rows)


def legend_texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


def test_group_label_names_the_invariant_group_once():
    assert plots.group_label(ROT_ENT_GROUP) == "none = full = linear = star (rot_ent)"
    assert plots.group_label(["qunn-full-ent_rot"]) == "full (ent_rot)"
    assert plots.group_label(["cnn"]) == "cnn"


def test_coinciding_groups_equal_curves_only():
    curves = {"a": np.array([1.0, 0.5]), "b": np.array([1.0, 0.5]), "c": np.array([1.0, 0.4]), "d": np.array([1.0])}
    assert plots.coinciding(curves) == [["a", "b"], ["c"], ["d"]]


def test_whitebox_figure_draws_the_invariant_group_once_per_layout_panel(drawn):
    """One panel per layout with the CNN in each; the four identical rot_ent circuits are one labelled
    line pair, so no colour hides another; every legend sits outside its axes."""
    plots.whitebox_figure(study_table(), "pgd", "unused")
    (fig,) = drawn
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["layout rot_ent", "layout ent_rot"]
    labels = legend_texts(fig)
    assert labels.count("none = full = linear = star (rot_ent)") == 1
    assert "random (rot_ent)" in labels and "full (ent_rot)" in labels and labels.count("cnn") == 2
    rot_ent = fig.axes[0]
    assert len(rot_ent.get_lines()) == 2 * 3  # exact + attack for: the group, random, cnn
    for ax in fig.axes:
        anchor = ax.get_legend().get_bbox_to_anchor().transformed(ax.transAxes.inverted())
        assert anchor.y0 < 0  # below the axes, off the curves


def test_line_styles_tell_layout_and_ansatz_apart():
    full_rot, full_ent, random_rot = (
        plots._line_style(m) for m in ("qunn-full-rot_ent", "qunn-full-ent_rot", "qunn-random-rot_ent")
    )
    assert full_rot["color"] == full_ent["color"] != random_rot["color"]
    assert full_rot["linestyle"] == "-" and full_ent["linestyle"] == "--"


def test_example_grid_shows_true_and_predicted_classes(drawn):
    """Each column is headed by its true label; above each digit the predicted class, red where wrong."""
    digits = np.zeros((3, 28, 28), np.float32)
    labels = np.array([7, 2, 1])
    rows = {0.0: (digits, np.array([7, 2, 1])), 0.1: (digits, np.array([7, 3, 1]))}
    plots.examples_figure(labels, rows, "pgd on cnn", "unused")
    (fig,) = drawn
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["label 7", "label 2", "label 1"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["clean", "eps 0.1"]
    marks = [(t.get_text(), t.get_color()) for t in ax.texts]
    assert marks.count(("3", "red")) == 1 and sum(colour == "red" for _, colour in marks) == 1
    assert len(marks) == 6


def test_no_noise_figure_without_noisy_or_finite_shot_models(tmp_path):
    """A study without hardware versions gets no noise figure (the report shows no empty section), and params
    say the same (NoiseMethods.has_versions decides the Snakemake output)."""
    from robqunn.config import load_params

    summary = pd.DataFrame(
        {"kind": ["white-box"], "eps": [0.05], "target": ["qunn-full-ent_rot"], "attack": ["exact"]}
        | {"accuracy": [0.2], "ci_low": [0.1], "ci_high": [0.3], "source": ["qunn-full-ent_rot"]}
    )
    assert plots.noise_figure(summary, 0.05, tmp_path / "noise") == [] and list(tmp_path.iterdir()) == []
    assert not load_params(REPO / "params.yaml").noise.has_versions
    assert load_params(write_params(tmp_path / "tiny.yaml", TINY_CHANGES)).noise.has_versions
