"""The report's readable tables and the offline DVC plots template (robqunn.report)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from robqunn import paths, report, stats


def test_a_table_page_has_its_caption_and_coloured_verdicts():
    frame = pd.DataFrame({"check": ["a", "b"], "verdict": ["FLAG", "PASS"], "value": [0.123456, float("nan")]})
    page = report.html_table(frame, "checklist", "checklist: what a <FLAG> means")
    assert "<caption>checklist: what a &lt;FLAG&gt; means</caption>" in page  # escaped, inside the table
    assert page.index("<table") < page.index("<caption>") < page.index("<thead>")
    assert '<td style="background:#fdd">FLAG</td>' in page and '<td style="background:#dfd">PASS</td>' in page
    assert "<td>0.1235</td>" in page  # four significant digits
    assert "nan" not in page.lower().replace("dataframe", "")


def test_every_report_table_has_a_caption_and_is_written(tmp_path):
    assert set(report.CAPTIONS) == set(paths.STUDY_REPORT_TABLES)
    frames = {name: pd.DataFrame({"x": [1]}) for name in paths.STUDY_REPORT_TABLES} | {"results": pd.DataFrame()}
    frames["headline"] = stats.headline(intervals(), 0.05)
    written = report.write_html_tables(frames, tmp_path, paths.STUDY_HTML_NAME)
    assert [p.name for p in written] == [f"{name}.html" for name in paths.STUDY_REPORT_TABLES]


def test_the_offline_plots_template_holds_vega_and_no_network_link():
    """Vega, Vega-Lite and Vega-Embed inline, DVC's placeholder for the plots, and neither a script from the
    network nor DVC's {scripts} placeholder (which would bring the CDN links back)."""
    template = report.offline_plots_template()
    assert template.count("{plot_divs}") == 1 and "{scripts}" not in template
    assert template.count("<script>") == 3 and "<script src" not in template
    assert "vegaEmbed" in template and len(template) > 1_000_000


def intervals() -> pd.DataFrame:
    """The study's intervals (robqunn.stats.summarize's columns) of a CNN: exact at eps 0 and 0.05, the
    attacks' worst case at 0.05, and a transfer row that the headline leaves out."""
    rows = [
        ("cnn", "cnn", "white-box", "exact", 0.0, 0.93, 0.912, 0.944),
        ("cnn", "cnn", "white-box", "exact", 0.05, 0.139, 0.119, 0.1618),
        ("cnn", "cnn", "white-box", "worst_case", 0.05, 0.186, 0.163, 0.2113),
        ("qunn-x", "cnn", "transfer", "worst_case", 0.05, 0.5, 0.4, 0.6),
    ]
    columns = ["source", "target", "kind", "attack", "eps", "accuracy", "ci_low", "ci_high"]
    return pd.DataFrame(rows, columns=columns).assign(n_seeds=5)


def test_the_headline_reads_the_answer_from_the_intervals():
    """Per model: clean (exact at eps 0), exact and the attacks' worst case at the eps asked, with intervals, the
    overstatement as an absolute difference, rounded to 3 decimals; as cells "mean [low, high]"."""
    headline = stats.headline(intervals(), 0.05)
    assert headline.to_dict("records") == [
        {"model": "cnn", "eps": 0.05, "n_seeds": 5, "clean": 0.93, "clean_low": 0.912, "clean_high": 0.944}
        | {"exact": 0.139, "exact_low": 0.119, "exact_high": 0.162, "attacks": 0.186, "attacks_low": 0.163}
        | {"attacks_high": 0.211, "overstatement": 0.047}
    ]
    cells = report.headline_cells(headline)
    assert (
        cells.loc[0, "exact robust, eps 0.05"] == "0.139 [0.119, 0.162]" and cells.loc[0, "overstatement"] == "+0.047"
    )


def test_a_sampling_model_has_no_exact_headline_figure():
    """A finite-shot model's "exact" rows replay worst cases through its shots (an attack): the headline gives it
    no exact robust accuracy nor overstatement, and says so in the cell."""
    shots = intervals().assign(source="qunn-full-ent_rot-shots64", target="qunn-full-ent_rot-shots64")
    headline = stats.headline(shots, 0.05).iloc[0]
    assert np.isnan(headline["exact"]) and np.isnan(headline["overstatement"]) and headline["attacks"] == 0.186
    cells = report.headline_cells(stats.headline(shots, 0.05))
    assert cells.loc[0, "exact robust, eps 0.05"] == report.NO_EXACT and cells.loc[0, "clean"].startswith("0.930 [")


def test_the_headline_names_a_missing_point():
    with pytest.raises(ValueError, match="must hold exact at eps 0.1 for cnn; found 0"):
        stats.headline(intervals(), 0.1)
