"""The MLflow UI on a study's runs, and a headless browser that shows what it shows.

`robqunn ui` starts ``mlflow ui`` on the study's store and prints the page of its runs. MLflow 3.17 opens
an experiment in its GenAI view (an empty "Traces" overview) unless the page address asks for the
model-training view, so the address carries ``workflowType=machine_learning``
(:func:`robqunn.tracking.ui_url`). :func:`render` loads a page in headless Chromium (Debian's
``chromium``) and returns the page as the browser built it, or a screenshot: the tests check the runs
table with it, and `robqunn ui --screenshot` makes the pictures in docs/.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from robqunn.errors import RobqunnError

HOST = "127.0.0.1"
START_TIMEOUT_S = 120
STOP_TIMEOUT_S = 5  # mlflow ui takes 4-8 s here with one worker, 26 s with its default four
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome")
#: What the page's scripts may run before the page is read: the runs table is drawn by JavaScript after
#: its data arrive (without a budget Chromium returns the empty 2 KB shell of the page).
VIRTUAL_TIME_BUDGET_MS = 10_000


class UiError(RobqunnError):
    """The UI server or the browser could not do what was asked."""


@dataclass
class UiServer:
    """A running ``mlflow ui``: its process (the leader of a process group of its own), its address and its
    log file (removed when the server stops, unless the caller named it)."""

    process: subprocess.Popen
    base: str
    log: Path
    keep_log: bool = True

    def stop(self) -> None:
        """Stop the server's whole process group (uvicorn and MLflow's job consumers, which outlive a SIGTERM to
        the leader alone by 20-30 s), SIGKILL after STOP_TIMEOUT_S, and remove a temporary log. (The store needs
        no goodbye: SQLite and PostgreSQL commit each write whole.)"""
        if self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                _signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait()
        _signal_group(self.process.pid, signal.SIGKILL)  # what the leader left behind in its group
        if not self.keep_log:
            self.log.unlink(missing_ok=True)


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:  # the group is gone
        pass


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def check_port_free(port: int) -> None:
    """Refuse a port that another process holds: its answers to /health would pass for the UI's own."""
    with socket.socket() as probe:
        try:
            probe.bind((HOST, port))
        except OSError as error:
            raise UiError(
                f"port {port} on {HOST} is held by another process ({error.strerror}): name another with --port, "
                "or leave --port out for a free one"
            ) from error


def start_ui(
    store_uri: str, port: int | None = None, log: str | Path | None = None, artifacts: str | Path | None = None
) -> UiServer:
    """Start ``mlflow ui`` on ``store_uri`` at 127.0.0.1:``port`` (a free one by default; one another process
    holds is refused), one worker, in a process group of its own, and wait until it answers /health; its output
    goes to ``log`` (by default a temporary file, removed when the server stops). With ``artifacts`` (a
    folder), a team's tracking server: ``mlflow server`` storing the runs' artifacts there and serving them over
    HTTP (``--artifacts-destination``), so jobs need no access to that folder.

    Raises:
        UiError: the port is held, or the server exited or did not answer within START_TIMEOUT_S; the message
            holds its log's end.
    """
    if port is not None:
        check_port_free(port)
    port = port or free_port()
    keep_log = log is not None
    log = Path(log) if keep_log else Path(tempfile.mkstemp(prefix="mlflow-ui-", suffix=".log")[1])
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "ui" if artifacts is None else "server",
        "--backend-store-uri",
        store_uri,
    ]
    if artifacts is not None:
        command += ["--serve-artifacts", "--artifacts-destination", Path(artifacts).resolve().as_uri()]
    command += ["--host", HOST, "--port", str(port), "--workers", "1"]
    with open(log, "ab") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    server = UiServer(process, f"http://{HOST}:{port}", log, keep_log)
    try:
        _wait_until_healthy(server)
    except BaseException:  # a failure, or a signal while waiting: no server is left behind
        server.stop()
        raise
    return server


def _wait_until_healthy(server: UiServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise UiError(f"mlflow ui exited with code {server.process.returncode}:\n{_tail(server.log)}")
        if _healthy(server.base):
            return
        time.sleep(0.25)
    raise UiError(f"mlflow ui did not answer {server.base}/health within {START_TIMEOUT_S} s:\n{_tail(server.log)}")


def _healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/health", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def _tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:]


def browser() -> str | None:
    """The path of a Chromium-family browser on PATH, or None."""
    return next((found for name in BROWSER_NAMES if (found := shutil.which(name))), None)


def render(
    url: str, screenshot: str | Path | None = None, window: tuple[int, int] = (2000, 1100), offline: bool = False
) -> str:
    """The page at ``url`` as headless Chromium built it (its DOM as HTML) after its scripts ran for
    VIRTUAL_TIME_BUDGET_MS; with ``screenshot``, also a PNG of it there. A fresh browser profile each
    time, so no setting saved by an earlier visit changes what the page shows. ``offline``: every host
    name fails to resolve and every request goes to a dead proxy, as on a machine without a network.

    Raises:
        UiError: no Chromium on PATH (Debian: apt-get install chromium), or the browser failed.
    """
    binary = browser()
    if binary is None:
        raise UiError(f"no browser found (one of {', '.join(BROWSER_NAMES)}); on Debian: apt-get install chromium")
    with tempfile.TemporaryDirectory(prefix="robqunn-browser-") as profile:
        common = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        common += ["--no-first-run", f"--user-data-dir={profile}", f"--window-size={window[0]},{window[1]}"]
        common += [f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}"]
        if offline:
            common += ["--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9"]
        dom = _chromium([*common, "--dump-dom", url])
        if screenshot is not None:
            Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
            _chromium([*common, f"--screenshot={Path(screenshot).resolve()}", url])
    return dom


def _chromium(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    if result.returncode != 0:
        raise UiError(f"{Path(command[0]).name} failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout
