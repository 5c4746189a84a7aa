"""The docs stay true: README.md short, its commands the ones CI runs, every relative link alive, no result
numbers in the README (they live in docs/results.md and docs/noise.md). Reads files only: no network, no runs."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
MARKDOWN = [README, *DOCS]

MAX_README_LINES = 120
INSTALL_AND_RUN = 'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[dev]" && snakemake --cores 2'
TEST_COMMAND = "python -m pytest"

FENCE = re.compile(r"^(```|~~~)")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto:, ...


def _prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def _code_blocks(text: str) -> list[list[str]]:
    """The fenced code blocks' lines, in order."""
    blocks, current = [], None
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            if current is None:
                current = []
            else:
                blocks.append(current)
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def _without_inline_code(line: str) -> str:
    return re.sub(r"`[^`]*`", "", line)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the text as rendered, lowercase, punctuation but '-' and '_' removed,
    spaces to '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a markdown file, duplicates numbered as GitHub numbers them (-1, -2, ...)."""
    seen: dict[str, int] = {}
    result = set()
    for line in _prose_lines(path.read_text(encoding="utf-8")):
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def relative_links(path: Path) -> list[str]:
    """The targets of the file's markdown links and images that are not URLs, outside code."""
    targets = []
    for line in _prose_lines(path.read_text(encoding="utf-8")):
        for match in LINK.finditer(_without_inline_code(line)):
            target = match.group(1)
            if not EXTERNAL.match(target):
                targets.append(target)
    return targets


def test_slug_follows_github():
    assert slug("Job granularity: `workflow.jobs`") == "job-granularity-workflowjobs"
    assert slug("The FGSM/MIM comparison with the CNN is an artefact") == (
        "the-fgsmmim-comparison-with-the-cnn-is-an-artefact"
    )
    assert slug("The study's files") == "the-studys-files"
    assert slug("Where robustness comes from (the sweep)") == "where-robustness-comes-from-the-sweep"
    assert slug("60,000 digits") == "60000-digits"


def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; at most {MAX_README_LINES}"


def test_readme_gives_the_install_and_run_command():
    blocks = _code_blocks(README.read_text(encoding="utf-8"))
    assert any(INSTALL_AND_RUN in (line.strip() for line in block) for block in blocks), (
        f"README.md must give, as a line of a code block, {INSTALL_AND_RUN!r}"
    )


def _last_command(script: Path) -> str:
    commands = [
        line.strip()
        for line in script.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    return commands[-1]


def test_readme_test_command_is_what_ci_runs():
    ci_command = _last_command(ROOT / ".ci" / "run")
    assert shlex.split(ci_command) == shlex.split(TEST_COMMAND), f".ci/run ends with {ci_command!r}"
    blocks = _code_blocks(README.read_text(encoding="utf-8"))
    test_blocks = [block for block in blocks if any(line.strip() == ci_command for line in block)]
    assert test_blocks, f"README.md must give .ci/run's test command {ci_command!r} as a line of a code block"
    # The command is the block's last line: what a user runs after activating the environment.
    assert test_blocks[0][-1].strip() == ci_command


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path):
    broken = []
    for target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        linked = path if not file_part else (path.parent / file_part).resolve()
        if not linked.exists():
            broken.append(f"{target} (no file {linked.relative_to(ROOT) if linked.is_relative_to(ROOT) else linked})")
            continue
        if anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target} (no heading with anchor #{anchor} in {linked.relative_to(ROOT)})")
    assert not broken, f"{path.relative_to(ROOT)}: broken links: {broken}"


def test_links_are_found():
    """The link finder sees the README's links (else the test above would pass on nothing)."""
    targets = relative_links(README)
    for doc in ("usage", "design", "results", "noise", "cluster", "performance"):
        assert f"docs/{doc}.md" in [t.partition("#")[0] for t in targets], f"README.md must link docs/{doc}.md"


RESULT_NUMBERS = (
    re.compile(r"\b0\.\d+\b"),  # an accuracy, a difference, an interval bound: 0.139, 0.05
    re.compile(r"\d+(\.\d+)?\s?%"),  # a percentage: 23%, 1.7 %
)


def test_readme_holds_no_result_numbers():
    """Result numbers live in docs/results.md and docs/noise.md, once; the README links to them."""
    found = [
        f"line {number}: {match.group(0)!r}"
        for number, line in enumerate(README.read_text(encoding="utf-8").splitlines(), 1)
        for pattern in RESULT_NUMBERS
        for match in pattern.finditer(line)
    ]
    assert not found, f"README.md holds result numbers (put them in docs/results.md or docs/noise.md): {found}"


def test_every_profile_is_documented():
    """Each folder of workflow/profiles has its row in docs/cluster.md's table of profiles and its name in
    docs/usage.md's layout line, so that a new profile cannot go undocumented."""
    profiles = sorted(p.name for p in (ROOT / "workflow" / "profiles").iterdir() if (p / "config.yaml").exists())
    cluster, usage = (ROOT / "docs" / "cluster.md").read_text(), (ROOT / "docs" / "usage.md").read_text()
    layout = next(line for line in usage.splitlines() if line.startswith("workflow/profiles/"))
    assert [p for p in profiles if f"| `workflow/profiles/{p}` |" not in cluster] == []
    assert [p for p in profiles if not re.search(rf"\b{p}\b", layout)] == []
