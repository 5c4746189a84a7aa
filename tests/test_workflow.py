"""Tests of the Snakemake workflow: schema in step with the package, dry run, tiny real run."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys

import jsonschema
import pytest
import yaml

from conftest import REPO, TINY_CHANGES, write_params
from robqunn import config

SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "params.schema.yaml").read_text())
SECTION_CLASSES = {
    "study": config.StudyParams,
    "data": config.DataParams,
    "circuit": config.CircuitParams,
    "train": config.TrainParams,
    "attack": config.AttackParams,
    "bench": config.BenchParams,
}


def workflow_copy(tmp_path, changes=None):
    """The Snakefile and workflow/ in a fresh folder with (possibly shrunk) params.yaml."""
    shutil.copy(REPO / "Snakefile", tmp_path)
    shutil.copytree(REPO / "workflow", tmp_path / "workflow")
    write_params(tmp_path / "params.yaml", changes or {})
    return tmp_path


def snakemake(folder, *args):
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args], cwd=folder, capture_output=True, text=True, timeout=600
    )


def job_counts(output: str) -> dict[str, int]:
    """The 'job count' table that Snakemake prints."""
    return {name: int(n) for name, n in re.findall(r"^(\w+)\s+(\d+)$", output, flags=re.M) if name != "total"}


class TestSchema:
    """workflow/schemas/params.schema.yaml and robqunn.config describe the same params."""

    def test_default_params_valid(self):
        """The repository's params.yaml satisfies the schema."""
        jsonschema.validate(yaml.safe_load((REPO / "params.yaml").read_text()), SCHEMA)

    @pytest.mark.parametrize("section, cls", SECTION_CLASSES.items())
    def test_same_keys(self, section, cls):
        """Each schema section lists exactly the fields of its dataclass, all required."""
        fields = {f.name for f in dataclasses.fields(cls)}
        assert set(SCHEMA["properties"][section]["properties"]) == fields
        assert set(SCHEMA["properties"][section]["required"]) == fields

    @pytest.mark.parametrize(
        "attack, cls", [("fgsm", config.FgsmParams), ("pgd", config.PgdParams), ("mim", config.MimParams)]
    )
    def test_same_attack_keys(self, attack, cls):
        """Each attack's schema lists exactly the fields of its dataclass."""
        section = SCHEMA["properties"]["attack"]["properties"][attack]
        assert set(section["properties"]) == set(section["required"]) == {f.name for f in dataclasses.fields(cls)}

    def test_same_sections(self):
        """The schema's top-level sections are the Params fields."""
        assert set(SCHEMA["properties"]) == {f.name for f in dataclasses.fields(config.Params)}

    @pytest.mark.parametrize(
        "section, key, value",
        [
            ("study", "ansatze", ["ring"]),
            ("circuit", "kernel_size", 4),
            ("data", "source", "web"),
            ("train", "lr", 1),
            ("attack", "fgsm", {"eps": [0.1, 0.2]}),
            ("attack", "fgsm", {"eps": [0.0, 1.5]}),
        ],
    )
    def test_rejects_what_the_package_rejects(self, section, key, value):
        """A value robqunn refuses is refused by the schema too."""
        raw = yaml.safe_load((REPO / "params.yaml").read_text())
        raw[section][key] = value
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(raw, SCHEMA)
        with pytest.raises(config.ParamsError):
            config.params_from_dict(raw)


class TestSnakemake:
    """The workflow plans and runs the study."""

    def test_dry_run_plans_the_grid(self, tmp_path):
        """On the default params: 1 data job, then features and training of 11 models."""
        result = snakemake(workflow_copy(tmp_path), "-n")
        assert result.returncode == 0, result.stderr
        counts = job_counts(result.stdout + result.stderr)
        assert counts == {"prepare_data": 1, "feature_maps": 11, "train": 11, "all": 1}

    def test_bad_params_fail_before_any_job(self, tmp_path):
        """An invalid ansatz stops the workflow at once, naming the value."""
        result = snakemake(workflow_copy(tmp_path, {("study", "ansatze"): ["full", "ring"]}), "-n")
        assert result.returncode != 0 and "'ring' is not one of" in result.stdout + result.stderr
        assert not (tmp_path / "data").exists()

    def test_tiny_run_then_nothing_to_do(self, tmp_path):
        """A tiny study runs end to end on 2 cores; a second run has nothing to do."""
        folder = workflow_copy(tmp_path, TINY_CHANGES)
        result = snakemake(folder, "--cores", "2")
        assert result.returncode == 0, result.stderr[-3000:]
        for model in ("cnn", "qunn-full-ent_rot", "qunn-random-ent_rot"):
            metrics = yaml.safe_load((folder / "results" / "train" / "seed42" / f"{model}.json").read_text())
            assert 0.0 <= metrics["test_accuracy"] <= 1.0
            assert (folder / "logs" / "train" / "seed42" / f"{model}.log").read_text().count("test accuracy") == 1
        again = snakemake(folder, "--cores", "2", "-n")
        assert "Nothing to be done" in again.stdout + again.stderr
