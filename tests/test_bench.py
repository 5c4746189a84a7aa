"""Tests of the benchmarks' package (robqunn.bench) and of what it needs from the rest of robqunn: no import
cycle with the CLI, light imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

PACKAGE = REPO / "src" / "robqunn"


def module_name(path: Path) -> str:
    """robqunn's module at ``path`` (a package by its __init__.py)."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, modules: set[str]) -> set[str]:
    """The modules of ``modules`` that the file ``path`` imports anywhere (module level or in a function),
    with the packages above them, which Python imports first."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    with_parents = {".".join(name.split(".")[:i]) for name in found for i in range(1, name.count(".") + 2)}
    return with_parents & modules


def import_graph() -> dict[str, set[str]]:
    """Each robqunn module -> the robqunn modules it imports."""
    paths = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: imported(path, set(paths)) - {name} for name, path in paths.items()}


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """The modules that importing ``start`` can import, directly or through others."""
    seen, stack = set(), [start]
    while stack:
        for name in graph[stack.pop()] - seen:
            seen.add(name)
            stack.append(name)
    return seen


class TestImports:
    """The benchmarks and the CLI import each other one way only, and the exact verification, the feature
    maps and the sweep import neither TensorFlow nor PennyLane until they run."""

    def test_bench_is_a_package_imported_by_the_cli(self):
        """One module per `robqunn bench` target; the CLI imports them (in a function: the graph holds such
        imports), so none may import the CLI back, directly or through another module."""
        graph = import_graph()
        benchmarks = {f"robqunn.bench.{target}" for target in ("quanv", "attack", "exact", "loops", "startup")}
        benchmarks |= {"robqunn.bench.workflow"}
        assert benchmarks <= graph["robqunn.cli"]
        for name in sorted(benchmarks | {"robqunn.bench"}):
            assert "robqunn.cli" not in reachable(graph, name), f"{name} imports robqunn.cli: an import cycle"

    def test_light_modules_import_neither_tensorflow_nor_pennylane(self):
        """robqunn.exact, robqunn.features and robqunn.sweep import TensorFlow and PennyLane inside the functions
        that use them, so a process that only reads their constants and types does not pay for either."""
        code = "import sys, robqunn.exact, robqunn.features, robqunn.sweep\n"
        code += "print(sorted({'tensorflow', 'keras', 'pennylane'} & set(sys.modules)))"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == "[]"


class TestOneProcessBaseline:
    """The workflow benchmark's baseline runs every stage through the CLI's main, in one child process."""

    def test_every_stage_in_dvc_yaml_order(self):
        """Each stage's command lines, in dvc.yaml's order, with the params file; a failing one stops it."""
        from robqunn import dvcfile
        from robqunn.bench.workflow import one_process_study
        from robqunn.config import load_params

        params = REPO / "params.yaml"
        seeds = load_params(params).study.seeds
        calls = []
        one_process_study(params, lambda argv: calls.append(argv) or 0)
        expected = [[*arguments, "--params", str(params)] for s in dvcfile.STAGES for arguments in s.arguments(seeds)]
        assert calls == expected and calls[0][0] == "prepare"
        with pytest.raises(RuntimeError, match="robqunn prepare"):
            one_process_study(params, lambda argv: 2)

    def test_the_child_runs_it_with_the_cli_main(self, monkeypatch, tmp_path):
        """The child's code, run here with a stand-in for the study: one_process_study on the params file with
        robqunn.cli.main."""
        from robqunn import cli
        from robqunn.bench import workflow

        calls = []
        monkeypatch.setattr(workflow, "one_process_study", lambda *args: calls.append(args))
        command = workflow.baseline_command(tmp_path / "params.yaml")
        assert command[:2] == [sys.executable, "-c"]
        exec(command[2], {})
        assert calls == [(str(tmp_path / "params.yaml"), cli.main)]
