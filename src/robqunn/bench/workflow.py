"""`robqunn bench workflow`: the Snakemake workflow's wall time, cold, with nothing to do and after a change,
against every stage in one process; each rule's CPU and peak memory from its jobs' logs."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robqunn.config import lookup

COLD_RUN_TARGET_S = {
    None: 180.0,
    "full": 900.0,
}  # cold run on 2 cores: default study 3 min, five seeds 15 min (scale: none)
NO_OP_TARGET_S = 2.0  # a re-run with nothing to do
PEAK_MEMORY_TARGET_MB = 1500.0  # the heaviest job, so that --cores 8 fits in 12 GB


@dataclass(frozen=True)
class RunTiming:
    """Wall time of one command of the workflow benchmark; a ``rerun`` (after a change of params) with the cost
    of the jobs it ran (:func:`rule_costs`), both compared with the cold run's."""

    what: str
    seconds: float
    steps: str
    target: float | None
    rerun: bool = False
    costs: tuple[RuleCost, ...] = ()


@dataclass(frozen=True)
class RuleCost:
    """What the jobs of one rule cost in a cold run (their logs' last lines: robqunn.runtime.exit_now)."""

    rule: str
    jobs: int
    cpu_seconds: float
    peak_rss_mb: float


def bench_workflow(
    project: Path, params_file: Path, cores: int, profile: str | None = None, baseline: bool = True
) -> tuple[list[RunTiming], list[RuleCost]]:
    """Time the Snakemake workflow of ``project`` on ``params_file`` (with ``profile``, a folder name under
    workflow/profiles, e.g. ``full``) in a fresh folder.

    Measured: a cold run (``snakemake --cores N`` from nothing), a re-run with nothing to do, with
    ``baseline``, as the baseline of the same run :func:`one_process_study` (every stage in one process, so it
    pays TensorFlow's import and the model loading once rather than once per job: their ratio is the price
    of the job granularity), then the reruns after each change of :data:`CHANGES`, one after another on the
    study the cold run left. Also each rule's CPU time and its heaviest job's peak memory in the cold run,
    as each job logged them (:func:`rule_costs`), and in each rerun. MLflow runs go to a store in the
    temporary folder.
    """
    import tempfile

    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    with tempfile.TemporaryDirectory(prefix="robqunn-bench-") as tmp:
        workflow, study = Path(tmp) / "workflow-run", Path(tmp) / "study-run"
        workflow.mkdir()
        study.mkdir()
        shutil.copy(project / "Snakefile", workflow)
        shutil.copytree(project / "workflow", workflow / "workflow")
        shutil.copy(params_file, workflow / "params.yaml")
        snakemake = [sys.executable, "-m", "snakemake", "--cores", str(cores)]
        if profile is not None:
            snakemake += ["--profile", f"workflow/profiles/{profile}"]
        name = f"snakemake --cores {cores}" + (f" --profile {profile}" if profile else "")
        timings = [
            _timed(f"{name}, cold", snakemake, workflow, env, COLD_RUN_TARGET_S.get(profile)),
            _timed(f"{name}, nothing to do", snakemake, workflow, env, NO_OP_TARGET_S),
        ]
        costs = rule_costs(workflow / "logs")
        baseline_timings = []
        if baseline:  # before the changes, which edit the params files
            params = _write_params(_merged_params(workflow, profile), study / "params.yaml")
            command = baseline_command(params)
            baseline_timings.append(_timed("every stage in one process (baseline)", command, study, env, None))
        for what, change in CHANGES.items():
            key, value = change(_merged_params(workflow, profile))
            _set_param(_params_files(workflow, profile)[-1], key, value)
            started = time.time()
            timing = _timed(f"{name}, {what}", snakemake, workflow, env, None)
            reran = tuple(rule_costs(workflow / "logs", since=started))
            timings.append(dataclasses.replace(timing, rerun=True, costs=reran))
        return timings + baseline_timings, costs


def _one_more_pgd_eps(params: dict) -> tuple[str, Any]:
    """attack.pgd.eps with one more eps, halfway between its last two."""
    grid = lookup(params, "attack.pgd.eps")
    return "attack.pgd.eps", sorted([*grid, round((grid[-2] + grid[-1]) / 2, 6)])


def _one_more_restart(params: dict) -> tuple[str, Any]:
    """checks.restarts plus one: a key that only the soundness checks read (robqunn.registry)."""
    return "checks.restarts", lookup(params, "checks.restarts") + 1


#: The changes whose reruns the workflow benchmark times, each a function of the params in force giving the dotted
#: key to change and its new value: one more PGD eps (the per-model job crafts that eps alone) and a key of the
#: soundness checks (it runs the checks alone), both without retraining (robqunn.stages.job.current_output).
CHANGES: dict[str, Callable[[dict], tuple[str, Any]]] = {
    "one more PGD eps": _one_more_pgd_eps,
    "a checks key changed": _one_more_restart,
}


def _params_files(workflow: Path, profile: str | None) -> list[Path]:
    """The params files a run of ``workflow`` reads, in order: params.yaml, then a profile's overlays."""
    import yaml

    if profile is None:
        return [workflow / "params.yaml"]
    settings = yaml.safe_load((workflow / "workflow" / "profiles" / profile / "config.yaml").read_text())
    return [workflow / name for name in settings.get("configfile", ["params.yaml"])]


def _merged_params(workflow: Path, profile: str | None) -> dict:
    """The params a run reads: its params files laid over each other as Snakemake does."""
    import yaml
    from snakemake.utils import update_config

    merged: dict = {}
    for path in _params_files(workflow, profile):
        update_config(merged, yaml.safe_load(path.read_text()))
    return merged


def _write_params(params: dict, path: Path) -> Path:
    """Write ``params`` as a params file at ``path``."""
    import yaml

    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def _set_param(path: Path, key: str, value: Any) -> None:
    """Set the dotted ``key`` to ``value`` in the params file ``path`` (the last a run reads: it overrides the
    others)."""
    import yaml

    params = yaml.safe_load(path.read_text()) or {}
    *sections, name = key.split(".")
    node = params
    for section in sections:
        node = node.setdefault(section, {})
    node[name] = value
    _write_params(params, path)


JOB_END = re.compile(r"job ends \(exit 0\): .*; cpu (?P<cpu>[\d.]+) s, peak memory (?P<mb>[\d.]+) MB")


def rule_costs(logs: Path, since: float | None = None) -> list[RuleCost]:
    """Per rule (attacks per attack): jobs, total CPU seconds and the largest peak memory, from the last
    line each job writes to its log (robqunn.runtime.exit_now: the kernel's accounting of the process)
    under ``logs`` (logs/<rule>/[seed/[attack/]]<job>.log); with ``since`` (a time.time()), only the logs
    written since then. Jobs without that line (failed, or not a robqunn job) are left out."""
    import pandas as pd

    rows = []
    for path in sorted(logs.rglob("*.log")):
        if since is not None and path.stat().st_mtime < since:
            continue
        found = JOB_END.search(path.read_text(errors="replace"))
        if found is None:
            continue
        parts = path.relative_to(logs).parts
        rule = parts[0].removesuffix(".log") + (f" {parts[2]}" if parts[0] == "attack" else "")
        rows.append({"rule": rule, "cpu": float(found["cpu"]), "rss": float(found["mb"])})
    if not rows:
        return []
    by_rule = pd.DataFrame(rows).groupby("rule", sort=True)
    table = by_rule.agg(jobs=("cpu", "size"), cpu=("cpu", "sum"), rss=("rss", "max"))
    return [RuleCost(rule, int(r.jobs), float(r.cpu), float(r.rss)) for rule, r in table.iterrows()]


def baseline_command(params_file: Path) -> list[str]:
    """The process of the one-process baseline: :func:`one_process_study` running robqunn.cli's ``main``.
    The child wires the CLI in, not this package: the CLI imports the benchmarks, and importing it back
    would make a cycle."""
    code = (
        "from robqunn.bench.workflow import one_process_study; from robqunn.cli import main; "
        f"one_process_study({str(params_file)!r}, main)"
    )
    return [sys.executable, "-c", code]


def one_process_study(params_file: str | Path, main: Callable[[list[str]], int]) -> None:
    """Every stage of the study in this process, in dvc.yaml's order, in the current folder: the
    workflow benchmark's baseline (the `robqunn` commands that dvc.yaml runs, each given to ``main``, the
    CLI's, without a process each)."""
    from robqunn import dvcfile
    from robqunn.config import load_params

    seeds = load_params(params_file).study.seeds
    for stage in dvcfile.STAGES:
        for arguments in stage.arguments(seeds):
            if main([*arguments, "--params", str(params_file)]) != 0:
                raise RuntimeError(f"robqunn {' '.join(arguments)} failed (its log says why)")


def _timed(what: str, command: list[str], cwd: Path, env: dict, target: float | None) -> RunTiming:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise RuntimeError(f"benchmark command {' '.join(command)} failed in {cwd}:\n{output[-3000:]}")
    done = re.findall(r"(\d+ of \d+) steps", output)
    steps = done[-1] if done else ("nothing to be done" if "Nothing to be done" in output else "-")
    return RunTiming(what, seconds, steps, target)


def format_workflow_timings(timings: list[RunTiming], costs: list[RuleCost] = ()) -> str:
    """The timings, each against its target, each rerun after a change against the cold run, the cold run
    against the one-process baseline (when measured), and the cold run's CPU and peak memory per rule."""
    width = max([48] + [len(t.what) for t in timings])
    lines = [f"{'command':{width}s} {'seconds':>9s} {'target':>8s}  steps"]
    for t in timings:
        target = f"{t.target:8.0f}" if t.target is not None else f"{'-':>8s}"
        verdict = "" if t.target is None else ("  within target" if t.seconds <= t.target else "  OVER TARGET")
        lines.append(f"{t.what:{width}s} {t.seconds:9.1f} {target}  {t.steps}{verdict}")
    for rerun in (t for t in timings if t.rerun):
        lines += [""] + _rerun_lines(rerun, timings[0], costs)
    if len(timings) > 2 and not timings[-1].rerun:
        lines.append(f"\ncold workflow / one-process study: {timings[0].seconds / timings[-1].seconds:.2f}x")
    if costs:
        lines.append(f"\n{'rule (cold run)':22s} {'jobs':>5s} {'CPU s':>8s} {'CPU s/job':>10s} {'peak MB':>8s}")
        for c in costs:
            lines.append(
                f"{c.rule:22s} {c.jobs:5d} {c.cpu_seconds:8.1f} {c.cpu_seconds / c.jobs:10.2f} {c.peak_rss_mb:8.0f}"
            )
        total = sum(c.cpu_seconds for c in costs)
        heaviest = max(costs, key=lambda c: c.peak_rss_mb)
        verdict = "within target" if heaviest.peak_rss_mb <= PEAK_MEMORY_TARGET_MB else "OVER TARGET"
        lines.append(f"{'all jobs':22s} {sum(c.jobs for c in costs):5d} {total:8.1f}")
        target = PEAK_MEMORY_TARGET_MB
        lines.append(f"heaviest job: {heaviest.rule}, {heaviest.peak_rss_mb:.0f} MB (target {target:.0f}): {verdict}")
    return "\n".join(lines)


def _rerun_lines(rerun: RunTiming, cold: RunTiming, cold_costs: list[RuleCost]) -> list[str]:
    """A rerun against the cold run: its wall time, its jobs' CPU and each rule's CPU per job."""
    line = f"{rerun.what}: {rerun.seconds / cold.seconds:.2f}x the cold run's wall time"
    if not (rerun.costs and cold_costs):
        return [line]
    cpu, cold_cpu = (sum(c.cpu_seconds for c in costs) for costs in (rerun.costs, cold_costs))
    cold_per_job = {c.rule: c.cpu_seconds / c.jobs for c in cold_costs}
    rules = []
    for c in rerun.costs:
        per_job, before = c.cpu_seconds / c.jobs, cold_per_job.get(c.rule, 0.0)
        rules.append(f"  {c.rule:20s} {c.jobs:3d} jobs {per_job:8.2f} CPU s a job, cold run {before:.2f}")
    return [f"{line}; its jobs {cpu:.1f} CPU s, {cpu / cold_cpu:.2f}x the cold run's", *rules]
