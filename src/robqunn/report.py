"""The study's tables as HTML pages that a reader can read in Snakemake's report.

Snakemake's report shows an .html result inline and offers a .csv only as a download, so the tables a
reader must see there (the claims and their verdicts, the checklist, the intervals, the ansatz metrics)
are also written as small standalone HTML pages with a caption, verdicts coloured. The CSV files stay
the data; these pages are made from them and add nothing.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from robqunn.io import atomic_path
from robqunn.paths import STUDY_REPORT_TABLES

#: The caption of each table of robqunn.paths.STUDY_REPORT_TABLES (the report shows them in that order).
CAPTIONS = {
    "headline": (
        "The answer per model, white-box: clean accuracy, exact robust accuracy (the ground truth) and the attacks' "
        "per-digit worst case at the claims' eps (claims.low_eps), each the mean over seeds [95% interval]; "
        "overstatement = attacks - exact."
    ),
    "claims": "The paper's claims, decided from this study's numbers with 95% intervals.",
    "checklist": "Attack-soundness checks per model: each FLAG names its likely cause and what to trust instead.",
    "summary_ci": "Accuracy per (kind, attack, source, target, eps): mean over seeds with its 95% interval.",
    "ansatz_metrics": "Expressibility and entangling capability of each circuit against its robustness.",
    "radii": "Median certified radius per (seed, model): the largest eps at which a digit is certified robust.",
}
SUMMARY_CAPTION = (
    "Per (model, attack), white-box: clean accuracy, area under the accuracy-eps curve (a mean accuracy) and "
    "each QuNN's accuracy minus the CNN's (trained the same way) at each eps, an absolute difference."
)
VERDICT_COLOURS = {
    "FLAG": "#fdd",
    "PASS": "#dfd",
    "supported": "#dfd",
    "not supported": "#fdd",
    "inconclusive": "#ffe9b3",
}
STYLE = """
body { font-family: sans-serif; font-size: 13px; margin: 8px; }
table { border-collapse: collapse; }
caption { caption-side: top; text-align: left; font-weight: bold; padding: 4px 0 8px 0; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; position: sticky; top: 0; }
"""


def html_table(frame: pd.DataFrame, title: str, caption: str) -> str:
    """``frame`` as a standalone HTML page: one table with ``caption``, numbers to 4 digits, cells holding a
    verdict (:data:`VERDICT_COLOURS`) coloured."""
    table = frame.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.4g}", border=0, escape=True)
    opening, rest = table.split(">", 1)  # <table class="dataframe">: the caption goes first inside it
    body = f"{opening}>\n  <caption>{html.escape(caption)}</caption>{rest}"
    for verdict, colour in VERDICT_COLOURS.items():
        body = body.replace(f"<td>{verdict}</td>", f'<td style="background:{colour}">{verdict}</td>')
    return (
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def write_html_tables(frames: dict[str, pd.DataFrame], out_dir: Path, name_format: str) -> list[Path]:
    """Each of robqunn.paths.STUDY_REPORT_TABLES as ``out_dir / name_format.format(name=...)``."""
    written = []
    for name in STUDY_REPORT_TABLES:
        caption = CAPTIONS[name]
        if name in frames:
            path = out_dir / name_format.format(name=name)
            frame = headline_cells(frames[name]) if name == "headline" else frames[name]
            with atomic_path(path) as tmp:
                tmp.write_text(html_table(frame, name, f"{name}: {caption}"))
            written.append(path)
    return written


def headline_cells(headline: pd.DataFrame) -> pd.DataFrame:
    """The headline table as a reader reads it: each accuracy as "mean [low, high]" to 3 decimals."""
    from robqunn.stats import HEADLINE_NUMBERS

    eps = f"{headline['eps'].iat[0]:g}" if len(headline) else ""
    titles = {"clean": "clean", "exact": f"exact robust, eps {eps}", "attacks": f"attacks' worst case, eps {eps}"}
    cells = headline[["model", "n_seeds"]].rename(columns={"n_seeds": "seeds"})
    for name in HEADLINE_NUMBERS:
        cells[titles[name]] = [
            f"{r[name]:.3f} [{r[f'{name}_low']:.3f}, {r[f'{name}_high']:.3f}]" if pd.notna(r[name]) else NO_EXACT
            for _, r in headline.iterrows()
        ]
    cells["overstatement"] = [f"{v:+.3f}" if pd.notna(v) else NO_EXACT for v in headline["overstatement"]]
    return cells


NO_EXACT = "– (samples: no exact figure)"


#: The JavaScript libraries `dvc plots show` loads from a CDN (cdn.jsdelivr.net), in the order its page needs
#: them; Snakemake's package ships them (hash-pinned) for its own reports, so they are here offline.
VEGA_BUNDLES = ("vega/vega.js", "vega-lite/vega-lite.js", "vega-embed/vega-embed.js")


def offline_plots_template() -> str:
    """An HTML template for ``dvc plots show --html-template`` that holds Vega, Vega-Lite and Vega-Embed
    inline instead of loading them from a CDN, so the plots render without a network. DVC fills in
    ``{plot_divs}``; the template has no ``{scripts}``, which would bring the CDN links back."""
    import snakemake.assets

    base = Path(snakemake.assets.__file__).parent / "data"
    scripts = []
    for bundle in VEGA_BUNDLES:
        code = (base / bundle).read_text(encoding="utf-8")
        if "</script" in code.lower() or "{plot_divs}" in code:
            raise ValueError(f"{base / bundle} cannot be inlined in an HTML template")
        scripts.append(f"<script>\n{code}\n</script>")
    head = "<!DOCTYPE html>\n<html>\n<head>\n<meta charset='utf-8'>\n<title>robqunn: DVC plots</title>\n"
    return head + "\n".join(scripts) + "\n</head>\n<body>\n{plot_divs}\n</body>\n</html>\n"


def show_plots(project: str | Path, out: str | Path) -> Path:
    """``dvc plots show`` in ``project`` with :func:`offline_plots_template`, the page written to ``out``.
    Returns the page (``out/index.html``).

    Raises:
        RuntimeError: dvc failed (its message included).
    """
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="robqunn-plots-") as tmp:
        template = Path(tmp) / "offline.html"
        template.write_text(offline_plots_template(), encoding="utf-8")
        command = [sys.executable, "-m", "dvc", "plots", "show", "--html-template", str(template), "-o", str(out)]
        result = subprocess.run(command, cwd=project, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"dvc plots show failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return Path(project) / out / "index.html"
