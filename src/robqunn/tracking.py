"""MLflow tracking of the training and attack runs, safe for many concurrent jobs.

Store. With no ``MLFLOW_TRACKING_URI`` in the environment, runs go to ``sqlite:///mlflow.db``: a
SQLite file in the current directory (the project root when Snakemake or DVC drive the pipeline;
git-ignored), with artifacts in ``mlruns/`` next to it. No server is needed; ``mlflow ui`` run in
the project browses it. ``MLFLOW_TRACKING_URI`` overrides it (a team server, another database).

Why SQLite and not an ``mlruns`` file store (measured with MLflow 3.17, 8 processes started at
once, each logging 3 runs into one fresh store):

- the file store is refused by MLflow 3 unless ``MLFLOW_ALLOW_FILE_STORE=true``; with it, the
  processes race to create the experiment, make several experiments of the same name, and only 9
  or 18 of the 24 runs appear under the name (one process also crashed on a missing meta.yaml);
- plain SQLite kept every run once the database existed (24/24, FINISHED, with metrics), but on a
  fresh file the processes raced through MLflow's schema migrations and most crashed
  ("duplicate column name: step", "table _alembic_tmp_... already exists"), leaving 3 of 24 runs.

So this module (1) creates/migrates the database under an exclusive file lock, once per process,
(2) gives every SQLite connection a 60 s busy timeout, (3) creates the experiment race-free (create,
and on a clash read it back), and (4) retries its own store writes with backoff when SQLite still
answers "database is locked". With these, the 8-process test keeps all 24 runs.

API for the stages: ``with tracked_run(name, experiment=..., params=..., tags=...) as run:`` then
:func:`log_metrics`, :func:`log_history` (per-epoch values) and ``mlflow.log_artifact`` inside the
block. An attack run passes ``parent_tags`` naming its training run, and becomes its child.
MLflow is imported inside the functions, so importing this module costs nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote

from robqunn.config import TrackingParams
from robqunn.errors import RobqunnError
from robqunn.runtime import hidden_modules

logger = logging.getLogger(__name__)

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
SQLITE_BUSY_TIMEOUT_MS = 60_000
RETRIES = 8
MAX_PARAM_LENGTH = 6000
MAX_TAG_LENGTH = 5000
PARENT_MISSING_TAG = "robqunn.parent_missing"
GIT_COMMIT_TAG = "robqunn.git_commit"
MLFLOW_COMMIT_TAG = "mlflow.source.git.commit"  # where the MLflow UI shows a run's commit
JOB_TAG = "robqunn.job"  # <study folder>::<origin>::<run name>: one run per job of one study (tracked_run)
STUDY_TAG = "robqunn.study"  # the study's folder: runs of studies that share a store never mix
ORIGIN_TAG = "robqunn.origin"  # snakemake, dvc, cli or python: what started the run (RunSource)
SOURCE_NAME_TAG = "mlflow.source.name"  # the UI's Source column
SOURCE_TYPE_TAG = "mlflow.source.type"
#: The experiment tag of MLflow 3's experiment kinds; "custom_model_development" is its "Machine learning".
EXPERIMENT_KIND_TAG, EXPERIMENT_KIND = "mlflow.experimentKind", "custom_model_development"
#: The runs page's query: the UI's own switch to its model-training view (MLflow 3.17 reads this, not the
#: kind tag, and defaults to GenAI: an empty "Traces" overview), and the runs sorted by name, which lists
#: them flat (sorted by date, the UI folds each attack, exact and checks run under its training run).
UI_RUNS_QUERY = "workflowType=machine_learning&orderByKey=attributes.run_name&orderByAsc=true"
#: The saved view `robqunn ui` opens (an experiment tag ``mlflow.sharedViewState.<name>``, as MLflow's "Share"
#: button writes it): the runs table with the headline metrics as columns and the run names in full.
UI_VIEW = "robqunn"
UI_VIEW_TAG = "mlflow.sharedViewState." + UI_VIEW
UI_NAME_COLUMN = "attributes.`Run Name`"  # the runs table's column ids, as MLflow 3.17's UI names them
UI_WIDTHS = {UI_NAME_COLUMN: 460, "other": 240}  # pixels: "attack pgd · qunn-full-ent_rot-exacttrained · seed 42"


def headline_metric_names(eps: float) -> dict[str, str]:
    """The metrics a training run gets once the study is evaluated (robqunn.provenance), the columns of the
    runs table `robqunn ui` opens: its model's exact robust accuracy and the attacks' worst case at ``eps``."""
    from robqunn.paths import eps_label

    return {
        "exact": f"exact_robust_accuracy_eps_{eps_label(eps)}",
        "attacks": f"attacks_worst_case_eps_{eps_label(eps)}",
    }


def ui_view_state(eps: float, now_ms: int) -> str:
    """The saved view's tag value: MLflow's envelope (name, times, the UI's state as JSON) with the clean
    accuracy, the headline metrics at ``eps`` and the soundness verdict as the selected columns, the run names
    wide enough to read in full, the runs sorted by exact robust accuracy at ``eps``, highest first: the training
    runs that carry it lead, most robust model first, and the runs without it follow (MLflow sorts a missing
    metric last either way). The UI applies widths only to the columns of ``columnOrder``, and ignores a saved
    view when the address sorts: hence both here."""
    headline = headline_metric_names(eps)
    columns = ["metrics.`test_accuracy`"] + [f"metrics.`{m}`" for m in headline.values()]
    columns += ["tags.`robqunn.soundness`"]
    order = [UI_NAME_COLUMN, *columns]
    state = {
        "selectedColumns": columns,
        "columnOrder": order,
        "columnWidths": {column: UI_WIDTHS.get(column, UI_WIDTHS["other"]) for column in order},
        "orderByKey": f"metrics.`{headline['exact']}`",
        "orderByAsc": False,
        "runsExpanded": {},
        "runsPinned": [],
        "runsHidden": [],
        "runsVisibilityMap": {},
        "runsHiddenMode": "SHOW_ALL",
        "viewMaximized": False,
        "runListHidden": False,
        "isAccordionReordered": False,
        "useGroupedValuesInCharts": True,
        "hideEmptyCharts": True,
        "groupBy": None,
        "groupsExpanded": {},
        "autoRefreshEnabled": True,
        "globalLineChartConfig": {"xAxisKey": "step", "lineSmoothness": 0, "selectedXAxisMetricKey": ""},
    }
    envelope = {"name": UI_VIEW, "createdAt": now_ms, "updatedAt": now_ms, "state": json.dumps(state)}
    return json.dumps(envelope)


T = TypeVar("T")


class TrackingError(RobqunnError):
    """The tracking store cannot take the study's runs."""


_prepared_uris: set[str] = set()
_busy_timeout_installed = False


@dataclass(frozen=True)
class RunSource:
    """What started the runs of this process, shown in the MLflow UI's Source column.

    ``origin`` separates the pipeline's runs (snakemake, dvc) from a manual call (cli, or python: a
    library call): it is part of a run's job key and a command-line run's name ends in `` · cli``, so a
    manual ``robqunn attack`` never replaces or looks like the study's run of the same model."""

    origin: str
    name: str
    kind: str  # MLflow's source type: JOB (a pipeline's job) or LOCAL

    @property
    def job_origin(self) -> str:
        """The origin as part of a run's job key: ``pipeline`` for Snakemake and DVC alike, so that a job run
        by one and then by the other is one run (the runner stays a tag); a manual call keeps its own."""
        return "pipeline" if self.origin in PIPELINE_ORIGINS else self.origin


_run_source: RunSource | None = None
PIPELINE_ORIGINS = ("snakemake", "dvc")


def set_run_source(origin: str, name: str) -> None:
    """Say what starts this process's runs: ``snakemake`` (name: the rule), ``cli`` (the command)."""
    global _run_source
    _run_source = RunSource(origin, name, "JOB" if origin in PIPELINE_ORIGINS else "LOCAL")


def run_source() -> RunSource:
    """The :class:`RunSource` of this process: a DVC stage (DVC sets DVC_STAGE for its commands, which run
    the CLI), else what :func:`set_run_source` said, else a Python call of the library."""
    stage = os.environ.get("DVC_STAGE")
    if stage:
        return RunSource("dvc", f"dvc stage {stage}", "JOB")
    if _run_source is not None:
        return _run_source
    return RunSource("python", Path(sys.argv[0]).name or "python", "LOCAL")


def ui_url(base: str, experiment_id: str, view: bool = False) -> str:
    """The MLflow UI page listing every run of an experiment by name, in the UI's model-training view; with
    ``view``, in the saved view :data:`UI_VIEW` (:func:`ui_view_state`, set on the experiment first)."""
    query = f"workflowType=machine_learning&viewStateShareKey={UI_VIEW}" if view else UI_RUNS_QUERY
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?{query}"


def tracking_uri() -> str:
    """The tracking URI: ``MLFLOW_TRACKING_URI`` if set, else the project-local ``sqlite:///mlflow.db``."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


SERVER_TIMEOUT_S = 10


def check_tracking(settings: TrackingParams) -> str:
    """Before any work: with tracking on and a tracking server as the store (``MLFLOW_TRACKING_URI`` =
    http(s)://...), the server must answer its /health, or the study stops at once with an error naming
    it, instead of failing in every job later. Returns a line saying where runs go, or that they don't.

    Raises:
        TrackingError: the server does not answer within SERVER_TIMEOUT_S.
    """
    if not settings.enabled:
        return "MLflow tracking is off (tracking.enabled: false): no runs are logged"
    uri = tracking_uri()
    if uri.startswith(("http://", "https://")):
        import urllib.request

        try:
            with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=SERVER_TIMEOUT_S) as answer:
                healthy = answer.status == 200
        except OSError as exc:
            healthy, reason = False, str(exc)
        else:
            reason = "its /health did not answer OK"
        if not healthy:
            raise TrackingError(
                f"MLflow tracking server {uri} (MLFLOW_TRACKING_URI) does not answer: {reason}. Start it, point "
                "MLFLOW_TRACKING_URI at a running one, or set tracking.enabled: false in params.yaml to run "
                "without tracking"
            )
    return f"MLflow runs go to {uri}, experiment {settings.experiment!r}"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (relative paths stay relative), or None for other stores."""
    if not uri.startswith("sqlite:///"):
        return None
    path = unquote(uri[len("sqlite:///") :]).split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def git_commit(cwd: str | Path | None = None) -> str:
    """The commit hash checked out in ``cwd`` (default: the current directory), or "unknown"."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and commit else "unknown"


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested dicts to dotted keys, values to strings (enums by value, long values truncated)."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
            continue
        text = str(value.value if isinstance(value, Enum) else value)
        if len(text) > MAX_PARAM_LENGTH:
            logger.warning("param %s is %d characters long; truncated to %d", name, len(text), MAX_PARAM_LENGTH)
            text = text[:MAX_PARAM_LENGTH]
        flat[name] = text
    return flat


def _is_locked(exc: BaseException) -> bool:
    seen = 0
    while exc is not None and seen < 10:
        message = str(exc).lower()
        if "database is locked" in message or "database table is locked" in message:
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _retry(fn: Callable[[], T], what: str) -> T:
    """Call ``fn``; while SQLite answers "database is locked", wait (exponential backoff, jitter) and retry."""
    for attempt in range(RETRIES):
        try:
            return fn()
        except Exception as exc:
            if not _is_locked(exc) or attempt == RETRIES - 1:
                raise
            delay = min(0.05 * 2**attempt, 5.0) * (1 + random.random())
            logger.warning("%s: database is locked; retrying in %.2f s", what, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


def _install_busy_timeout() -> None:
    """Every SQLite connection made by SQLAlchemy in this process waits up to 60 s for a lock."""
    global _busy_timeout_installed
    if _busy_timeout_installed:
        return
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def _on_connect(dbapi_connection, _record):
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")

    event.listen(Engine, "connect", _on_connect)
    _busy_timeout_installed = True


@contextlib.contextmanager
def _file_lock(db: Path) -> Iterator[None]:
    """An exclusive lock across processes of this machine on the SQLite store ``db``, held in a file beside it
    (``mlflow.db.lock``: it lives and goes with the store it guards); a no-op where fcntl is missing."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    with open(db.with_name(db.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare_store(uri: str | None = None) -> str:
    """Point MLflow at ``uri`` (default :func:`tracking_uri`); a SQLite store is created/migrated under a lock."""
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = uri or tracking_uri()
    mlflow.set_tracking_uri(uri)
    db = sqlite_path(uri)
    if db is None:
        return uri
    _install_busy_timeout()
    key = str(db.resolve())
    if key not in _prepared_uris:
        db.resolve().parent.mkdir(parents=True, exist_ok=True)
        with _file_lock(db.resolve()):
            _retry(lambda: MlflowClient(uri).search_experiments(max_results=1), "initialise the store")
        _prepared_uris.add(key)
    return uri


def _artifact_location(uri: str, experiment: str) -> str | None:
    db = sqlite_path(uri)
    if db is None:
        return None  # the server or database decides
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in experiment)
    root = db.resolve().parent / "mlruns"
    if safe in {".", ".."}:  # params validation refuses these names first; a direct call is refused here
        raise TrackingError(f"experiment name {experiment!r} would put its artifacts outside {root}: name another")
    return (root / safe).as_uri()


def experiment_id(experiment: str, uri: str | None = None) -> str:
    """The id of ``experiment``, created if missing (safe when several processes create it at once)."""
    from mlflow.tracking import MlflowClient

    uri = prepare_store(uri)
    client = MlflowClient(uri)

    def get_or_create() -> str:
        found = client.get_experiment_by_name(experiment)
        if found is not None:
            return found.experiment_id
        try:
            return client.create_experiment(
                experiment,
                artifact_location=_artifact_location(uri, experiment),
                tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND},
            )
        except Exception:
            found = client.get_experiment_by_name(experiment)  # another process created it first
            if found is None:
                raise
            return found.experiment_id

    return _retry(get_or_create, f"experiment {experiment!r}")


def _quote(value: str) -> str | None:
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    return None


def study_id() -> str:
    """The study a run belongs to: the folder the pipeline runs in (Snakemake's and DVC's working directory)."""
    return str(Path.cwd().resolve())


def find_parent(exp_id: str, parent_tags: Mapping[str, Any], uri: str | None = None) -> str | None:
    """The id of the most recent FINISHED run of this study (:func:`study_id`) in the experiment whose tags
    match all ``parent_tags``, or None."""
    from mlflow.tracking import MlflowClient

    wanted = {STUDY_TAG: study_id()} | {str(k): str(v) for k, v in parent_tags.items()}
    clauses = ["attributes.status = 'FINISHED'"]
    for key, value in wanted.items():
        quoted = _quote(value)
        if quoted is not None and "`" not in key:
            clauses.append(f"tags.`{key}` = {quoted}")
    client = MlflowClient(uri or tracking_uri())
    runs = _retry(
        lambda: client.search_runs(
            [exp_id], filter_string=" and ".join(clauses), order_by=["attributes.start_time DESC"], max_results=50
        ),
        "search the parent run",
    )
    for run in runs:
        if all(run.data.tags.get(k) == v for k, v in wanted.items()):
            return run.info.run_id
    return None


@contextlib.contextmanager
def tracked_run(
    run_name: str,
    *,
    experiment: str,
    params: Mapping[str, Any],
    tags: Mapping[str, Any],
    parent_tags: Mapping[str, Any] | None = None,
):
    """One MLflow run in ``experiment``: params (flattened) and tags logged, the active run yielded.

    The run always ends: FINISHED, or FAILED with an ``error`` tag when the block raises (the
    exception propagates). With ``parent_tags`` the run is a child of the latest FINISHED run whose
    tags match them all; without such a run it is top-level, tagged ``robqunn.parent_missing``.

    The run is tagged with what started it (:func:`run_source`: the UI's Source column and
    ``robqunn.origin``); a command-line run's name ends in `` · cli``.

    One run per job: the study's folder, the origin (``pipeline`` for Snakemake and DVC alike:
    :attr:`RunSource.job_origin`) and the run name are the job's key (tag ``robqunn.job``), so a job run by
    Snakemake and then by DVC is one run, and a manual command never replaces the pipeline's run. A run
    of the same job left RUNNING (its process was killed) is ended KILLED before this one starts, and once
    this one has FINISHED the job's earlier runs are deleted (MLflow's soft delete: `mlflow gc` purges
    them), so a rerun replaces its run as it replaces its files.
    """
    import mlflow

    uri = prepare_store()
    exp_id = experiment_id(experiment, uri)
    source = run_source()
    if source.origin == "cli":
        run_name = f"{run_name} · cli"
    job = f"{study_id()}::{source.job_origin}::{run_name}"  # studies may share a store, and run names
    earlier = _end_stale_runs(exp_id, job, uri)
    commit = git_commit()
    all_tags = {GIT_COMMIT_TAG: commit, MLFLOW_COMMIT_TAG: commit, JOB_TAG: job, STUDY_TAG: study_id()}
    all_tags |= {ORIGIN_TAG: source.origin, SOURCE_NAME_TAG: source.name, SOURCE_TYPE_TAG: source.kind}
    all_tags |= {str(k): str(v) for k, v in tags.items()}
    if parent_tags is not None:
        all_tags |= _parent_link(exp_id, parent_tags, uri, run_name, experiment)
    nested = mlflow.active_run() is not None and parent_tags is None
    with _without_mlflow_git_lookup():
        run = _retry(
            lambda: mlflow.start_run(experiment_id=exp_id, run_name=run_name, nested=nested, tags=all_tags),
            "start the run",
        )
    try:
        flat = flatten(params)
        if flat:
            _retry(lambda: mlflow.log_params(flat), "log params")
        yield run
    except BaseException as exc:
        _record_failure(exc, run_name)
        raise
    else:
        _end("FINISHED")
        _delete_runs(earlier, uri)


@contextlib.contextmanager
def _without_mlflow_git_lookup() -> Iterator[None]:
    """MLflow's own git lookup at a run's start imports GitPython (0.3 s a job) and, hidden from it, warns
    three times that Git is unavailable. robqunn tags the commit itself (:func:`git_commit`), so both
    are skipped."""
    git_logger = logging.getLogger("mlflow.utils.git_utils")
    level = git_logger.level
    git_logger.setLevel(logging.ERROR)
    try:
        with hidden_modules(("git",)):
            yield
    finally:
        git_logger.setLevel(level)


def _end_stale_runs(exp_id: str, job: str, uri: str) -> list[str]:
    """The ids of the earlier runs of ``job``; those still RUNNING (a killed process) are ended KILLED."""
    from mlflow.tracking import MlflowClient

    quoted = _quote(job)
    if quoted is None:
        return []
    client = MlflowClient(uri)
    runs = _retry(
        lambda: client.search_runs([exp_id], filter_string=f"tags.`{JOB_TAG}` = {quoted}", max_results=1000),
        "search the job's earlier runs",
    )
    for run in runs:
        if run.info.status == "RUNNING":
            logger.warning("run %s of job %r was left RUNNING (killed?): ending it KILLED", run.info.run_id, job)
            _retry(lambda run_id=run.info.run_id: client.set_terminated(run_id, "KILLED"), "end a stale run")
    return [run.info.run_id for run in runs]


def _delete_runs(run_ids: list[str], uri: str) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    for run_id in run_ids:
        _retry(lambda run_id=run_id: client.delete_run(run_id), f"delete the superseded run {run_id}")


def _parent_link(exp_id: str, parent_tags: Mapping[str, Any], uri: str, run_name: str, experiment: str) -> dict:
    """The tag that makes a run the child of its parent, or the tag saying that no parent was found."""
    parent = find_parent(exp_id, parent_tags, uri)
    if parent is None:
        logger.warning("no finished run in %r with tags %s: %s is top-level", experiment, parent_tags, run_name)
        return {PARENT_MISSING_TAG: "true"}
    return {"mlflow.parentRunId": parent}


def _record_failure(exc: BaseException, run_name: str) -> None:
    """End the active run FAILED (an exception) or KILLED (an interrupt), with the error as a tag."""
    import mlflow

    status = "FAILED" if isinstance(exc, Exception) else "KILLED"
    try:
        message = f"{type(exc).__name__}: {exc}"[:MAX_TAG_LENGTH]
        _retry(lambda: mlflow.set_tag("error", message), "tag the error")
    except Exception:
        logger.exception("could not record the error of run %s", run_name)
    with contextlib.suppress(Exception):
        _end(status)  # logged there; the block's own exception matters more


def _end(status: str) -> None:
    import mlflow

    try:
        _retry(lambda: mlflow.end_run(status=status), "end the run")
    except Exception:
        logger.exception("could not end the run with status %s", status)
        raise


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log ``metrics`` to the active run (retried while the store is locked)."""
    import mlflow

    values = {str(k): float(v) for k, v in metrics.items()}
    _retry(lambda: mlflow.log_metrics(values, step=step), "log metrics")


def log_history(name: str, values: list[float]) -> None:
    """Log a per-epoch metric to the active run: one value per step, step = epoch index."""
    import mlflow
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    run = mlflow.active_run()
    if run is None:
        raise RuntimeError(f"log_history({name!r}) needs an active run: call it inside tracked_run")
    now = int(time.time() * 1000)
    metrics = [Metric(name, float(v), now, step) for step, v in enumerate(values)]
    client = MlflowClient(mlflow.get_tracking_uri())
    _retry(lambda: client.log_batch(run.info.run_id, metrics=metrics), f"log history {name}")


class StageRun:
    """What a pipeline stage logs to its MLflow run; with tracking off, every call does nothing."""

    def __init__(self, active: bool):
        self.active = active

    def metrics(self, values: Mapping[str, float], step: int | None = None) -> None:
        if self.active:
            log_metrics(values, step)

    def history(self, name: str, values: list[float]) -> None:
        if self.active:
            log_history(name, values)

    def tags(self, values: Mapping[str, Any]) -> None:
        if self.active:
            import mlflow

            text = {str(k): str(v) for k, v in values.items()}
            _retry(lambda: mlflow.set_tags(text), "set tags")

    def table(self, rows: list[dict], name: str) -> None:
        """``rows`` as the run's table artifact ``name`` (a .json file: the UI shows it as a table)."""
        if self.active:
            import mlflow
            import pandas as pd

            with warnings.catch_warnings():  # MLflow 3.17's own pandas-3 deprecation, not ours: kept off the console
                warnings.filterwarnings("ignore", message="For backward compatibility, 'str' dtypes")
                _retry(lambda: mlflow.log_table(pd.DataFrame(rows), artifact_file=name), f"log table {name}")

    def artifact(self, path: str | Path) -> None:
        if self.active:
            import mlflow

            _retry(lambda: mlflow.log_artifact(str(path)), f"log artifact {path}")

    def figure(self, figure, name: str) -> None:
        """A matplotlib ``figure`` as the run's artifact ``name``; closed either way."""
        import matplotlib.pyplot as plt

        try:
            if self.active:
                import mlflow

                _retry(lambda: mlflow.log_figure(figure, name), f"log figure {name}")
        finally:
            plt.close(figure)


@contextlib.contextmanager
def stage_run(
    settings: TrackingParams | None,
    run_name: str,
    params: Mapping[str, Any],
    tags: Mapping[str, Any],
    parent_tags: Mapping[str, Any] | None = None,
) -> Iterator[StageRun]:
    """A :func:`tracked_run` in ``settings.experiment`` when tracking is enabled, else a
    :class:`StageRun` that logs nothing (``settings`` None: a stage called without tracking).

    MLflow is only imported when the run is tracked, so a job with tracking off pays nothing for it.
    """
    if settings is None or not settings.enabled:
        yield StageRun(active=False)
        return
    with tracked_run(run_name, experiment=settings.experiment, params=params, tags=tags, parent_tags=parent_tags):
        yield StageRun(active=True)


def tag_runs(experiment: str, match: Mapping[str, Any], tags: Mapping[str, Any], seeds: list[int]) -> int:
    """Set ``tags`` on the latest FINISHED run of each of ``seeds`` whose tags match ``match``.

    Used to mark a model's training runs with a verdict decided after them (the soundness checks).
    Returns the number of runs tagged.
    """
    from mlflow.entities import RunTag
    from mlflow.tracking import MlflowClient

    uri = prepare_store()
    client = MlflowClient(uri)
    exp_id = experiment_id(experiment, uri)
    batch = [RunTag(str(k), str(v)[:MAX_TAG_LENGTH]) for k, v in tags.items()]
    tagged = 0
    for seed in seeds:
        run_id = find_parent(exp_id, {**match, "robqunn.seed": seed}, uri)
        if run_id is None:
            logger.warning("no finished run in %r with tags %s and seed %s to tag", experiment, dict(match), seed)
            continue
        _retry(lambda run=run_id: client.log_batch(run, tags=batch), f"tag run {run_id}")
        tagged += 1
    return tagged


def log_to_run(experiment: str, match: Mapping[str, Any], metrics: Mapping[str, float]) -> bool:
    """Log ``metrics`` to the latest FINISHED run whose tags match ``match``: numbers of a run that a later
    stage decides (an attack's gap to the exact robust accuracy). Returns whether such a run was found."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    batch = [Metric(str(k), float(v), now, 0) for k, v in metrics.items()]
    return _log_to_latest(
        experiment, match, sorted(metrics), lambda client, run_id: client.log_batch(run_id, metrics=batch)
    )


def log_figure_to_run(experiment: str, match: Mapping[str, Any], figure, name: str) -> bool:
    """Log a matplotlib ``figure`` as the artifact ``name`` of the latest FINISHED run whose tags match
    ``match`` (a figure drawn once the study is evaluated). Returns whether such a run was found."""
    return _log_to_latest(experiment, match, name, lambda client, run_id: client.log_figure(run_id, figure, name))


def _log_to_latest(experiment: str, match: Mapping[str, Any], what: object, log: Callable) -> bool:
    """``log(client, run_id)`` on the latest FINISHED run of this study whose tags match ``match``, retried;
    a warning naming ``what`` and False when there is none."""
    from mlflow.tracking import MlflowClient

    uri = prepare_store()
    run_id = find_parent(experiment_id(experiment, uri), match, uri)
    if run_id is None:
        logger.warning("no finished run in %r with tags %s to log %s to", experiment, dict(match), what)
        return False
    _retry(lambda: log(MlflowClient(uri), run_id), f"log {what} to run {run_id}")
    return True
